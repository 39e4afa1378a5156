"""``conveyor.testing.matching``: the filters, matchers and failure texts of the test helper's assertions."""

from __future__ import annotations

import datetime as dt

import pytest

from conveyor.testing import EnqueuedJob, EnqueuedJobs
from conveyor.testing.matching import (
    AT_TOLERANCE_S,
    args_match,
    at_match,
    instead,
    kwargs_match,
    same,
    scope,
    selector,
    shown,
)
from tests.jobs import CountJob, EchoJob, ReportGenerationJob


class NeverEnqueuedJob(EchoJob):
    pass


@pytest.fixture
def entries(enqueued_jobs: EnqueuedJobs) -> list[EnqueuedJob]:
    """An EchoJob on default, a CountJob on default, a ReportGenerationJob on low_priority."""
    EchoJob.perform_later((1, 2), flag=True)
    CountJob.perform_later(3)
    ReportGenerationJob.perform_later(42)
    return list(enqueued_jobs.jobs)


def classes(entries: list[EnqueuedJob]) -> list[str]:
    return [entry.job_class.__name__ for entry in entries]


def test_a_filter_is_a_class_a_list_of_classes_or_a_callable(entries: list[EnqueuedJob]) -> None:
    def picked(**criteria: object) -> list[str]:
        keep = selector(criteria.get("only"), criteria.get("except_"), criteria.get("queue"))  # type: ignore[arg-type]
        return classes([entry for entry in entries if keep(entry)])

    assert picked(only=EchoJob) == ["EchoJob"]
    assert picked(only=[EchoJob, ReportGenerationJob]) == ["EchoJob", "ReportGenerationJob"]
    assert picked(except_=lambda entry: entry.queue == "default") == ["ReportGenerationJob"]
    assert picked(except_=CountJob, queue="default") == ["EchoJob"]
    assert picked() == ["EchoJob", "CountJob", "ReportGenerationJob"]


def test_the_scope_of_a_count_reads_as_words() -> None:
    def named_matcher(entry: EnqueuedJob) -> bool:
        return True

    assert scope(None, None, None) == ""
    assert scope(EchoJob, None, "low") == " of EchoJob on queue 'low'"
    assert scope([EchoJob, CountJob], named_matcher, None) == " of EchoJob, CountJob except named_matcher"


def test_a_criterion_is_a_value_compared_or_a_matcher_called_but_a_class_is_a_value() -> None:
    assert same(5, 5)
    assert not same(5, 6)
    assert same(lambda priority: priority > 3, 5)
    assert same(EchoJob, EchoJob)
    assert not same(EchoJob, CountJob)  # a class is not called as a matcher


def test_a_criterion_is_shown_as_the_reader_wrote_it() -> None:
    def urgent(priority: int) -> bool:
        return priority < 3

    assert shown(EchoJob) == "EchoJob"
    assert shown(urgent) == "urgent (a matcher)"
    assert shown("low") == "'low'"


def test_arguments_match_as_they_travel_where_a_tuple_stays_a_tuple(entries: list[EnqueuedJob]) -> None:
    echo = entries[0]  # EchoJob((1, 2), flag=True)
    assert args_match(echo, [(1, 2)])
    assert not args_match(echo, [[1, 2]])  # a list would arrive as a list
    assert not args_match(echo, [(1, 3)])
    assert args_match(echo, lambda args: len(args) == 1)
    assert kwargs_match(echo, {"flag": True})
    assert not kwargs_match(echo, {"flag": False})


def test_an_expected_argument_that_cannot_travel_is_compared_as_a_value(entries: list[EnqueuedJob]) -> None:
    assert not args_match(entries[0], [object()])  # no serializer: compared by equality, not raised


def test_a_time_matches_within_the_tolerance_or_by_a_matcher() -> None:
    due = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    assert at_match(due + dt.timedelta(seconds=AT_TOLERANCE_S), due)
    assert not at_match(due + dt.timedelta(seconds=AT_TOLERANCE_S + 0.5), due)
    assert not at_match(None, due)
    assert at_match(None, lambda at: at is None)


def test_what_was_enqueued_instead_names_the_potential_matches_of_the_class(entries: list[EnqueuedJob]) -> None:
    text = instead(entries, "enqueued", EchoJob)
    assert text == f"Potential matches: {entries[0]}"
    assert text.startswith("Potential matches: EchoJob(args=((1, 2),), kwargs={'flag': True}, queue='default'")


def test_without_a_class_every_job_is_a_potential_match_one_per_aligned_line(entries: list[EnqueuedJob]) -> None:
    lines = instead(entries, "performed", None).split("\n")
    assert lines == [f"Potential matches: {entries[0]}", *(f"{' ' * 19}{entry}" for entry in entries[1:])]


def test_when_the_class_was_not_enqueued_the_classes_that_were_are_named(entries: list[EnqueuedJob]) -> None:
    assert instead(entries, "enqueued", NeverEnqueuedJob) == (
        "No jobs of class NeverEnqueuedJob were enqueued, job classes enqueued: CountJob, EchoJob, ReportGenerationJob"
    )
    assert instead([], "performed", EchoJob) == "No jobs were performed."
