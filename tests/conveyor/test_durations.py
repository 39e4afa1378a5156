"""``conveyor.durations``: a duration in the two largest units, as the CLI and the Flower pages print it."""

from __future__ import annotations

import pytest

from conveyor.durations import duration


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0s"),
        (12.9, "12s"),
        (60, "1m00s"),
        (185, "3m05s"),
        (754.0, "12m34s"),
        (3600, "1h00m"),
        (7620, "2h07m"),
        (86_400, "1d00h"),
        (200_000, "2d07h"),
        (-3, "0s"),
    ],
)
def test_a_duration_reads_in_the_two_largest_units(seconds: float, words: str) -> None:
    assert duration(seconds) == words
