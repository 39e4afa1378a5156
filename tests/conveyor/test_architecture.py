"""The layers stay as README "Architecture" draws them: contracts, module size, one settings reader."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "conveyor"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}  # the copy's conveyor before the installed one
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.processes  # lint-imports
def test_the_layer_and_cycle_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.mark.processes
def test_an_upward_import_breaks_the_contracts_naming_the_import(tmp_path: Path) -> None:
    shutil.copytree(PACK, tmp_path / "conveyor", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    eviction = tmp_path / "conveyor" / "broker" / "eviction.py"
    eviction.write_text(eviction.read_text() + "\nfrom conveyor.jobs import job  # the broker reaching up\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1
    assert "conveyor.broker is not allowed to import conveyor.jobs" in result.stdout
    assert re.search(r"conveyor\.broker\.eviction -> conveyor\.jobs\.job \(l\.\d+\)", result.stdout)
    assert "Contracts: 1 kept, 2 broken." in result.stdout  # and it made a cycle


@pytest.mark.processes
def test_an_annotation_naming_a_higher_jobs_module_breaks_the_jobs_layers(tmp_path: Path) -> None:
    # The knot conveyor.jobs had: a lower module importing Job "only for type checking".
    shutil.copytree(PACK, tmp_path / "conveyor", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    adapters = tmp_path / "conveyor" / "jobs" / "adapters.py"
    adapters.write_text(
        adapters.read_text()
        + "\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from conveyor.jobs.job import Job\n"
    )
    result = lint_imports(tmp_path)
    assert result.returncode == 1
    assert "conveyor.jobs.adapters is not allowed to import conveyor.jobs.job" in result.stdout
    assert re.search(r"conveyor\.jobs\.adapters -> conveyor\.jobs\.job \(l\.\d+\)", result.stdout)


def test_conveyor_settings_are_read_in_conveyor_settings_only() -> None:
    readers = {}
    for path in PACK.rglob("*.py"):
        if path.name == "settings.py" and path.parent == PACK:
            continue
        text = path.read_text()
        found = re.findall(r"conf\.get\(\s*[\"']conveyor_\w+|conf\.conveyor_\w+|Redis\.from_url\(", text)
        if found:
            readers[str(path.relative_to(ROOT))] = found
    assert readers == {}, "read conveyor_* settings and build Redis clients through conveyor.settings"


@pytest.mark.processes
def test_the_packs_tests_never_import_the_reference_service() -> None:
    # A fresh interpreter imports every module of tests/conveyor, as pytest's collection does.
    script = (
        "import importlib, pathlib, sys\n"
        "for path in sorted(pathlib.Path('tests/conveyor').rglob('*.py')):\n"
        "    importlib.import_module('.'.join(path.with_suffix('').parts).removesuffix('.__init__'))\n"
        "print(sorted(name for name in ('app', 'tasks', 'config', 'tests.service_app') if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_readme_architecture_names_every_module() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Architecture") : readme.index("## Layout")]
    modules = {path.stem for path in PACK.rglob("*.py") if path.stem not in ("__init__", "__main__")}
    assert sorted(name for name in modules if f"`{name}" not in section and f"{name}.py" not in section) == []
