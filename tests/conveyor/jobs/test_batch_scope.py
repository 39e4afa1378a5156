"""``conveyor.jobs.batch_scope``: a jobs() block is open for its own context, not for the threads it starts."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from conveyor.jobs.batch_scope import closed, open_batch, opened, running_batch_id, running_in


class Open:
    def __init__(self, batch_id: str) -> None:
        self.id = batch_id

    def register(self, app: Any, job_ids: Sequence[str]) -> None:  # pragma: no cover - not called here
        raise AssertionError

    def forget(self, app: Any, job_ids: Sequence[str]) -> None:  # pragma: no cover - not called here
        raise AssertionError


def test_a_block_is_open_in_its_context_nested_blocks_restore_the_outer_one_and_threads_see_none() -> None:
    outer, inner = Open("outer"), Open("inner")
    assert open_batch() is None
    token = opened(outer)
    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(open_batch()))
    thread.start()
    thread.join()
    nested = opened(inner)
    assert open_batch() is inner
    closed(nested)
    assert open_batch() is outer
    closed(token)
    assert open_batch() is None
    assert seen == [None]


def test_the_running_job_s_batch_is_set_for_its_execution_and_reset_after() -> None:
    reset = running_in("b1")
    assert running_batch_id() == "b1"
    reset()
    assert running_batch_id() is None
