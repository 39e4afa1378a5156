"""``conveyor.jobs.job``: what ``Job`` checks at class definition, which classes it registers, perform_now on a Job.

The checks of one mixin or module have their own test module (``test_core``, ``test_priority``,
``test_queue_name``, ``test_callbacks``, ``test_task``, ...); here are ``Job``'s own and the scenarios spanning several.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest

from conveyor import DeclarationError, Job, RecordNotFound
from tests.jobs import (
    RECORDER,
    DataImportJob,
    DataProcessingJob,
    DiscardingJob,
    Recorder,
    UnhandledJob,
)

# --- declarations fail at class definition --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"queue": "low"}, "declare queue_as = 'name'"),
        ({"max_retries": 3}, r"use @retry_on\(SomeError, attempts=N\)"),
        ({"log_arguments": "no"}, "must be True or False"),
    ],
)
def test_bad_class_declarations_fail_when_the_class_is_defined(body: dict[str, Any], message: str) -> None:
    def perform(self: Job) -> None: ...

    with pytest.raises(DeclarationError, match=message):
        type("BadJob", (Job,), {**body, "perform": perform})


def test_defining_init_is_refused_with_the_fix() -> None:
    with pytest.raises(DeclarationError, match="put the work in perform"):

        class InitJob(Job):
            def __init__(self, x: int) -> None: ...

            def perform(self) -> None: ...


# --- registration -----------------------------------------------------------------------------


def test_base_classes_without_perform_are_not_registered(celery_app: Any) -> None:
    assert "tests.jobs.ApplicationJob" not in celery_app.tasks


# --- set(...) keeps options apart -------------------------------------------------------------------


def test_set_on_the_class_keeps_options_apart_from_arguments() -> None:
    configured = DataImportJob.set(wait=dt.timedelta(minutes=1)).set(queue="imports")
    assert configured.options == {"wait": 60.0, "queue": "imports"}
    job = DataImportJob("wait.csv").set(priority=3)
    assert job.arguments == ("wait.csv",)
    assert job._options == {"priority": 3}


# --- perform_now --------------------------------------------------------------------------------------


def test_perform_now_returns_performs_value_and_runs_the_design_callbacks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert DataProcessingJob.perform_now(21) == 42
    messages = [r.getMessage() for r in caplog.records if r.name == "tests.jobs"]
    assert messages[0].endswith("Starting job " + caplog.records[0].job_id)  # type: ignore[attr-defined]
    assert "Job took" in messages[1]
    assert "Completed job" in messages[2]


def test_perform_now_discards_and_runs_after_discard(recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    assert DiscardingJob.perform_now(7) is None
    assert [r["error"] for r in recorder.of("after_discard")] == ["RecordNotFound"]
    assert any(
        "Discarded DiscardingJob" in r.getMessage() and "record 7 is gone" in r.getMessage() for r in caplog.records
    )


def test_perform_now_reraises_unhandled_errors_after_the_after_discard_hooks(recorder: Recorder) -> None:
    with pytest.raises(ValueError, match="nobody handles this"):
        UnhandledJob.perform_now()
    assert [r["error"] for r in recorder.of("after_discard")] == ["ValueError"]


def test_the_discard_in_the_design_example_wins_over_its_catch_all_retry(recorder: Recorder) -> None:
    assert DataImportJob.perform_now("missing.csv") is None
    assert len(recorder.of("import")) == 1  # discarded: not retried


def test_record_not_found_is_a_deserialization_error() -> None:
    from conveyor import DeserializationError

    assert issubclass(RecordNotFound, DeserializationError)


def test_enqueue_options_never_mix_with_job_arguments(recorder: Recorder) -> None:
    class ArgumentsNamedLikeOptionsJob(Job):
        def perform(self, wait: int, queue: str) -> None:
            RECORDER.add(event="got", wait=wait, queue=queue)

    ArgumentsNamedLikeOptionsJob.perform_now(wait=5, queue="not a queue name")
    assert recorder.of("got")[0]["wait"] == 5
    assert recorder.of("got")[0]["queue"] == "not a queue name"
