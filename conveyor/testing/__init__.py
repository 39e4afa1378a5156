"""Test helpers: record enqueued jobs, perform them, run a real worker in a thread.

The pytest plugin (``conveyor.testing.pytest_plugin``) exposes these as fixtures.

Example::

    with enqueued_jobs_recorded() as jobs:
        ReportGenerationJob.perform_later(42)
    jobs.assert_enqueued_with(ReportGenerationJob, args=(42,))
"""

from conveyor.testing.assertions import EnqueuedJobs, enqueued_jobs_recorded
from conveyor.testing.helpers import EnqueuedJob, TestAdapter
from conveyor.testing.interruptions import interrupt_job_after_step, interrupt_job_during_step
from conveyor.testing.worker_thread import worker_thread

__all__ = [
    "EnqueuedJob",
    "EnqueuedJobs",
    "TestAdapter",
    "enqueued_jobs_recorded",
    "interrupt_job_after_step",
    "interrupt_job_during_step",
    "worker_thread",
]
