"""``conveyor.errors``: the hierarchy its docstring draws, the built-in bases, and the errors that carry data."""

from __future__ import annotations

import re

import pytest

import conveyor
from conveyor import errors
from conveyor.errors import (
    Abort,
    ConfigurationError,
    ConveyorError,
    DeclarationError,
    DuplicateJobError,
    Interrupt,
    MissingExtraError,
    ScheduleError,
    SerializationError,
    WorkerConfigError,
)


def documented_parents() -> dict[str, str | None]:
    """Each class of the docstring's tree, with the class it is drawn under (None for the root)."""
    tree = errors.__doc__.partition("Hierarchy::")[2].strip("\n").split("\n\n")[0]
    parents: dict[str, str | None] = {}
    above: list[str] = []
    for line in tree.splitlines():
        match = re.search(r"[A-Z]\w+", line)
        assert match is not None, line
        depth = (match.start() - 4) // 4
        del above[depth:]
        parents[match.group()] = above[-1] if above else None
        above.append(match.group())
    return parents


def test_every_class_in_the_documented_hierarchy_derives_from_the_one_it_is_drawn_under() -> None:
    # Given the tree in the module's docstring
    parents = documented_parents()
    # Then it names the root and the nested continuation and deserialization errors
    assert parents["ConveyorError"] is None
    assert parents["InvalidStepError"] == "ContinuationError"
    assert parents["RecordNotFound"] == "DeserializationError"
    # And every class is a subclass of its parent in the tree
    for name, parent in parents.items():
        if parent is not None:
            assert issubclass(getattr(errors, name), getattr(errors, parent)), (name, parent)


def test_every_exported_conveyor_error_is_drawn_in_the_hierarchy() -> None:
    # Given the classes the module exports that are ConveyorErrors
    exported = {name for name in errors.__all__ if issubclass(getattr(errors, name), ConveyorError)}
    # Then the docstring's tree draws every one of them, and nothing else
    assert set(documented_parents()) == exported


def test_every_conveyor_error_the_package_exports_is_in_the_errors_module_all() -> None:
    # Given the errors conveyor's package exports
    from_package = {name for name in conveyor.__all__ if isinstance(getattr(conveyor, name), type)}
    errors_there = {
        name
        for name in from_package
        if issubclass(getattr(conveyor, name), BaseException) and getattr(conveyor, name).__module__ == errors.__name__
    }
    # Then conveyor.errors exports each of those it defines too
    assert errors_there - set(errors.__all__) == set()


def test_every_conveyor_error_derives_from_conveyor_error_except_abort_and_interrupt() -> None:
    # Given every exception class the module exports
    classes = [getattr(errors, name) for name in errors.__all__]
    # Then all but the two control-flow signals are ConveyorErrors
    outside = {cls.__name__ for cls in classes if not issubclass(cls, ConveyorError)}
    assert outside == {"Abort", "Interrupt"}


def test_interrupt_passes_through_except_exception_and_abort_is_no_conveyor_error() -> None:
    # When a job's own `except Exception` sees an Interrupt
    def perform() -> None:
        try:
            raise Interrupt
        except Exception:  # the handler a job might write
            pytest.fail("Interrupt was caught by except Exception")

    # Then it is not swallowed; Abort is an ordinary exception, outside conveyor's errors
    with pytest.raises(Interrupt):
        perform()
    assert issubclass(Abort, Exception)
    assert not issubclass(Abort, ConveyorError)


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (DeclarationError, TypeError),
        (SerializationError, TypeError),
        (ConfigurationError, ValueError),
        (WorkerConfigError, ValueError),
        (ScheduleError, ValueError),
        (MissingExtraError, ImportError),
    ],
    ids=lambda cls: cls.__name__,
)
def test_errors_are_also_the_builtin_error_of_their_kind(error: type[Exception], builtin: type[Exception]) -> None:
    assert issubclass(error, builtin)


def test_a_schedule_error_starts_each_problem_with_the_file() -> None:
    # Given two problems of one file
    error = ScheduleError("schedule.yaml", ["nightly.cron: not a cron", "hourly.job: no such job"])
    # Then each line of the message names the file, and the problems are kept
    assert str(error) == "schedule.yaml: nightly.cron: not a cron\nschedule.yaml: hourly.job: no such job"
    assert error.path == "schedule.yaml"
    assert error.problems == ["nightly.cron: not a cron", "hourly.job: no such job"]


def test_a_duplicate_job_error_keeps_the_refused_id_and_the_lock_holders() -> None:
    error = DuplicateJobError("locked", job_id="refused-1", holder_id="holder-2")
    assert (str(error), error.job_id, error.holder_id) == ("locked", "refused-1", "holder-2")
