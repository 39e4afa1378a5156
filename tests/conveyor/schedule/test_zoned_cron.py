"""ZonedCron: wall-clock cron times across the DST changes of 2026 and 2027."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from conveyor.schedule.zoned_cron import ZonedCron

UTC = dt.UTC
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def runs(expression: str, zone: str, start: dt.datetime, count: int = 3) -> list[str]:
    return [run.isoformat() for run in ZonedCron(expression, zone).next_runs(count, after=start)]


@pytest.mark.parametrize(
    ("zone", "spring", "autumn"),
    [
        ("Europe/Berlin", dt.date(2026, 3, 29), dt.date(2026, 10, 25)),
        ("Europe/Berlin", dt.date(2027, 3, 28), dt.date(2027, 10, 31)),
        ("America/New_York", dt.date(2026, 3, 8), dt.date(2026, 11, 1)),
        ("America/New_York", dt.date(2027, 3, 14), dt.date(2027, 11, 7)),
    ],
)
def test_a_daily_run_keeps_its_local_hour_on_both_sides_of_each_dst_change(
    zone: str, spring: dt.date, autumn: dt.date
) -> None:
    tz = ZoneInfo(zone)
    for change in (spring, autumn):
        start = dt.datetime.combine(change - dt.timedelta(days=2), dt.time(12), tzinfo=tz)  # after 09:00 local
        local_times = [run.astimezone(tz) for run in ZonedCron("0 9 * * *", zone).next_runs(4, after=start)]
        assert [(t.date(), t.hour, t.minute) for t in local_times] == [
            (change - dt.timedelta(days=1), 9, 0),
            (change, 9, 0),
            (change + dt.timedelta(days=1), 9, 0),
            (change + dt.timedelta(days=2), 9, 0),
        ]
        offsets = {t.utcoffset() for t in local_times}
        assert len(offsets) == 2  # the UTC instant moved by an hour; the local time did not


def test_berlin_0200_runs_at_0200_local_time_in_winter_and_summer() -> None:
    assert runs("0 2 * * *", "Europe/Berlin", dt.datetime(2026, 3, 26, 12, tzinfo=UTC)) == [
        "2026-03-27T02:00:00+01:00",
        "2026-03-28T02:00:00+01:00",
        "2026-03-29T03:00:00+02:00",  # 02:00 does not exist that night: it runs once, an hour later
    ]
    assert runs("0 2 * * *", "Europe/Berlin", dt.datetime(2026, 3, 29, 12, tzinfo=UTC), 1) == [
        "2026-03-30T02:00:00+02:00"
    ]


def test_a_repeated_local_time_runs_once_at_its_first_occurrence() -> None:
    # 2026-10-25 in Berlin: 02:00-02:59 happens twice (CEST, then CET).
    assert runs("30 2 * * *", "Europe/Berlin", dt.datetime(2026, 10, 24, 12, tzinfo=UTC)) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]
    # Even from inside the repeated hour (02:10 CET, the second one), the next run is the next day.
    second_0210 = dt.datetime(2026, 10, 25, 1, 10, tzinfo=UTC)
    assert runs("30 2 * * *", "Europe/Berlin", second_0210, 1) == ["2026-10-26T02:30:00+01:00"]


def test_new_york_skipped_and_repeated_hours() -> None:
    assert runs("30 2 * * *", "America/New_York", dt.datetime(2027, 3, 13, 12, tzinfo=UTC)) == [
        "2027-03-14T03:30:00-04:00",  # 02:30 skipped on 2027-03-14
        "2027-03-15T02:30:00-04:00",
        "2027-03-16T02:30:00-04:00",
    ]
    assert runs("30 1 * * *", "America/New_York", dt.datetime(2027, 11, 6, 12, tzinfo=UTC)) == [
        "2027-11-07T01:30:00-04:00",  # 01:30 happens twice on 2027-11-07: the first one
        "2027-11-08T01:30:00-05:00",
        "2027-11-09T01:30:00-05:00",
    ]


def test_six_fields_put_seconds_first() -> None:
    start = dt.datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert runs("*/20 * * * * *", "UTC", start) == [
        "2026-01-01T00:00:20+00:00",
        "2026-01-01T00:00:40+00:00",
        "2026-01-01T00:01:00+00:00",
    ]


def test_is_due_runs_a_missed_time_once_and_reports_the_wait_until_the_next() -> None:
    now = dt.datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)
    cron = ZonedCron("0 * * * *", "UTC", nowfun=lambda: now)
    due, wait_s = cron.is_due(dt.datetime(2026, 6, 1, 9, 0, tzinfo=UTC))  # three runs missed
    assert (due, wait_s) == (True, 3600 - 30)
    due, wait_s = cron.is_due(dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    assert (due, wait_s) == (False, 3600 - 30)


def test_invalid_expressions_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid cron expression"):
        ZonedCron("61 * * * *")
