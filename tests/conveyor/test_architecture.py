"""The layers stay as docs/architecture.md draws them: contracts, one settings reader, tests mirroring modules."""

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


def test_the_architecture_page_names_every_module_and_the_readme_every_package() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    section = page[page.index("## Layers and modules") : page.index("## Layout")]
    modules = {path.stem for path in PACK.rglob("*.py") if path.stem not in ("__init__", "__main__")}
    assert sorted(name for name in modules if f"`{name}" not in section and f"{name}.py" not in section) == []
    readme = (ROOT / "README.md").read_text()
    summary = readme[readme.index("## Architecture") : readme.index("## Tests")]
    packages = {path.name for path in PACK.iterdir() if (path / "__init__.py").exists()} - {"__pycache__"}
    assert sorted(name for name in packages if f"`{name}/" not in summary) == []
    assert "(docs/architecture.md)" in summary


#: Modules whose tests are not named after them, each with where they are and why.
TESTED_ELSEWHERE = {
    "compat/tornado.py": ("tests/conveyor/compat/test_guard.py", "a guard's names only, checked with every guard"),
    "jobs/continuation.py": ("tests/conveyor/jobs/test_continuable.py", "the step API's records, through the steps"),
    "jobs/enqueuing.py": ("tests/conveyor/jobs/test_enqueuing_on_redis.py", "perform_later is worth testing on Redis"),
    "jobs/execution.py": ("tests/conveyor/jobs/test_execution_on_a_worker.py", "a job's run, on a real worker"),
    "schedule/beat.py": ("tests/integration/test_beat.py", "redbeat's scheduler, in a real beat process"),
    "web/batch_views.py": ("tests/integration/test_flower.py", "the Batches pages, in a real Flower process"),
    "web/flower.py": ("tests/integration/test_flower.py", "pages installed into a real Flower process"),
    "web/queue_views.py": ("tests/security/test_operator_pages.py", "the Queues page's actions, on a real Flower"),
    "web/waiting_views.py": ("tests/security/test_operator_pages.py", "the Scheduled page's actions, on a real Flower"),
}


def test_every_module_has_a_test_module_named_after_it_in_the_mirrored_folder() -> None:
    # Given every module of the pack with code of its own (a package's __init__ re-exports)
    modules = sorted(path.relative_to(PACK) for path in PACK.rglob("*.py") if path.name != "__init__.py")
    tests = ROOT / "tests" / "conveyor"
    # Then each has tests/conveyor/<its folder>/test_<its name>*.py, or is listed above with where its tests are
    missing = [
        str(module)
        for module in modules
        if str(module) not in TESTED_ELSEWHERE and not list((tests / module.parent).glob(f"test_{module.stem}*.py"))
    ]
    assert missing == [], f"add tests/conveyor/<folder>/test_<module>.py for: {missing}"
    assert [where for where, _ in TESTED_ELSEWHERE.values() if not (ROOT / where).exists()] == []
    assert [name for name in TESTED_ELSEWHERE if not (PACK / name).exists()] == []
