"""``make test-deps``: the suite on the oldest and on the newest dependencies the pins allow.

conveyor overrides private names of Celery, kombu, redbeat, Flower and tornado
(``conveyor.compat``), so a pin is only honest if both of its ends were tested. For each
end this makes a venv of its own under ``.venv-deps/`` with uv:

- ``oldest``: the pack's own dependencies and extras at the lowest versions their pins
  allow (uv's ``--resolution lowest-direct``), then the test tools at their newest;
- ``newest``: everything at the newest versions allowed;
- ``django6``: Django 6.1 (its built-in ``django.tasks``) on Python 3.12, which Django 6 needs
  while the project's venv is 3.11: the Django tests only (``conveyor.django`` serves both).
  Without a Python 3.12 it is skipped, or fails with ``CI=true``;

and runs the suite there without the tests marked ``slow`` (the fault suite, the tests that
build further venvs: the template's, ``make run``'s, the bare install). It prints the
versions of the guarded dependencies and one line per end, and exits non-zero if either
failed.

Example::

    make test-deps                      # both ends, and Django 6
    python scripts/dependency_matrix.py oldest -- -k compat
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / ".venv-deps"
RUNTIME_EXTRAS = "flower,sqlalchemy,postgres,django,service,dev"
GUARDED = (
    *("celery", "kombu", "celery-redbeat", "flower", "tornado", "redis", "pydantic", "SQLAlchemy"),
    *("Django", "django-tasks"),
)
#: The tests marked `slow` (the fault suite, the template's and make run's venvs, the bare install)
#: are left out: they test conveyor's own code paths, not where the pins end.
SKIPPED = ("-m", "not slow")
# The fuzz test draws 1,000 entries per kind in make test; here it checks other versions of the same
# code, where 200 per kind find a parsing change as well.
FEWER_EXAMPLES = {"CONVEYOR_FUZZ_EXAMPLES": "200"}


def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(found).exists():
        raise SystemExit("uv is not installed: run `make install` (it is in the test extra)")
    return found


def run(command: list[str], **kwargs: object) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT, **kwargs)  # type: ignore[call-overload]


#: What the ``django6`` end installs beside the extras, and the tests it runs.
DJANGO6 = ("Django>=6.1,<6.2",)
DJANGO6_TESTS = ("tests/conveyor/django", "tests/conveyor/compat/test_django.py")


def python312() -> str | None:
    """A Python 3.12 that runs (a pyenv shim on PATH may not), or None."""
    candidates = [
        shutil.which("python3.12"),
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12"))),
    ]
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", "import sys"], capture_output=True).returncode == 0:
            return candidate
    return None


def build(end: str, interpreter: str = sys.executable) -> Path:
    venv = VENVS / end
    python = venv / "bin" / "python"
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    run([uv(), "venv", "--quiet", "--allow-existing", "--python", interpreter, str(venv)])
    resolution = "lowest-direct" if end == "oldest" else "highest"
    run(
        [
            uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            "--resolution",
            resolution,
            "-e",
            f".[{RUNTIME_EXTRAS}]",
            *(DJANGO6 if end == "django6" else ()),
        ],
        env=env,
    )
    # The test tools at their newest on both ends: what is under test is conveyor's pins.
    tools = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    run([uv(), "pip", "install", "--quiet", "--python", str(python), *tools], env=env)
    return python


def versions(python: Path) -> str:
    script = (
        "from importlib import metadata\n"
        f"for name in {GUARDED!r}:\n"
        "    try: print(f'{name} {metadata.version(name)}', end='; ')\n"
        "    except metadata.PackageNotFoundError: print(f'{name} -', end='; ')\n"
    )
    return subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True).stdout.strip()


def main(argv: list[str]) -> int:
    ends = [arg for arg in argv if arg in ("oldest", "newest", "django6")] or ["oldest", "newest", "django6"]
    pytest_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    results = []
    for end in ends:
        started = time.monotonic()
        interpreter = python312() if end == "django6" else sys.executable
        if interpreter is None:
            in_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
            print(f"\n== {end}: no Python 3.12 here{' (CI=true: a failure)' if in_ci else ': skipped'}", flush=True)
            results.append((end, 1 if in_ci else 0, 0.0, "no Python 3.12"))
            continue
        python = build(end, interpreter)
        installed = versions(python)
        print(f"\n== {end}: {installed}", flush=True)
        tests = [*(DJANGO6_TESTS if end == "django6" and not pytest_args else ()), *pytest_args]
        code = subprocess.run(
            [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *SKIPPED, *tests],
            cwd=ROOT,
            env={**os.environ, **FEWER_EXAMPLES},
        ).returncode
        results.append((end, code, time.monotonic() - started, installed))
    print("\ndependency matrix:")
    for end, code, seconds, installed in results:
        print(f"  {end:7} {'passed' if code == 0 else f'FAILED (pytest exit {code})'} in {seconds:.0f} s: {installed}")
    return 0 if all(code == 0 for _, code, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
