"""Drop the example jobs when they were not asked for, and the byte-code the copied folders brought."""

import shutil
from pathlib import Path

EXAMPLE_JOBS = "{{ cookiecutter.example_jobs }}" == "yes"

for cache in list(Path().rglob("__pycache__")):
    shutil.rmtree(cache)

if not EXAMPLE_JOBS:
    for job in Path("tasks").glob("*_job.py"):
        job.unlink()
    shutil.rmtree("app/templates")
    for name in ["app/mailers.py", "tests/test_service_jobs.py", "tests/test_report_generation_job.py",
                 "tests/test_scheduled_jobs.py"]:
        Path(name).unlink()
