"""``celery -A app jobs batches``: list, show, retry-dead and cancel, on the pack's app and a real Redis."""

from __future__ import annotations

from typing import Any

import redis

from conveyor import Batch
from conveyor.broker.batches import DEAD
from conveyor.cli.jobs_group import jobs
from conveyor.jobs.batch import batch_store
from tests.conveyor.cli.running import error_line, invoke
from tests.jobs import EchoJob


def open_batch_of_two(celery_app: Any) -> tuple[Batch, list[Any]]:
    batch = Batch(description="Import 42", properties={"import_id": 42}).on("finish", EchoJob)
    with batch.jobs():
        sent = [EchoJob.perform_later(1), EchoJob.perform_later(2)]  # no worker: they wait
    return batch, sent


def test_batches_are_listed_with_their_progress_and_shown_with_their_callbacks(
    celery_app: Any, redis_client: redis.Redis
) -> None:
    assert invoke(celery_app, jobs, "batches").stdout == "0 batch(es)\n"
    batch, sent = open_batch_of_two(celery_app)
    batch_store(celery_app).end(batch.id, sent[0].job_id, DEAD)
    listing = invoke(celery_app, jobs, "batches", "list").stdout.splitlines()
    assert listing == [
        "1 batch(es)",
        f"{batch.id}  running   Import 42  1 of 2 ended: 0 succeeded, 0 discarded, 1 dead",
    ]
    shown = invoke(celery_app, jobs, "batches", "show", batch.id).stdout.splitlines()
    assert shown[0] == f"Batch {batch.id}  Import 42  running"
    assert shown[1] == 'properties: {"import_id": 42}'
    assert shown[2] == "jobs: 1 of 2 ended: 0 succeeded, 0 discarded, 1 dead; 1 pending"
    assert shown[3].startswith("created ")
    assert shown[4:] == ["callback finish: not sent", f"dead: {sent[0].job_id}"]


def test_cancel_marks_the_batch_and_says_so_once(celery_app: Any, redis_client: redis.Redis) -> None:
    batch, _ = open_batch_of_two(celery_app)
    result = invoke(celery_app, jobs, "batches", "cancel", batch.id)
    assert result.stdout == f"Cancelled batch {batch.id}: 2 pending job(s) see self.batch.cancelled\n"
    assert batch.cancelled
    again = invoke(celery_app, jobs, "batches", "cancel", batch.id)
    assert (again.exit_code, error_line(again)) == (1, f"Error: batch {batch.id} is already cancelled")


def test_retry_dead_says_what_it_could_not_send_and_a_batch_without_dead_jobs_is_one_line(
    celery_app: Any, redis_client: redis.Redis
) -> None:
    batch, sent = open_batch_of_two(celery_app)
    none = invoke(celery_app, jobs, "batches", "retry-dead", batch.id)
    assert (none.exit_code, error_line(none)) == (1, f"Error: batch {batch.id} has no dead jobs")
    # a job recorded dead whose dead-set record is gone (trimmed): it is counted dead again, and said
    batch_store(celery_app).end(batch.id, sent[0].job_id, DEAD)
    result = invoke(celery_app, jobs, "batches", "retry-dead", batch.id)
    assert result.exit_code == 1
    assert result.stdout.startswith(f"Sent 0 of the 1 dead job(s) of batch {batch.id} again")
    assert error_line(result) == "Error: 1 dead job(s) were no longer in the dead set (trimmed or retried)"
    assert batch.status.dead == 1
    assert batch.status.pending == 1


def test_an_unknown_or_malformed_batch_id_is_one_line(celery_app: Any, redis_client: redis.Redis) -> None:
    unknown = "3f2c1a9e-0000-4000-8000-000000000000"
    for command in ("show", "retry-dead", "cancel"):
        result = invoke(celery_app, jobs, "batches", command, unknown)
        assert result.exit_code == 1
        assert error_line(result).startswith(f"Error: no batch {unknown}: it was never created, or its keys expired")
    result = invoke(celery_app, jobs, "batches", "show", "conveyor:dead")
    assert (result.exit_code, error_line(result)) == (
        1,
        "Error: 'conveyor:dead' is not a batch id (a UUID such as 3f2c1a9e-…)",
    )
