"""``conveyor.web.views``: the helpers of the Schedule and Dead pages (page numbers, times, next runs, login).

The handlers run in a Flower process in ``tests/integration/test_flower.py``; the login and origin checks of
their actions are in ``tests/security/test_action_guards.py``.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
import tornado.web
from celery.schedules import schedule

from conveyor.schedule.file import local_clock
from conveyor.web import views


@pytest.mark.parametrize(("raw", "page"), [("1", 1), ("42", 42), ("1000000", 1_000_000)])
def test_a_page_number_is_a_positive_integer(raw: str, page: int) -> None:
    assert views.page_number(raw) == page


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "", "abc", "1000001", "9" * 40])
def test_anything_else_is_a_400_naming_at_most_20_characters_of_it(raw: str) -> None:
    with pytest.raises(tornado.web.HTTPError) as raised:
        views.page_number(raw)
    assert raised.value.status_code == 400
    assert raised.value.log_message == f"page must be a number from 1, got {raw[:20]!r}"


def test_a_records_time_shows_as_the_other_pages_and_a_bad_one_as_it_is() -> None:
    assert views._iso_clock(None) == ""
    assert views._iso_clock("yesterday") == "yesterday"
    moment = dt.datetime(2027, 1, 15, 8, tzinfo=dt.UTC)
    assert views._iso_clock(moment.isoformat()) == local_clock(moment.timestamp())


def test_an_entry_that_never_ran_has_no_next_run_and_one_that_ran_runs_after_its_interval() -> None:
    every_hour = schedule(run_every=dt.timedelta(hours=1))
    assert views.next_run(SimpleNamespace(last_run_at=None, schedule=every_hour)) is None
    ran = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=15)
    after = views.next_run(SimpleNamespace(last_run_at=ran, schedule=every_hour))
    assert after is not None
    assert abs((after - (ran + dt.timedelta(hours=1))).total_seconds()) < 2


def test_an_overdue_entry_runs_next_now_not_in_the_past() -> None:
    before = dt.datetime.now(dt.UTC)
    entry = SimpleNamespace(last_run_at=before - dt.timedelta(days=1), schedule=schedule(run_every=60))
    after = views.next_run(entry)
    assert after is not None
    assert after >= before


def test_a_login_is_configured_by_basic_auth_or_oauth() -> None:
    assert not views.login_configured(SimpleNamespace(basic_auth=[], auth=""))
    assert views.login_configured(SimpleNamespace(basic_auth=["admin:pw"], auth=""))
    assert views.login_configured(SimpleNamespace(basic_auth=[], auth=".*@example.com"))
