"""Conveyor: ActiveJob-style background jobs on Celery.

Example::

    from conveyor import Job, retry_on

    @retry_on(ConnectionError, wait=5, attempts=3)
    class ReportGenerationJob(Job):
        queue_as = "low_priority"

        def perform(self, report_id: int) -> None: ...

    ReportGenerationJob.perform_later(42)
"""

from conveyor.callbacks import (
    after_enqueue,
    after_perform,
    around_enqueue,
    around_perform,
    before_enqueue,
    before_perform,
)
from conveyor.config import configure
from conveyor.enqueuing import ConfiguredJob, perform_all_later
from conveyor.errors import (
    Abort,
    ConveyorError,
    DeclarationError,
    DeserializationError,
    EnqueueError,
    RecordNotFound,
    SerializationError,
)
from conveyor.exceptions import after_discard, discard_on, polynomially_longer, retry_on
from conveyor.job import Job
from conveyor.mailer import Mailer, MailerError, MessageDelivery
from conveyor.serialization import register_serializer

__version__ = "0.1.0"

__all__ = [
    # jobs
    "ConfiguredJob",
    "Job",
    "perform_all_later",
    # callbacks
    "after_enqueue",
    "after_perform",
    "around_enqueue",
    "around_perform",
    "before_enqueue",
    "before_perform",
    # error handling
    "after_discard",
    "discard_on",
    "polynomially_longer",
    "retry_on",
    # mail
    "Mailer",
    "MailerError",
    "MessageDelivery",
    # arguments
    "register_serializer",
    # configuration
    "configure",
    # errors
    "Abort",
    "ConveyorError",
    "DeclarationError",
    "DeserializationError",
    "EnqueueError",
    "RecordNotFound",
    "SerializationError",
]
