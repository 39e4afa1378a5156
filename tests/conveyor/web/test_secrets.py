"""``conveyor.web.secrets.read_or_create``: a secret made once, kept in a file only its owner reads.

The file modes under a permissive umask are tested in ``tests/security/test_secret_files.py``.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from conveyor.web.secrets import read_or_create


def test_the_secret_is_made_once_and_read_back_after(tmp_path: Path) -> None:
    # Given no secret file, in a folder that does not exist yet
    path = tmp_path / "var" / "cookie-secret"
    made: list[str] = []

    def make() -> str:
        made.append("made")
        return f"secret-{len(made)}"

    # When it is asked for twice
    first, second = read_or_create(path, make), read_or_create(path, make)
    # Then it was made once, and both callers got the same value
    assert (first, second, made) == ("secret-1", "secret-1", ["made"])
    assert path.read_text() == "secret-1\n"


def test_an_existing_file_readable_by_others_is_narrowed_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cookie-secret"
    path.write_text("kept\n")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="conveyor.web.secrets"):
        assert read_or_create(path, lambda: "never made") == "kept"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"{path} was readable by others (mode 644); narrowed to 0600" in caplog.text


def test_an_owner_only_file_is_read_without_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cookie-secret"
    path.write_text("kept\n")
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="conveyor.web.secrets"):
        assert read_or_create(path, lambda: "never made") == "kept"
    assert caplog.records == []
