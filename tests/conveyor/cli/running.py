"""Running a command of conveyor's CLI in-process, as ``celery -A app …`` would, on the pack's app.

Example::

    result = invoke(celery_app, jobs, "dead", "list")
    assert error_line(result) == "Error: no dead job x"
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import click
from click.testing import CliRunner, Result

__all__ = ["error_line", "invoke"]


def invoke(app: Any, command: click.Command, *args: str, stdin: str | None = None) -> Result:
    """``command args`` with Celery's context object (``ctx.obj.app``) naming ``app``."""
    return CliRunner().invoke(command, list(args), obj=SimpleNamespace(app=app), input=stdin)


def error_line(result: Result) -> str:
    """The one line saying what went wrong: the last of stderr, the only one starting ``Error:``, no traceback."""
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith("Error:")] == lines[-1:], result.stderr
    assert "Traceback" not in result.output
    return lines[-1]
