"""Job classes: declarations checked at definition, registration as Celery tasks, arguments, perform_now."""

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
    HaltingEnqueueJob,
    HaltingPerformJob,
    OrderedJob,
    Recorder,
    UnhandledJob,
)

# --- declarations fail at class definition --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"priority": 10},
            r"priority \(or a callable \(job\) -> priority\) must be an int from 0 \(most urgent\) to 9",
        ),
        ({"priority": "high"}, r"priority \(or a callable \(job\) -> priority\) must be an int"),
        ({"queue_as": ""}, "queue name of 1-200"),
        ({"queue_as": "low priority"}, "queue name of 1-200"),
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


def test_async_perform_is_refused_with_the_fix() -> None:
    with pytest.raises(DeclarationError, match="plain def"):

        class AsyncJob(Job):
            async def perform(self) -> None: ...


def test_around_callbacks_must_be_generators() -> None:
    from conveyor import around_perform

    with pytest.raises(DeclarationError, match="must be a generator that yields once"):

        class NoYieldJob(Job):
            @around_perform
            def wrap(self) -> None: ...

            def perform(self) -> None: ...


def test_a_callable_queue_as_is_evaluated_with_the_job() -> None:
    class RoutedJob(Job):
        queue_as = staticmethod(lambda job: "bulk" if job.arguments[0] > 100 else "default")

        def perform(self, size: int) -> None: ...

    assert RoutedJob(500)._resolve_queue(None, "fallback") == "bulk"
    assert RoutedJob(5)._resolve_queue(None, "fallback") == "default"
    assert RoutedJob(5)._resolve_queue("explicit", "fallback") == "explicit"


# --- registration -----------------------------------------------------------------------------


def test_jobs_are_celery_tasks_named_module_dot_class(celery_app: Any) -> None:
    task = celery_app.tasks["tests.jobs.DataImportJob"]
    assert task.job_class is DataImportJob
    assert task.max_retries is None  # conveyor counts attempts, not Celery


def test_base_classes_without_perform_are_not_registered(celery_app: Any) -> None:
    assert "tests.jobs.ApplicationJob" not in celery_app.tasks


def test_a_job_defined_after_the_app_is_finalized_is_registered_too(celery_app: Any) -> None:
    assert celery_app.finalized

    class LateJob(Job):
        def perform(self) -> None: ...

    assert celery_app.tasks[f"{__name__}.LateJob"].job_class is LateJob


# --- arguments are checked against perform's signature, in the caller's process ------------------


def test_a_wrong_argument_count_raises_type_error_naming_the_job() -> None:
    with pytest.raises(
        TypeError, match=r"DataImportJob: missing a required argument: 'file_path' \(perform\(file_path\)\)"
    ):
        DataImportJob()
    with pytest.raises(TypeError, match="DataImportJob: too many positional arguments"):
        DataImportJob.perform_later("a.csv", "b.csv")


def test_an_unknown_keyword_raises_type_error_naming_the_job() -> None:
    with pytest.raises(TypeError, match="DataImportJob: got an unexpected keyword argument 'path'"):
        DataImportJob.perform_later("a.csv", path="b.csv")


def test_keywords_matching_perform_are_accepted() -> None:
    job = DataImportJob(file_path="a.csv")
    assert (job.arguments, job.keyword_arguments) == ((), {"file_path": "a.csv"})


# --- set(...) validates its options ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"wait": -5}, ValueError, "expects seconds"),
        ({"wait": 1, "wait_until": dt.datetime.now(dt.UTC)}, ValueError, "not both"),
        ({"wait_until": dt.datetime(2030, 1, 1)}, ValueError, "aware datetime"),
        ({"priority": 11}, ValueError, "from 0"),
        ({"queue": "a b"}, ValueError, "queue name"),
        ({"delay": 5}, TypeError, "unexpected keyword argument 'delay'"),
    ],
)
def test_set_rejects_bad_options(options: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        DataImportJob.set(**options)


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


def test_every_record_of_a_job_is_tagged_with_its_class_and_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    job = DataProcessingJob(1)
    job.perform_now()
    tagged = [r for r in caplog.records if getattr(r, "job_id", None) == job.job_id]
    assert {r.name for r in tagged} == {"conveyor", "tests.jobs"}
    assert all(r.job_class == "DataProcessingJob" for r in tagged)  # type: ignore[attr-defined]
    assert any(r.getMessage().startswith(f"[DataProcessingJob] [{job.job_id}] Performed") for r in tagged)


def test_callbacks_run_inherited_first_with_around_nested_inside_before_and_after(recorder: Recorder) -> None:
    OrderedJob.perform_now("now")
    assert [r["name"] for r in recorder.of("cb")] == [
        "base.before_perform",
        "own.before_perform",
        "base.around_perform:before",
        "own.around_perform:before",
        "perform:now",
        "own.around_perform:after",
        "base.around_perform:after",
        "base.after_perform",
        "own.after_perform",
    ]


def test_an_abort_in_before_perform_halts_without_running_perform_or_after(recorder: Recorder) -> None:
    assert HaltingPerformJob.perform_now() is None
    assert recorder.of("should-not-run") == []
    assert recorder.of("after-halted") == []


def test_an_abort_in_before_enqueue_sends_nothing(recorder: Recorder) -> None:
    job = HaltingEnqueueJob.perform_later()
    assert job.successfully_enqueued is False


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
