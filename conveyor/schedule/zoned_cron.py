"""A cron schedule in an IANA time zone that keeps wall-clock times across DST changes.

Celery's ``crontab`` follows one zone for the whole app, and redbeat stores a
crontab without any zone (and an rrule's start as a fixed UTC offset, which
drifts by an hour at DST). ``ZonedCron`` computes the next run with croniter
over *local wall-clock* times, then places that time in the zone:

- a local time that does not exist (the hour skipped in spring) runs once, at
  the same offset as before the change: ``02:30`` becomes ``03:30`` that day;
- a local time that happens twice (the hour repeated in autumn) runs once, at
  its first occurrence.

Expressions have 5 fields, or 6 with **seconds first** (as in sidekiq-cron):
``"*/30 * * * * *"`` is every 30 seconds.

Example::

    ZonedCron("0 2 * * *", "Europe/Berlin").next_after(datetime(2026, 3, 28, 12, tzinfo=UTC))
    # 2026-03-29 03:00 CEST: 02:00 does not exist that night
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from celery.schedules import BaseSchedule, schedstate
from croniter import croniter

__all__ = ["ZonedCron"]

UTC = dt.UTC


class ZonedCron(BaseSchedule):  # type: ignore[misc]
    """A Celery schedule for a cron ``expression`` evaluated in ``timezone``."""

    def __init__(
        self,
        expression: str,
        timezone: str = "UTC",
        nowfun: Callable[[], dt.datetime] | None = None,
        app: object = None,
    ) -> None:
        if not croniter.is_valid(expression, second_at_beginning=True):
            raise ValueError(f"invalid cron expression {expression!r}")
        self.expression = expression
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self._nowfun = nowfun
        super().__init__(nowfun=nowfun, app=app)

    @property
    def tz(self) -> ZoneInfo:
        return self.zone

    def now(self) -> dt.datetime:
        return self._nowfun() if self._nowfun else dt.datetime.now(UTC)

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first run strictly after ``moment`` (aware), as an aware datetime in the zone."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        local = moment.astimezone(self.zone).replace(tzinfo=None)
        times = croniter(self.expression, local, second_at_beginning=True)
        while True:
            naive: dt.datetime = times.get_next(dt.datetime)
            # fold=0: a skipped time takes the offset before the change, a repeated time its first occurrence.
            candidate = naive.replace(tzinfo=self.zone, fold=0).astimezone(UTC).astimezone(self.zone)
            if candidate > moment:
                return candidate

    def next_runs(self, count: int, after: dt.datetime | None = None) -> list[dt.datetime]:
        runs: list[dt.datetime] = []
        moment = after or self.now()
        for _ in range(count):
            moment = self.next_after(moment)
            runs.append(moment)
        return runs

    def remaining_estimate(self, last_run_at: dt.datetime) -> dt.timedelta:
        return self.next_after(last_run_at) - self.now()

    def is_due(self, last_run_at: dt.datetime) -> schedstate:
        now = self.now()
        next_at = self.next_after(last_run_at)
        if next_at <= now:
            # Missed runs (beat was down) run once, not once per missed time.
            return schedstate(is_due=True, next=(self.next_after(now) - now).total_seconds())
        return schedstate(is_due=False, next=(next_at - now).total_seconds())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ZonedCron) and (self.expression, self.timezone) == (other.expression, other.timezone)

    def __hash__(self) -> int:
        return hash((self.expression, self.timezone))

    def __repr__(self) -> str:
        return f"<ZonedCron {self.expression!r} {self.timezone}>"

    def __reduce__(self) -> tuple[type[ZonedCron], tuple[str, str]]:
        return (type(self), (self.expression, self.timezone))
