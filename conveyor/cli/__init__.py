"""conveyor's Celery CLI commands (the ``celery.commands`` entry points).

``celery -A app schedule …`` (``schedule_group``) and ``celery -A app jobs …`` (``jobs_group``).

Example::

    celery -A app schedule check
    celery -A app jobs dead list
"""

from conveyor.cli.jobs_group import jobs
from conveyor.cli.schedule_group import schedule

__all__ = ["jobs", "schedule"]
