"""Cron: ``schedule.yaml`` (``file``), time-zoned cron (``zoned_cron``), beat on redbeat (``beat``).

Example::

    from conveyor.schedule import load_schedule
    jobs = load_schedule(Path("schedule.yaml"), "UTC")
"""

from conveyor.schedule.file import ScheduledJob, describe, load_schedule, local_time, parse_every

__all__ = ["ScheduledJob", "describe", "load_schedule", "local_time", "parse_every"]
