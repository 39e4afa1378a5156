"""``celery -A app jobs new|enqueue|clear|dead``: what each writes, enqueues or says, on the pack's app.

A user's mistake is one ``Error:`` line with exit code 2, and a "did you mean" where click or
conveyor has one. The same commands run as processes on the reference service: ``tests/service/test_jobs_cli.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from conveyor import Job
from conveyor.broker.dead.dead_set import DeadSet
from conveyor.cli.jobs_group import jobs
from conveyor.testing import EnqueuedJobs
from tests.conveyor.cli.running import error_line, invoke
from tests.jobs import EchoJob


def test_new_writes_the_job_and_its_test_named_from_the_camel_case_name(celery_app: Any, tmp_path: Path) -> None:
    # When a job is generated
    result = invoke(celery_app, jobs, "new", "DataImport", "--queue", "low_priority", "--root", str(tmp_path))
    # Then its module and test are written, the class named ...Job, on its queue
    assert result.exit_code == 0, result.output
    job_file, test_file = tmp_path / "tasks" / "data_import_job.py", tmp_path / "tests" / "test_data_import_job.py"
    assert result.stdout == f"created {job_file}\ncreated {test_file}\n"
    assert "class DataImportJob(Job):" in job_file.read_text()
    assert 'queue_as = "low_priority"' in job_file.read_text()
    assert "from tasks.data_import_job import DataImportJob" in test_file.read_text()


def test_new_refuses_to_overwrite_and_writes_nothing(celery_app: Any, tmp_path: Path) -> None:
    # Given a job whose test file exists already
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_cleanup_job.py").write_text("# mine\n")
    # When it is generated
    result = invoke(celery_app, jobs, "new", "CleanupJob", "--root", str(tmp_path))
    # Then nothing is written and one line says why
    assert result.exit_code == 1
    assert error_line(result) == f"Error: refusing to overwrite {tmp_path / 'tests' / 'test_cleanup_job.py'}"
    assert not (tmp_path / "tasks").exists()
    assert (tmp_path / "tests" / "test_cleanup_job.py").read_text() == "# mine\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not_camel"], "Error: Invalid value for NAME: a CamelCase class name such as ReportGeneration"),
        (["Other", "--queue", "conveyor:dead"], "Error: Invalid value for --queue: --queue must not name one of the"),
        (["Other", "--queue", "two words"], "Error: Invalid value for --queue: --queue must be a queue name of 1-200"),
        # click's own wording, which changed between click 8.1 and 8.2: the option it means is named either way
        (["Other", "--qeueu", "x"], "Error: No such option"),
    ],
)
def test_new_refuses_a_wrong_name_or_queue_in_one_line(
    celery_app: Any, tmp_path: Path, args: list[str], message: str
) -> None:
    result = invoke(celery_app, jobs, "new", *args, "--root", str(tmp_path))
    assert result.exit_code == 2
    assert error_line(result).startswith(message)
    if "qeueu" in args:
        assert "--queue" in error_line(result)
    assert list(tmp_path.iterdir()) == []


def test_new_warns_when_the_worker_file_does_not_list_its_queue(celery_app: Any, tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "worker.yaml").write_text("queues: [default]\n")
    result = invoke(celery_app, jobs, "new", "Report", "--queue", "reports", "--root", str(tmp_path))
    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: {tmp_path / 'config' / 'worker.yaml'} does not list queue 'reports'")
    assert "did you mean" not in result.stderr  # a new queue: adding it is the fix
    # a typo of a listed queue: the typo is named first
    typo = invoke(celery_app, jobs, "new", "Other", "--queue", "defualt", "--root", str(tmp_path))
    assert typo.exit_code == 0
    assert typo.stderr == (
        f"warning: {tmp_path / 'config' / 'worker.yaml'} does not list queue 'defualt' (default): did you mean "
        "'default' (change queue_as in the job)? if not, no worker takes its jobs until you add it there\n"
    )


def test_enqueue_sends_json_arguments_and_bare_words_with_the_options_given(
    celery_app: Any, enqueued_jobs: EnqueuedJobs
) -> None:
    # When a job is enqueued from the command line
    result = invoke(
        celery_app, jobs, "enqueue", "tests.jobs.EchoJob", "42", '{"a": [1]}', "word", "--queue", "low_priority",
        "--priority", "2",
    )  # fmt: skip
    # Then it is enqueued with the parsed arguments, and the line names its id and queue
    assert result.exit_code == 0, result.output
    entry = enqueued_jobs.assert_enqueued_with(job=EchoJob, args=(42, {"a": [1]}, "word"), queue="low_priority")
    assert entry.priority == 2
    assert result.stdout == f"Enqueued EchoJob (Job ID: {entry.job_id}) to low_priority\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tests.jobs.Recorder"], "Error: Invalid value for JOB: no job 'tests.jobs.Recorder': (jobs of this app:"),
        (["tests.jobs.NoSuchJob"], "Error: Invalid value for JOB: no job 'tests.jobs.NoSuchJob': (jobs of this app:"),
        (["EchJob"], "Error: Invalid value for JOB: no job 'EchJob': did you mean 'EchoJob'?"),
        (
            ["tests.jobs.EchJob"],
            "Error: Invalid value for JOB: no job 'tests.jobs.EchJob': did you mean 'tests.jobs.EchoJob'?",
        ),
        # a wrong argument count: one line naming perform's signature (it printed a traceback first)
        (["CountJob"], "Error: Invalid value for ARGUMENTS: CountJob: missing a required argument"),
        (["tests.jobs.EchoJob", "1", "[1, 2"], "Error: Invalid value: argument 2 '[1, 2' is not valid JSON"),
    ],
)
def test_enqueue_refuses_what_is_not_a_job_and_json_that_does_not_parse(
    celery_app: Any, enqueued_jobs: EnqueuedJobs, args: list[str], message: str
) -> None:
    result = invoke(celery_app, jobs, "enqueue", *args)
    assert result.exit_code == 2
    assert error_line(result).startswith(message)
    enqueued_jobs.assert_no_enqueued_jobs()


def test_enqueue_takes_a_jobs_class_name_as_the_worker_registered_it(
    celery_app: Any, enqueued_jobs: EnqueuedJobs
) -> None:
    result = invoke(celery_app, jobs, "enqueue", "EchoJob", "7")
    assert result.exit_code == 0, result.output
    enqueued_jobs.assert_enqueued_with(job=EchoJob, args=(7,))


class TickJob(Job):
    """Shares its class name with tests.jobs.TickJob."""

    def perform(self) -> None:
        pass


def test_enqueue_refuses_a_class_name_two_jobs_share_naming_both(celery_app: Any) -> None:
    result = invoke(celery_app, jobs, "enqueue", "TickJob")
    assert result.exit_code == 2
    assert error_line(result) == (
        "Error: Invalid value for JOB: 'TickJob' names 2 jobs: use one of "
        "tests.conveyor.cli.test_jobs_group.TickJob, tests.jobs.TickJob"
    )


def test_a_mistyped_command_is_one_line_with_the_command_meant(celery_app: Any) -> None:
    result = invoke(celery_app, jobs, "dead", "lsit")
    assert result.exit_code == 2
    # click 8.2 adds "Did you mean 'list'?"; click 8.1 (the oldest allowed) stops after the command's name
    assert error_line(result) in (
        "Error: No such command 'lsit'. Did you mean 'list'?",
        "Error: No such command 'lsit'.",
    )


def test_dead_retry_needs_an_id_or_all_but_not_both(celery_app: Any) -> None:
    for args in ([], ["job-1", "--all"]):
        result = invoke(celery_app, jobs, "dead", "retry", *args)
        assert result.exit_code == 2
        assert error_line(result) == "Error: give a JOB_ID or --all"


def dead_record(job_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": job_id, "task": "tests.jobs.EchoJob", "job_class": "EchoJob", "queue": "default", **fields}


def test_dead_list_shows_the_most_recent_first_with_control_characters_escaped(
    celery_app: Any, redis_client: redis.Redis
) -> None:
    # Given two dead jobs, the later one with an error that would rewrite the terminal
    dead = DeadSet(redis_client)
    dead.add(dead_record("job-1", reason="retries exhausted", error="ValueError: one", attempts=5), now=1_800_000_000)
    dead.add(
        dead_record("job-2", reason="boom\x1b[2J", error="boom\x1b[2J", argsrepr="(7,)", attempts=1), now=1_800_000_001
    )
    # When they are listed
    listed = invoke(celery_app, jobs, "dead", "list").stdout
    # Then the later comes first, its escape sequence printed as text, the error shown when it is not the reason
    assert listed.startswith("2 dead job(s)\n\njob-2  ")
    assert "EchoJob(7,)\n  queue default, attempts 1, boom\\x1b[2J\n" in listed
    assert "\x1b" not in listed
    assert "attempts 5, retries exhausted\n  ValueError: one" in listed
    assert listed.index("job-2") < listed.index("job-1")


def test_dead_delete_and_clear_say_what_they_did(celery_app: Any, redis_client: redis.Redis) -> None:
    dead = DeadSet(redis_client)
    for n in (1, 2, 3):
        dead.add(dead_record(f"job-{n}", reason="r", error="e"))
    assert invoke(celery_app, jobs, "dead", "delete", "job-1").stdout == "Deleted job-1\n"
    missing = invoke(celery_app, jobs, "dead", "delete", "job-1")
    assert (missing.exit_code, error_line(missing)) == (1, "Error: no dead job job-1")
    declined = invoke(celery_app, jobs, "dead", "clear", stdin="n\n")
    assert declined.exit_code == 1
    assert "Delete 2 dead job(s)? [y/N]" in declined.stdout
    assert dead.count() == 2
    assert invoke(celery_app, jobs, "dead", "clear", "--yes").stdout == "Deleted 2 dead job(s)\n"
    assert dead.count() == 0


def test_clear_refuses_a_key_that_is_not_a_queue_and_leaves_it(celery_app: Any, redis_client: redis.Redis) -> None:
    redis_client.zadd("conveyor:scheduled", {"a scheduled job": 4e9})
    result = invoke(celery_app, jobs, "clear", "conveyor:scheduled", "--yes")
    assert result.exit_code == 2
    assert error_line(result).startswith("Error: 'conveyor:scheduled' is not a queue: ")
    assert redis_client.zcard("conveyor:scheduled") == 1


def test_clear_asks_first_then_deletes_every_priority_of_the_queue(celery_app: Any, redis_client: redis.Redis) -> None:
    # Given jobs of two priorities waiting in a queue
    for priority in (1, 7):
        EchoJob.set(queue="reports", priority=priority).perform_later(1)
    # When the clear is declined, nothing is deleted
    asked = invoke(celery_app, jobs, "clear", "reports", stdin="n\n")
    assert "Delete 2 job(s) waiting in 'reports'?" in asked.stdout
    assert asked.exit_code == 1
    # And when confirmed, both are
    assert invoke(celery_app, jobs, "clear", "reports", stdin="y\n").stdout.endswith("Deleted 2 job(s) from reports\n")
    assert redis_client.llen("reports\x06\x161") == redis_client.llen("reports\x06\x167") == 0
