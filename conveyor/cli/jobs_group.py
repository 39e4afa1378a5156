"""``celery -A app jobs …``: generate, enqueue and inspect jobs, queues and the dead set.

::

    celery -A app jobs new ReportGeneration --queue low_priority    # tasks/…_job.py + its test
    celery -A app jobs enqueue tasks.report_generation_job.ReportGenerationJob 42
    celery -A app jobs queues        # jobs waiting per queue and priority, latency, consumers, paused
    celery -A app jobs queues pause QUEUE | resume QUEUE   # workers stop / start taking from QUEUE
    celery -A app jobs busy          # jobs running now: worker, job, id, since, runtime
    celery -A app jobs workers       # worker processes, alive or dead, with their last heartbeat
    celery -A app jobs limits        # concurrency limits (holders, blocked) and throttle windows
    celery -A app jobs scheduled|retries [list --search T | run ID | delete ID | kill ID]
    celery -A app jobs clear QUEUE   # delete the jobs waiting in QUEUE (asks first; --yes)
    celery -A app jobs dead list     # jobs that failed for good; dead retry ID|--all, dead delete ID, dead clear
    celery -A app jobs batches [list | show ID | retry-dead ID | cancel ID]   # conveyor.Batch
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import click

from conveyor.cli.batches_commands import batches
from conveyor.cli.group import OneLineErrors
from conveyor.cli.output import printable
from conveyor.cli.queues_commands import queues
from conveyor.cli.waiting_commands import retries, scheduled
from conveyor.cli.workers_commands import busy, limits, workers
from conveyor.errors import ConveyorError

__all__ = ["jobs"]


# An argument starting like a JSON object, array, string or number is parsed as JSON, strictly.
_JSON_STARTS = frozenset('{["-0123456789')


def _app(ctx: click.Context) -> Any:
    return ctx.obj.app


_JOB_TEMPLATE = '''"""{description}"""

from __future__ import annotations

from conveyor import Job


class {cls}(Job):
    """{description}"""

    queue_as = "{queue}"

    def perform(self, record_id: int) -> None:
        self.logger.info("Performing {cls} for %s", record_id)
'''

_TEST_TEMPLATE = '''"""Tests of {cls}."""

from __future__ import annotations

from conveyor.testing import EnqueuedJobs
from tasks.{module} import {cls}


def test_perform_later_enqueues_it_on_its_queue(enqueued_jobs: EnqueuedJobs) -> None:
    {cls}.perform_later(1)
    enqueued_jobs.assert_enqueued_with(job={cls}, args=(1,), queue="{queue}")


def test_it_performs(enqueued_jobs: EnqueuedJobs) -> None:
    {cls}.perform_later(1)
    assert enqueued_jobs.perform_all() == 1
'''


@click.group(name="jobs", cls=OneLineErrors)
def jobs() -> None:
    """Generate, enqueue and inspect jobs."""


jobs.add_command(batches)
jobs.add_command(busy)
jobs.add_command(workers)
jobs.add_command(limits)
jobs.add_command(queues)
jobs.add_command(scheduled)
jobs.add_command(retries)


@jobs.command()
@click.argument("name")
@click.option("--queue", default="default", show_default=True, help="the job's queue_as")
@click.option("--root", default=".", show_default=True, help="project root holding tasks/ and tests/")
def new(name: str, queue: str, root: str) -> None:
    """Write tasks/<name>_job.py and tests/test_<name>_job.py (NAME like ReportGeneration)."""
    import re

    from conveyor.validation import validate_queue_name

    base = name.removesuffix("Job")
    if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", base):
        raise click.BadParameter("a CamelCase class name such as ReportGeneration", param_hint="NAME")
    try:
        validate_queue_name(queue, "--queue", ValueError)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--queue") from None
    cls = f"{base}Job"
    module = re.sub(r"(?<!^)(?=[A-Z])", "_", base).lower() + "_job"
    files = {
        Path(root, "tasks", f"{module}.py"): _JOB_TEMPLATE.format(cls=cls, queue=queue, description=f"{cls}: TODO."),
        Path(root, "tests", f"test_{module}.py"): _TEST_TEMPLATE.format(cls=cls, module=module, queue=queue),
    }
    existing = [str(path) for path in files if path.exists()]
    if existing:
        raise click.ClickException(f"refusing to overwrite {', '.join(existing)}")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(f"created {path}")
    _warn_if_no_worker_consumes(Path(root, "config", "worker.yaml"), queue)


def _warn_if_no_worker_consumes(worker_yaml: Path, queue: str) -> None:
    from conveyor.broker.worker_file import load_worker_config

    if not worker_yaml.exists():
        return
    try:
        names = load_worker_config(worker_yaml).names
    except ConveyorError:
        return  # the worker says what is wrong with the file when it starts
    if queue not in names:
        close = difflib.get_close_matches(queue, names, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r} (change queue_as in the job)? if not, " if close else ""
        click.echo(
            f"warning: {worker_yaml} does not list queue {queue!r} ({', '.join(names)}): {hint}no worker takes its "
            f"jobs until you add it there",
            err=True,
        )


@jobs.command()
@click.argument("job")
@click.argument("arguments", nargs=-1)
@click.option("--queue", default=None, help="enqueue on this queue instead of the job's")
@click.option("--priority", type=int, default=None, help="0 (most urgent) to 9")
@click.option("--wait", type=float, default=None, help="seconds to wait before it runs")
@click.pass_context
def enqueue(
    ctx: click.Context,
    job: str,
    arguments: tuple[str, ...],
    queue: str | None,
    priority: int | None,
    wait: float | None,
) -> None:
    """Enqueue JOB (its class name, or dotted path) with ARGUMENTS given as JSON (a bare word is a string).

    Arguments in conveyor's wire form (as a send that failed after a commit logs them) are read back.
    """
    job_class = _job_class(_app(ctx), job)
    values = []
    for position, argument in enumerate(arguments, 1):
        try:
            values.append(json.loads(argument))
        except json.JSONDecodeError as exc:
            if argument[:1] in _JSON_STARTS:  # meant as JSON: a typo must not travel as a string
                raise click.BadParameter(f"argument {position} {argument!r} is not valid JSON: {exc}") from None
            values.append(argument)  # a bare word is a string
    values = _read_back(values)
    options = {k: v for k, v in (("queue", queue), ("priority", priority), ("wait", wait)) if v is not None}
    _app(ctx).set_current()
    try:
        enqueued = job_class.set(**options).perform_later(*values)
    except TypeError as exc:  # the arguments do not fit perform's signature (checked before anything is sent)
        raise click.BadParameter(str(exc), param_hint="ARGUMENTS") from None
    click.echo(f"Enqueued {job_class.__qualname__} (Job ID: {enqueued.job_id}) to {enqueued.queue_name}")


def _read_back(values: list[Any]) -> list[Any]:
    # Arguments in conveyor's wire form, as a failed send logs them (a model reference, a datetime
    # with its zone), become the values again; plain JSON stays as it is.
    from conveyor.errors import ConveyorError
    from conveyor.serialization import deserialize

    try:
        return [deserialize(value) for value in values]
    except (ConveyorError, ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint="ARGUMENTS") from None


def _job_class(app: Any, job: str) -> Any:
    """The Job class ``job`` names: a job registered on ``app`` by class name, or a dotted path.

    A class name is looked up among the jobs of the app's own modules (as a worker imports them);
    a dotted path is imported (an operator's command, like a schedule file's ``job:``). A name
    that matches nothing is refused with the registered jobs closest to it.
    """
    from celery.utils.imports import symbol_by_name

    from conveyor.jobs.job import Job

    app.loader.import_default_modules()
    registered = sorted(app.tasks.items())
    jobs = {name: task.job_class for name, task in registered if isinstance(getattr(task, "job_class", None), type)}
    if "." not in job:
        found = [name for name in jobs if name.rpartition(".")[2] == job]
        if len(found) == 1:
            return jobs[found[0]]
        if found:
            raise click.BadParameter(
                f"{job!r} names {len(found)} jobs: use one of {', '.join(found)}", param_hint="JOB"
            )
    elif job in jobs:
        return jobs[job]
    try:
        job_class = symbol_by_name(job) if "." in job else None
    except (ImportError, AttributeError):
        job_class = None
    if isinstance(job_class, type) and issubclass(job_class, Job):
        return job_class
    by_class: dict[str, list[str]] = {}
    for name in jobs:
        by_class.setdefault(name.rpartition(".")[2], []).append(name)
    # Compared by class name: full paths share their module prefixes, which makes every one look close.
    close = difflib.get_close_matches(job.rpartition(".")[2], by_class, n=2, cutoff=0.75)
    meant = [full for name in close for full in by_class[name]] if "." in job else close
    hint = f"did you mean {' or '.join(repr(name) for name in meant)}? " if meant else ""
    names = sorted(by_class)
    known = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "") or "none"
    raise click.BadParameter(f"no job {job!r}: {hint}(jobs of this app: {known})", param_hint="JOB")


@jobs.command()
@click.argument("queue")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.pass_context
def clear(ctx: click.Context, queue: str, yes: bool) -> None:
    """Delete every job waiting in QUEUE (all priorities)."""
    from conveyor.broker.views.queue_state import action_refusal, purge, waiting_in
    from conveyor.cli.output import with_redis
    from conveyor.settings import settings_for

    app = _app(ctx)
    queue = settings_for(app).queue(queue)  # a name as written, mapped through conveyor_queue_name_prefix

    def check(client: Any) -> tuple[str | None, int]:
        refusal = action_refusal(app, client, queue, "clear")
        return refusal, 0 if refusal is not None else waiting_in(app, client, queue)

    refusal, waiting = with_redis(ctx, check)
    if refusal is not None:
        raise click.UsageError(refusal)
    if not yes:
        click.confirm(f"Delete {waiting} job(s) waiting in {queue!r}?", abort=True)
    try:
        purged = with_redis(ctx, lambda client: purge(app, client, queue))
    except ConveyorError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Deleted {purged} job(s) from {queue}")


@jobs.group()
def dead() -> None:
    """Jobs that failed for good (conveyor.broker.dead.dead_set): list, retry, delete."""


def _dead_set(ctx: click.Context) -> Any:
    from conveyor.broker.dead.dead_set import DeadSet

    return DeadSet.for_app(_app(ctx))


@dead.command(name="list")
@click.option("--limit", type=int, default=50, show_default=True, help="how many, most recent first")
@click.option("--json", "as_json", is_flag=True, help="print JSON records (with backtraces)")
@click.pass_context
def dead_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """The dead jobs, most recent first: id, time, job, queue, attempts, error."""
    from conveyor.broker.dead.retry_plan import FILTERED, arguments_hidden, redacted

    dead_set = _dead_set(ctx)
    records = dead_set.list(limit=limit)
    if as_json:  # JSON escapes control characters itself
        click.echo(json.dumps([redacted(record) for record in records], indent=2))
        return
    click.echo(
        f"{dead_set.count()} dead job(s)" + (f", {len(records)} shown" if len(records) < dead_set.count() else "")
    )
    for record in records:
        arguments = FILTERED if arguments_hidden(record) else record.get("argsrepr") or record.get("args") or ""
        error = "" if record.get("error") == record.get("reason") else f"\n  {record.get('error')}"
        click.echo(
            printable(
                f"\n{record['id']}  {record.get('failed_at', '?')}  {record.get('job_class')}{arguments}"
                f"\n  queue {record.get('queue')}, attempts {record.get('attempts')}, {record.get('reason')}{error}"
            )
        )


@dead.command(name="retry")
@click.argument("job_id", required=False)
@click.option("--all", "retry_all", is_flag=True, help="retry every dead job")
@click.pass_context
def dead_retry(ctx: click.Context, job_id: str | None, retry_all: bool) -> None:
    """Send JOB_ID (or --all) to its queue again, with its attempts counted afresh."""
    if bool(job_id) == retry_all:
        raise click.UsageError("give a JOB_ID or --all")
    dead_set = _dead_set(ctx)
    if retry_all:
        sent, refused = dead_set.retry_all(_app(ctx))
        click.echo(f"Retried {sent} job(s)" + (f"; kept {len(refused)} that cannot be retried:" if refused else ""))
        for refused_id, reason in refused.items():
            click.echo(f"  {refused_id}: {reason}")
        return
    assert job_id is not None
    try:
        sent_one = dead_set.retry(_app(ctx), job_id)
    except ConveyorError as exc:
        raise click.ClickException(str(exc)) from None
    if not sent_one:
        raise click.ClickException(f"no dead job {job_id}")
    click.echo(f"Retried {job_id}")


@dead.command(name="delete")
@click.argument("job_id")
@click.pass_context
def dead_delete(ctx: click.Context, job_id: str) -> None:
    """Delete JOB_ID from the dead set."""
    if not _dead_set(ctx).delete(job_id):
        raise click.ClickException(f"no dead job {job_id}")
    click.echo(f"Deleted {job_id}")


@dead.command(name="clear")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.pass_context
def dead_clear(ctx: click.Context, yes: bool) -> None:
    """Delete every dead job."""
    dead_set = _dead_set(ctx)
    if not yes:
        click.confirm(f"Delete {dead_set.count()} dead job(s)?", abort=True)
    click.echo(f"Deleted {dead_set.clear()} dead job(s)")
