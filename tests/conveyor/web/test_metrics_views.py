"""``conveyor.web.metrics_views``: execution times as the Metrics page shows them.

The page itself runs in a Flower process in ``tests/integration/test_flower.py``.
"""

from __future__ import annotations

import pytest

from conveyor.web.metrics_views import _seconds


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, ""),
        (0.0004, "0 ms"),
        (0.25, "250 ms"),
        (0.9994, "999 ms"),
        (1.0, "1 s"),
        (2.5, "2.5 s"),
        (3600, "3600 s"),
    ],
)
def test_a_time_shows_in_milliseconds_under_a_second_and_seconds_above(value: float | None, shown: str) -> None:
    assert _seconds(value) == shown


def test_a_time_past_the_last_bucket_shows_as_over_an_hour() -> None:
    assert _seconds(float("inf")) == "> 1 h"
