"""Keep only the files the template ships; drop the example jobs when they were not asked for.

``tasks/`` and ``app/templates/`` are symlinks to the reference service's folders, so cookiecutter
copies whatever sits there in the checkout, untracked files included (a job tried out with ``jobs
new``): only the files named in cookiecutter.json's ``_shipped`` (the ones git tracks there, checked
by tests/integration/test_template.py) stay.
"""

import shutil
from pathlib import Path

EXAMPLE_JOBS = "{{ cookiecutter.example_jobs }}" == "yes"
SHIPPED = {{ cookiecutter._shipped | tojson }}  # JSON: a Python dict literal here

for cache in list(Path().rglob("__pycache__")):
    shutil.rmtree(cache)

for folder, names in SHIPPED.items():
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and path.relative_to(folder).as_posix() not in names:
            print(f"left out {path}: in the checkout, but not a file the template ships")
            path.unlink()

if not EXAMPLE_JOBS:
    for job in Path("tasks").glob("*_job.py"):
        job.unlink()
    shutil.rmtree("app/templates")
    for name in ["app/mailers.py", "tests/test_service_jobs.py", "tests/test_report_generation_job.py",
                 "tests/test_scheduled_jobs.py"]:
        Path(name).unlink()
