"""Conveyor: ActiveJob-style background jobs on Celery.

Example::

    from conveyor import Job, retry_on

    @retry_on(ConnectionError, wait=5, attempts=3)
    class ReportGenerationJob(Job):
        queue_as = "low_priority"

        def perform(self, report_id: int) -> None: ...

    ReportGenerationJob.perform_later(42)
"""

from conveyor import moved

moved.install()  # conveyor 0.1's module paths (stored in settings and Redis) keep resolving

from conveyor.bootstrap import configure  # noqa: E402
from conveyor.errors import (  # noqa: E402
    Abort,
    CompatibilityError,
    ContinuationError,
    ConveyorError,
    DeclarationError,
    DeserializationError,
    DuplicateJobError,
    EnqueueError,
    InvalidStepError,
    MissingExtraError,
    RecordNotFound,
    ResultNotStoredError,
    ResumeLimitError,
    SerializationError,
    UnknownBatchError,
)
from conveyor.jobs.batch import Batch  # noqa: E402
from conveyor.jobs.callbacks import (  # noqa: E402
    after_enqueue,
    after_perform,
    around_enqueue,
    around_perform,
    before_enqueue,
    before_perform,
)
from conveyor.jobs.controls import limits_concurrency, throttle, unique  # noqa: E402
from conveyor.jobs.enqueuing import ConfiguredJob, aperform_all_later, perform_all_later  # noqa: E402
from conveyor.jobs.error_handling import after_discard, discard_on, polynomially_longer, retry_on  # noqa: E402
from conveyor.jobs.event_loop import on_loop_start, on_loop_stop  # noqa: E402
from conveyor.jobs.job import Job  # noqa: E402
from conveyor.mail.mailer import Mailer, MailerError, MessageDelivery, action  # noqa: E402
from conveyor.serialization import register_serializer  # noqa: E402

__version__ = "0.2.0"

__all__ = [
    # jobs
    "Batch",
    "ConfiguredJob",
    "Job",
    "perform_all_later",
    "aperform_all_later",
    "on_loop_start",
    "on_loop_stop",
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
    # controls
    "limits_concurrency",
    "throttle",
    "unique",
    # mail
    "Mailer",
    "MailerError",
    "MessageDelivery",
    "action",
    # arguments
    "register_serializer",
    # configuration
    "configure",
    # errors
    "Abort",
    "CompatibilityError",
    "ContinuationError",
    "ConveyorError",
    "DeclarationError",
    "DeserializationError",
    "DuplicateJobError",
    "EnqueueError",
    "InvalidStepError",
    "MissingExtraError",
    "RecordNotFound",
    "ResultNotStoredError",
    "ResumeLimitError",
    "SerializationError",
    "UnknownBatchError",
]
