"""``conveyor.jobs.enqueue_options``: ``check_enqueue_options``, the one validator of ``set(...)`` and ``retry_job``.

What it keeps (only the options given, waits as float seconds) and what it refuses, with the same
message wherever the option was given.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conveyor.jobs.enqueue_options import check_enqueue_options
from tests.jobs import DataImportJob, EchoJob


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


def test_only_the_options_given_are_returned_with_waits_in_float_seconds() -> None:
    # Given options in the forms set() accepts / When checked / Then only those given come back, waits as floats
    assert check_enqueue_options() == {}
    assert check_enqueue_options(wait=dt.timedelta(minutes=2), queue="reports", priority=0) == {
        "wait": 120.0,
        "queue": "reports",
        "priority": 0,
    }
    seconds = check_enqueue_options(wait=5)["wait"]
    assert (seconds, type(seconds)) == (5.0, float)
    assert check_enqueue_options(wait=0) == {"wait": 0.0}


def test_wait_until_is_kept_as_given_in_its_own_time_zone() -> None:
    # Given an aware datetime outside UTC / When checked / Then the same object is kept
    noon_in_berlin = dt.datetime(2030, 1, 1, 12, tzinfo=ZoneInfo("Europe/Berlin"))
    assert check_enqueue_options(wait_until=noon_in_berlin)["wait_until"] is noon_in_berlin


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"wait": True}, "set(wait=...) expects seconds (int or float >= 0) or a timedelta, got True"),
        ({"wait": "60"}, "set(wait=...) expects seconds (int or float >= 0) or a timedelta, got '60'"),
        (
            {"wait": dt.timedelta(seconds=-1)},
            "set(wait=...) expects seconds (int or float >= 0) or a timedelta, got -1.0",
        ),
        (
            {"wait_until": dt.date(2030, 1, 1)},
            "set(wait_until=...) expects an aware datetime, e.g. datetime.now(timezone.utc) + timedelta(hours=1), "
            "got datetime.date(2030, 1, 1)",
        ),
        (
            {"wait": 0, "wait_until": dt.datetime(2030, 1, 1, tzinfo=dt.UTC)},
            "set() takes wait= or wait_until=, not both",
        ),
        ({"priority": True}, "set(priority=...) must be an int from 0 (most urgent) to 9 (least)"),
        ({"priority": -1}, "set(priority=...) must be an int from 0 (most urgent) to 9 (least)"),
        ({"queue": "conveyor:scheduled"}, "set(queue=...) must not name one of the Redis keys that are not queues"),
        ({"queue": ""}, "set(queue=...) must be a queue name of 1-200 letters"),
    ],
)
def test_a_bad_option_is_a_value_error_naming_the_option_and_what_it_accepts(
    options: dict[str, Any], message: str
) -> None:
    # Given a wrong option / When checked / Then a ValueError (not a declaration error) names it
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        check_enqueue_options(**options)

    assert type(refused.value) is ValueError
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize(
    "give",
    [
        lambda: EchoJob.set(wait=-1),
        lambda: EchoJob.set(queue="reports").set(wait=-1),
        lambda: EchoJob(1).set(wait=-1),
        lambda: EchoJob(1).retry_job(wait=-1),
    ],
    ids=["Job.set", "ConfiguredJob.set", "job.set", "retry_job"],
)
def test_every_place_that_takes_enqueue_options_refuses_a_bad_one_with_the_same_message(
    give: Callable[[], Any],
) -> None:
    # Given a negative wait / When given to set() on a class, a configured class, an instance, or retry_job
    # Then each refuses it in the same words
    with pytest.raises(ValueError, match=r"set\(wait=\.\.\.\)") as refused:
        give()

    assert str(refused.value) == "set(wait=...) expects seconds (int or float >= 0) or a timedelta, got -1"
