"""Secret files (make run's Flower login, the cookie secret) are never readable by others."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from conveyor.web.secrets import read_or_create

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_secret_file_is_0600_from_its_creation_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        value = read_or_create(tmp_path / "var" / "secret", lambda: "s3cret")
    finally:
        os.umask(old)
    assert value == "s3cret"
    assert mode(tmp_path / "var" / "secret") == 0o600


def test_an_existing_file_keeps_its_value_and_is_narrowed_to_0600(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("kept\n")
    path.chmod(0o644)
    assert read_or_create(path, lambda: "new") == "kept"
    assert mode(path) == 0o600


def test_make_runs_login_file_is_created_0600(tmp_path: Path) -> None:
    script = "from app.run import flower_login; print(flower_login())"
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOWER_")}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    login_file = tmp_path / "var" / "flower-login"
    assert result.stdout.strip() == login_file.read_text().strip()
    assert result.stdout.startswith("admin:")
    assert mode(login_file) == 0o600
