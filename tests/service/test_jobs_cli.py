"""`celery -A app jobs new|enqueue|queues|clear`, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.redis_reading import queued_messages

pytestmark = [pytest.mark.redis, pytest.mark.processes]  # runs processes

ROOT = Path(__file__).resolve().parents[2]


def celery(
    *args: str, cwd: Path = ROOT, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", "app", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_new_writes_a_job_and_a_test_that_passes_as_generated(tmp_path: Path) -> None:
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "__init__.py").write_text("")

    result = celery("jobs", "new", "ReportGeneration", "--queue", "low_priority", "--root", str(tmp_path))

    assert result.returncode == 0, result.stderr
    job_file = tmp_path / "tasks" / "report_generation_job.py"
    test_file = tmp_path / "tests" / "test_report_generation_job.py"
    assert f"created {job_file}" in result.stdout
    assert 'queue_as = "low_priority"' in job_file.read_text()
    generated = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:celery", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "2 passed" in generated.stdout


def test_new_refuses_to_overwrite_and_validates_the_name(tmp_path: Path) -> None:
    assert celery("jobs", "new", "Cleanup", "--root", str(tmp_path)).returncode == 0
    again = celery("jobs", "new", "Cleanup", "--root", str(tmp_path))
    assert again.returncode != 0
    assert "refusing to overwrite" in again.stderr
    bad = celery("jobs", "new", "not-a-class", "--root", str(tmp_path))
    assert bad.returncode != 0
    assert "a CamelCase class name such as ReportGeneration" in bad.stderr
    bad_queue = celery("jobs", "new", "Other", "--queue", "two words", "--root", str(tmp_path))
    assert "queue name" in bad_queue.stderr


def test_enqueue_takes_json_arguments_and_queues_and_clear_show_and_delete_them(redis_client: redis.Redis) -> None:
    result = celery("jobs", "enqueue", "tests.jobs.EchoJob", "42", '{"a": [1, 2]}', "word", "--queue", "low_priority")
    assert result.returncode == 0, result.stderr
    assert "Enqueued EchoJob (Job ID: " in result.stdout
    [message] = queued_messages(redis_client, "low_priority")
    assert message["decoded_body"][0] == [42, {"a": [1, 2]}, "word"]

    listing = celery("jobs", "queues")
    assert listing.returncode == 0, listing.stderr
    assert any(line.split()[:3] == ["low_priority", "1", "5:"] for line in listing.stdout.splitlines()), listing.stdout

    refused = celery("jobs", "clear", "low_priority", stdin="n\n")
    assert refused.returncode != 0
    assert "Delete 1 job(s) waiting in 'low_priority'?" in refused.stdout
    assert len(queued_messages(redis_client, "low_priority")) == 1

    cleared = celery("jobs", "clear", "low_priority", "--yes")
    assert "Deleted 1 job(s) from low_priority" in cleared.stdout
    assert queued_messages(redis_client, "low_priority") == []


@pytest.mark.parametrize("argument", ['{"a": 1', "[1, 2", '{"a": 1,}', '"unclosed'])
def test_an_argument_meant_as_json_that_does_not_parse_is_refused_not_sent_as_text(
    redis_client: redis.Redis, argument: str
) -> None:
    result = celery("jobs", "enqueue", "tests.jobs.EchoJob", "1", argument)
    assert result.returncode == 2
    assert f"argument 2 {argument!r} is not valid JSON" in result.stderr
    assert queued_messages(redis_client, "default") == []


@pytest.mark.parametrize(
    "command",
    [
        ("jobs", "queues"),
        ("jobs", "dead", "list"),
        ("jobs", "enqueue", "tests.jobs.EchoJob", "1"),
        ("schedule", "sync"),
    ],
    ids=" ".join,
)
def test_with_the_broker_down_a_command_fails_in_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")
    result = celery(*command)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert "127.0.0.1:1" in result.stderr
    assert "hunter2" not in result.stderr


def test_enqueue_refuses_what_is_not_a_job() -> None:
    result = celery("jobs", "enqueue", "tests.jobs.Recorder")
    assert result.returncode != 0
    assert "no job 'tests.jobs.Recorder'" in result.stderr


NOTIFICATION = "tasks.notification_job.NotificationJob"  # a job the service's worker runs


def test_dead_list_retry_delete_and_clear(redis_client: redis.Redis) -> None:
    from conveyor.broker.dead.dead_set import DeadSet

    dead = DeadSet(redis_client)
    for n in (1, 2, 3):
        dead.add(
            {
                "id": f"job-{n}",
                "task": NOTIFICATION,
                "job_class": "EchoJob",
                "args": [n],
                "kwargs": {},
                "argsrepr": f"({n},)",
                "queue": "default",
                "priority": 5,
                "reason": "retries exhausted",
                "error": f"ValueError: bad {n}",
                "attempts": 3,
            },
            now=1_800_000_000 + n,
        )

    listed = celery("jobs", "dead", "list").stdout
    assert listed.startswith("3 dead job(s)\n")
    assert "job-3  2027-01-15T08:00:03+00:00  EchoJob(3,)\n  queue default, attempts 3, retries exhausted\n" in listed
    assert "  ValueError: bad 3" in listed
    assert listed.index("job-3") < listed.index("job-1")  # most recent first

    assert celery("jobs", "dead", "retry", "job-2").stdout == "Retried job-2\n"
    assert [m["headers"]["id"] for m in queued_messages(redis_client, "default")] == ["job-2"]
    missing = celery("jobs", "dead", "retry", "job-2")
    assert missing.returncode == 1
    assert "no dead job job-2" in missing.stderr
    assert celery("jobs", "dead", "retry").returncode == 2  # neither an id nor --all

    dead.add({"id": "job-x", "task": "tests.jobs.EchoJob", "args": [], "queue": "default", "reason": "r", "error": "e"})
    refused = celery("jobs", "dead", "retry", "job-x")
    assert refused.returncode == 1
    assert "job-x cannot be retried: 'tests.jobs.EchoJob' is not a job or task registered on this app" in refused.stderr
    assert celery("jobs", "dead", "delete", "job-x").stdout == "Deleted job-x\n"

    assert celery("jobs", "dead", "delete", "job-1").stdout == "Deleted job-1\n"
    dead.add({"id": "job-4", "task": NOTIFICATION, "args": [4], "queue": "default"})
    assert celery("jobs", "dead", "retry", "--all").stdout == "Retried 2 job(s)\n"
    assert sorted(m["headers"]["id"] for m in queued_messages(redis_client, "default")) == ["job-2", "job-3", "job-4"]
    dead.add({"id": "job-5", "task": NOTIFICATION, "args": [5], "queue": "default"})
    assert celery("jobs", "dead", "clear", stdin="n\n").returncode == 1  # asked, declined
    assert dead.count() == 1
    assert celery("jobs", "dead", "clear", "--yes").stdout == "Deleted 1 dead job(s)\n"
    assert dead.count() == 0


def test_queues_pause_and_resume_and_a_queue_no_worker_consumes_is_shown(redis_client: redis.Redis) -> None:
    sent = celery("jobs", "enqueue", "tests.jobs.EchoJob", "1", "--queue", "reprots")  # a typo of a queue
    assert sent.returncode == 0, sent.stderr

    paused = celery("jobs", "queues", "pause", "low_priority")
    assert paused.returncode == 0, paused.stderr
    assert "Paused low_priority: workers take no job from it until" in paused.stdout
    assert redis_client.smembers("conveyor:paused") == {b"low_priority"}

    listing = celery("jobs", "queues").stdout
    rows = {line.split()[0]: line for line in listing.splitlines()[1:]}
    assert "PAUSED" in rows["low_priority"]
    assert rows["reprots"].split()[:3] == ["reprots", "1", "5:"]
    assert "no worker consumes it" in rows["reprots"]
    assert "latency " in rows["reprots"]

    assert celery("jobs", "queues", "resume", "low_priority").stdout == "Resumed low_priority\n"
    assert redis_client.smembers("conveyor:paused") == set()
    bad = celery("jobs", "queues", "pause", "no spaces allowed")
    assert bad.returncode == 2
    assert "must be a queue name" in bad.stderr


def test_with_a_queue_name_prefix_the_cli_takes_names_as_written_and_acts_on_the_prefixed_queues(
    redis_client: redis.Redis,
) -> None:
    production = {"QUEUE_NAME_PREFIX": "production"}
    sent = celery("jobs", "enqueue", "tasks.report_generation_job.ReportGenerationJob", "7", env=production)
    assert sent.returncode == 0, sent.stderr
    assert "to production_low_priority" in sent.stdout, "queue_as low_priority, prefixed"
    assert redis_client.llen("production_low_priority\x06\x165") == 1

    paused = celery("jobs", "queues", "pause", "low_priority", env=production)
    assert paused.returncode == 0, paused.stderr
    assert redis_client.smembers("conveyor:paused") == {b"production_low_priority"}
    rows = {line.split()[0]: line for line in celery("jobs", "queues", env=production).stdout.splitlines()[1:]}
    assert "PAUSED" in rows["production_low_priority"]
    assert set(rows) == {
        f"production_{name}"
        for name in ("high_priority", "default", "notifications", "low_priority", "mailers", "maintenance")
    }, "worker.yaml's queues are listed under their prefixed names"
    assert celery("jobs", "queues", "resume", "low_priority", env=production).returncode == 0
    assert redis_client.smembers("conveyor:paused") == set()
    cleared = celery("jobs", "clear", "low_priority", "--yes", env=production)
    assert cleared.stdout == "Deleted 1 job(s) from production_low_priority\n"


def test_new_warns_when_worker_yaml_does_not_list_the_queue(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "worker.yaml").write_text("concurrency: 2\nqueues: [high_priority, default]\n")

    listed = celery("jobs", "new", "Listed", "--queue", "default", "--root", str(tmp_path))
    assert listed.returncode == 0, listed.stderr
    assert "warning" not in listed.stderr
    unlisted = celery("jobs", "new", "Reports", "--queue", "reports", "--root", str(tmp_path))
    assert unlisted.returncode == 0  # written all the same: the queue may be added next
    assert (
        f"warning: {tmp_path / 'config' / 'worker.yaml'} does not list queue 'reports' (high_priority, default): "
        "no worker takes its jobs until you add it there"
    ) in unlisted.stderr


def test_scheduled_and_retries_list_search_run_and_kill(redis_client: redis.Redis) -> None:
    later = celery("jobs", "enqueue", "tests.jobs.EchoJob", "report-7", "--wait", "600")
    assert later.returncode == 0, later.stderr
    job_id = later.stdout.split("Job ID: ")[1].split(")")[0]

    listing = celery("jobs", "scheduled", "list", "--search", "report-7")
    assert listing.stdout.startswith("1 job(s) scheduled"), listing.stderr
    assert f"{job_id}  EchoJob('report-7',)  default  due " in listing.stdout
    assert "(in 9m5" in listing.stdout or "(in 10m00s)" in listing.stdout
    assert celery("jobs", "scheduled", "--search", "nothing-like-it").stdout.startswith("0 job(s) scheduled")
    assert celery("jobs", "retries").stdout.startswith("0 job(s) waiting for a retry")

    assert celery("jobs", "scheduled", "run", job_id).stdout == f"Sent {job_id} to its queue\n"
    assert [m["headers"]["id"] for m in queued_messages(redis_client, "default")] == [job_id]
    missing = celery("jobs", "scheduled", "kill", job_id)
    assert missing.returncode == 1
    assert f"no waiting job {job_id}" in missing.stderr


def test_queue_commands_refuse_reserved_keys_and_unknown_queues_in_one_line(redis_client: redis.Redis) -> None:
    redis_client.zadd("victimzset", {"member": 1})
    redis_client.zadd("conveyor:scheduled", {"a scheduled job": 4e9})
    for args in (
        ["clear", "conveyor:scheduled", "--yes"],
        ["queues", "pause", "conveyor:dead"],
        ["clear", "_kombu.binding.default", "--yes"],
        ["queues", "resume", "unacked"],
    ):
        refused = celery("jobs", *args)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert "is not a queue" in refused.stderr
        assert "Traceback" not in refused.stderr
    cleared = celery("jobs", "clear", "victimzset", "--yes")  # a sorted set no queue lists: not a known queue
    assert (cleared.returncode, "no queue 'victimzset'" in cleared.stderr) == (2, True), cleared.stderr
    assert "Traceback" not in cleared.stderr
    assert redis_client.zcard("victimzset") == 1
    assert redis_client.zcard("conveyor:scheduled") == 1
    typo = celery("jobs", "queues", "pause", "nosuchqueue")
    assert typo.returncode == 2
    assert "no queue 'nosuchqueue'" in typo.stderr
    assert "nothing was paused" in typo.stderr
    close = celery("jobs", "queues", "pause", "low_priorty")
    assert "did you mean 'low_priority'?" in close.stderr
    assert redis_client.smembers("conveyor:paused") == set()
    assert redis_client.keys("conveyor:wake:no*") == []


def test_clear_counts_every_priority_of_a_queue_no_config_lists(redis_client: redis.Redis) -> None:
    for priority in ("1", "7"):
        sent = celery("jobs", "enqueue", "tests.jobs.EchoJob", "1", "--queue", "defualt", "--priority", priority)
        assert sent.returncode == 0, sent.stderr
    asked = celery("jobs", "clear", "defualt", stdin="n\n")
    assert "Delete 2 job(s) waiting in 'defualt'?" in asked.stdout
    assert celery("jobs", "clear", "defualt", "--yes").stdout == "Deleted 2 job(s) from defualt\n"


def test_dead_list_prints_control_characters_escaped(redis_client: redis.Redis) -> None:
    from conveyor.broker.dead.dead_set import DeadSet

    DeadSet(redis_client).add(
        {
            "id": "esc-1",
            "task": NOTIFICATION,
            "job_class": "EchoJob",
            "queue": "default",
            "reason": "boom\x1b[2J\x1b]0;owned\x07",
            "error": "E\x1b[31m",
            "attempts": 1,
        }
    )
    listed = celery("jobs", "dead", "list")
    assert "\x1b" not in listed.stdout
    assert "\x07" not in listed.stdout
    assert "boom\\x1b[2J\\x1b]0;owned\\x07" in listed.stdout
    assert "E\\x1b[31m" in listed.stdout
