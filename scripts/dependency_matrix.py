"""``make test-deps``: the suite on the oldest and on the newest dependencies the pins allow.

conveyor overrides private names of Celery, kombu, redbeat, Flower and tornado
(``conveyor.compat``), so a pin is only honest if both of its ends were tested. For each
end this makes a venv of its own under ``.venv-deps/`` with uv:

- ``oldest``: the pack's own dependencies and extras at the lowest versions their pins
  allow (uv's ``--resolution lowest-direct``), then the test tools at their newest;
- ``newest``: everything at the newest versions allowed;

and runs the suite there without the tests marked ``slow`` (the fault suite, the tests that
build further venvs: the template's, ``make run``'s, the bare install). It prints the
versions of the guarded dependencies and one line per end, and exits non-zero if either
failed.

Example::

    make test-deps                      # both ends
    python scripts/dependency_matrix.py oldest -- -k compat
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / ".venv-deps"
RUNTIME_EXTRAS = "flower,sqlalchemy,postgres,dev"
GUARDED = ("celery", "kombu", "celery-redbeat", "flower", "tornado", "redis", "pydantic", "SQLAlchemy")
#: The tests marked `slow` (the fault suite, the template's and make run's venvs, the bare install)
#: are left out: they test conveyor's own code paths, not where the pins end.
SKIPPED = ("-m", "not slow")


def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(found).exists():
        raise SystemExit("uv is not installed: run `make install` (it is in the test extra)")
    return found


def run(command: list[str], **kwargs: object) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT, **kwargs)  # type: ignore[call-overload]


def build(end: str) -> Path:
    venv = VENVS / end
    python = venv / "bin" / "python"
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    run([uv(), "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(venv)])
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
    ends = [arg for arg in argv if arg in ("oldest", "newest")] or ["oldest", "newest"]
    pytest_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    results = []
    for end in ends:
        started = time.monotonic()
        python = build(end)
        installed = versions(python)
        print(f"\n== {end}: {installed}", flush=True)
        code = subprocess.run(
            [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *SKIPPED, *pytest_args], cwd=ROOT
        ).returncode
        results.append((end, code, time.monotonic() - started, installed))
    print("\ndependency matrix:")
    for end, code, seconds, installed in results:
        print(f"  {end:7} {'passed' if code == 0 else f'FAILED (pytest exit {code})'} in {seconds:.0f} s: {installed}")
    return 0 if all(code == 0 for _, code, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
