"""retry_on / discard_on declarations: validation, backoff maths, and which declaration wins."""

from __future__ import annotations

import datetime as dt

import pytest

from conveyor import DeclarationError, Job, RecordNotFound, discard_on, polynomially_longer, retry_on
from conveyor.jobs.error_handling import (
    DiscardDeclaration,
    RetryDeclaration,
    determine_delay,
    find_declaration,
    jitter_for,
)
from tests.jobs import CustomError, DataImportJob, NetworkError


def test_polynomially_longer_waits_3_18_83_258_seconds_without_jitter() -> None:
    assert [determine_delay(polynomially_longer, n, jitter=0.0) for n in (1, 2, 3, 4)] == [3.0, 18.0, 83.0, 258.0]


def test_jitter_adds_at_most_the_given_fraction_of_the_wait() -> None:
    assert jitter_for(100.0, 0.15, rand=lambda: 0.0) == 0.0
    assert jitter_for(100.0, 0.15, rand=lambda: 0.999) == pytest.approx(14.985)
    assert determine_delay(10, 1, jitter=0.15, rand=lambda: 0.5) == pytest.approx(10.75)
    # polynomially_longer jitters the polynomial part only, as ActiveJob does.
    assert determine_delay(polynomially_longer, 2, jitter=0.5, rand=lambda: 1.0) == 16 + 8 + 2


def test_waits_accept_seconds_timedeltas_and_callables() -> None:
    assert determine_delay(dt.timedelta(minutes=2), 1, jitter=0.0) == 120.0
    assert determine_delay(lambda executions: executions * 7, 3, jitter=0.5) == 21.0  # callables get no jitter


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"wait": "soon"}, "expected seconds"),
        ({"wait": -1}, "expected seconds"),
        ({"wait": True}, "expected seconds"),
        ({"attempts": 0}, "expected an int >= 1"),
        ({"attempts": 2.5}, "expected an int >= 1"),
        ({"priority": 10}, "from 0 \\(most urgent\\) to 9"),
        ({"queue": ""}, "queue name"),
        ({"queue": "has space"}, "queue name"),
        ({"jitter": -0.1}, "number >= 0"),
        ({"handler": "log"}, "callable"),
    ],
)
def test_bad_retry_on_options_fail_at_declaration_saying_what_is_accepted(options: dict, message: str) -> None:
    with pytest.raises(DeclarationError, match=message):
        retry_on(ValueError, **options)


def test_retry_on_rejects_non_exception_classes() -> None:
    with pytest.raises(DeclarationError, match="expects exception classes"):
        retry_on("ConnectionError")  # type: ignore[arg-type]
    with pytest.raises(DeclarationError, match="at least one exception"):
        discard_on()


def test_unknown_retry_on_options_are_refused() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'retries'"):
        retry_on(ValueError, retries=3)  # type: ignore[call-arg]


def test_retry_on_applies_to_job_classes_only() -> None:
    with pytest.raises(DeclarationError, match="decorates a Job subclass"):

        @retry_on(ValueError)
        class NotAJob:
            pass


def test_the_string_polynomially_longer_is_accepted_for_ported_code() -> None:
    @retry_on(ValueError, wait="polynomially_longer")
    class PortedJob(Job):
        def perform(self) -> None: ...

    declaration = find_declaration(PortedJob, ValueError())
    assert isinstance(declaration, RetryDeclaration)
    assert declaration.wait is polynomially_longer


def test_defaults_are_wait_3_attempts_5_and_the_app_jitter() -> None:
    @retry_on(ValueError)
    class DefaultsJob(Job):
        def perform(self) -> None: ...

    declaration = find_declaration(DefaultsJob, ValueError())
    assert isinstance(declaration, RetryDeclaration)
    assert (declaration.wait, declaration.attempts, declaration.jitter) == (3, 5, None)


def test_unlimited_attempts_are_stored_as_no_limit() -> None:
    @retry_on(ValueError, attempts="unlimited")
    class ForeverJob(Job):
        def perform(self) -> None: ...

    declaration = find_declaration(ForeverJob, ValueError())
    assert isinstance(declaration, RetryDeclaration)
    assert declaration.attempts is None


# --- precedence, on design.md's DataImportJob ----------------------------------------------------


def test_the_seeds_data_import_job_discards_record_not_found_although_exception_is_retried() -> None:
    declaration = find_declaration(DataImportJob, RecordNotFound("gone"))
    assert isinstance(declaration, DiscardDeclaration)


def test_the_most_specific_declaration_wins() -> None:
    network = find_declaration(DataImportJob, NetworkError())
    assert isinstance(network, RetryDeclaration)
    assert (network.wait, network.attempts) == (10, 3)
    other = find_declaration(DataImportJob, KeyError("x"))
    assert isinstance(other, RetryDeclaration)
    assert other.wait is polynomially_longer
    custom = find_declaration(DataImportJob, CustomError())
    assert isinstance(custom, RetryDeclaration)
    assert custom.handler is not None


def test_a_subclass_declaration_wins_over_an_equally_specific_inherited_one() -> None:
    @retry_on(NetworkError, wait=1, attempts=9)
    class StricterImportJob(DataImportJob):
        pass

    declaration = find_declaration(StricterImportJob, NetworkError())
    assert isinstance(declaration, RetryDeclaration)
    assert declaration.attempts == 9


def test_among_equals_on_one_class_the_declaration_nearest_the_class_line_wins() -> None:
    @retry_on(ValueError, attempts=2)
    @discard_on(ValueError)
    class NearestJob(Job):
        def perform(self) -> None: ...

    assert isinstance(find_declaration(NearestJob, ValueError()), DiscardDeclaration)


def test_unmatched_errors_have_no_declaration() -> None:
    @retry_on(NetworkError)
    class NarrowJob(Job):
        def perform(self) -> None: ...

    assert find_declaration(NarrowJob, ValueError()) is None
