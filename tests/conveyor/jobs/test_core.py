"""``conveyor.jobs.core``: a job instance: arguments checked against perform, identity and state, ``async_result``."""

from __future__ import annotations

import uuid

import pytest

from conveyor import Job, ResultNotStoredError
from tests.jobs import DataImportJob, EchoJob


class ImportJob(Job):
    def perform(self, account_id: int, *, mode: str = "full") -> None: ...


class NoResultJob(Job):
    store_result = False

    def perform(self) -> None: ...


# --- perform's signature -------------------------------------------------------------------------------


def test_an_async_perform_is_a_job_whose_signature_is_checked_like_any_other() -> None:
    class AsyncJob(Job):
        async def perform(self, url: str) -> None: ...

    assert AsyncJob._async_perform
    with pytest.raises(TypeError, match=r"AsyncJob: missing a required argument: 'url' \(perform\(url\)\)"):
        AsyncJob()


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


def test_the_type_error_shows_performs_signature_without_its_annotations() -> None:
    # Given perform(self, account_id: int, *, mode: str = "full")
    # When a job is created with a second positional argument
    with pytest.raises(TypeError) as refused:
        ImportJob(1, "delta")

    # Then the message names the job, the problem and the signature as a caller writes it
    assert str(refused.value) == "ImportJob: too many positional arguments (perform(account_id, *, mode='full'))"


def test_a_keyword_only_argument_is_checked_by_name() -> None:
    # Given a keyword-only parameter / When it is given by name, or positionally, or misspelt
    job = ImportJob(7, mode="delta")
    with pytest.raises(TypeError, match=r"ImportJob: got an unexpected keyword argument 'mod' \(perform\("):
        ImportJob(7, mod="delta")

    # Then only the first is a job, with its arguments kept apart as given
    assert (job.arguments, job.keyword_arguments) == ((7,), {"mode": "delta"})


# --- identity and state ---------------------------------------------------------------------------------


def test_a_new_job_has_an_id_of_its_own_and_has_not_been_enqueued_or_run() -> None:
    # Given two jobs with the same arguments
    first, second = EchoJob(1), EchoJob(1)

    # Then each has its own UUID, and nothing says it was enqueued or run
    assert first.job_id != second.job_id
    assert str(uuid.UUID(first.job_id)) == first.job_id
    assert (first.executions, first.exception_executions) == (0, {})
    assert (first.queue_name, first.enqueued_at, first.scheduled_at, first.successfully_enqueued) == (
        None,
        None,
        None,
        None,
    )


def test_the_repr_shows_the_class_the_id_and_the_arguments_as_given() -> None:
    job = EchoJob(1, "a", flag=True)
    assert repr(job) == f"<EchoJob job_id={job.job_id!r} arguments=(1, 'a', flag=True)>"


# --- async_result ----------------------------------------------------------------------------------------


def test_async_result_of_a_job_that_stores_no_result_raises_naming_the_fix() -> None:
    # Given a job declaring store_result = False (the test app stores results otherwise)
    job = NoResultJob()

    # When its result is asked for / Then it raises instead of waiting forever, naming both fixes
    with pytest.raises(ResultNotStoredError) as refused:
        job.async_result  # noqa: B018 - the property raises

    assert str(refused.value) == (
        "NoResultJob stores no result, so job.async_result would wait forever: declare store_result = True on "
        "NoResultJob, or configure conveyor_store_results=True for every job of the app"
    )


def test_async_result_of_a_job_that_follows_an_app_storing_results_is_its_celery_result() -> None:
    # Given a job that declares nothing, on the test app (conveyor_store_results=True)
    job = EchoJob(1)

    # When its result is asked for / Then it is Celery's AsyncResult for the job's id
    assert job.async_result.id == job.job_id
