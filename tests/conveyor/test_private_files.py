"""``conveyor.private_files``: folders 0700 and files 0600 whatever the umask, narrowed but never widened."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.private_files import private_dir, private_file, tighten


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.mark.usefixtures("permissive_umask")
def test_a_new_folder_and_the_parents_made_for_it_are_0700_but_existing_parents_are_left(tmp_path: Path) -> None:
    # Given an existing parent readable by others
    tmp_path.chmod(0o755)
    # When a nested private folder is made
    made = private_dir(tmp_path / "var" / "redis")
    # Then the folders made are 0700 and the existing parent is not touched
    assert made == tmp_path / "var" / "redis"
    assert (mode(tmp_path / "var"), mode(made)) == (0o700, 0o700)
    assert mode(tmp_path) == 0o755


@pytest.mark.usefixtures("permissive_umask")
def test_a_file_is_written_0600_and_an_existing_one_is_overwritten_and_narrowed(tmp_path: Path) -> None:
    # Given a file left readable by others
    target = tmp_path / "x.eml"
    target.write_bytes(b"old content that is longer")
    target.chmod(0o644)
    # When it is written privately
    written = private_file(target, b"new")
    # Then it holds only the new data, owner-only
    assert written.read_bytes() == b"new"
    assert mode(written) == 0o600
    assert mode(private_file(tmp_path / "fresh.eml", b"x")) == 0o600


def test_tighten_narrows_but_never_widens(tmp_path: Path) -> None:
    # Given a folder narrower than asked
    narrow = tmp_path / "narrow"
    narrow.mkdir()
    narrow.chmod(0o500)
    # When it is tightened to 0700
    tighten(narrow, 0o700)
    # Then it keeps its own narrower mode
    assert mode(narrow) == 0o500
    narrow.chmod(0o700)


def test_tighten_of_a_path_that_does_not_exist_does_nothing(tmp_path: Path) -> None:
    tighten(tmp_path / "absent", 0o600)
    assert not (tmp_path / "absent").exists()
