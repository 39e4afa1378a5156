"""DataProcessingJob: before, after and around perform callbacks."""

from __future__ import annotations

import time
from collections.abc import Iterator

from conveyor import Job, after_perform, around_perform, before_perform


class DataProcessingJob(Job):
    @before_perform
    def log_start(self) -> None:
        self.logger.info("Starting job %s", self.job_id)

    @after_perform
    def log_completion(self) -> None:
        self.logger.info("Completed job %s", self.job_id)

    @around_perform
    def measure_time(self) -> Iterator[None]:
        start = time.monotonic()
        yield  # perform runs here
        self.logger.info("Job took %.3f seconds", time.monotonic() - start)

    def perform(self, data_id: int) -> int:
        return data_id * 2
