"""``conveyor.web.busy_views.worker_rows``: the Celery workers Flower knows, as the Busy page lists them.

The page and its Quiet / Stop actions run in a Flower process in ``tests/integration/test_flower.py``.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conveyor.errors import CompatibilityError
from conveyor.web.busy_views import worker_rows


def flower_knowing(workers: object) -> SimpleNamespace:
    return SimpleNamespace(events=SimpleNamespace(state=SimpleNamespace(workers=workers)))


def test_each_known_worker_is_a_row_sorted_by_node_name() -> None:
    # Given two workers Flower has events from, one of them without counts yet
    known = {
        "celery@web-2": SimpleNamespace(alive=True, active=2, processed=40),
        "celery@web-1": SimpleNamespace(alive=0),
    }
    # Then each is a row, by node name, with what is unknown left empty
    assert worker_rows(flower_knowing(known)) == [
        {"name": "celery@web-1", "alive": False, "active": None, "processed": None},
        {"name": "celery@web-2", "alive": True, "active": 2, "processed": 40},
    ]


def test_a_flower_whose_worker_state_moved_is_a_compatibility_error() -> None:
    with pytest.raises(CompatibilityError, match=r"Flower\.events\.state\.workers is gone"):
        worker_rows(flower_knowing(None))
