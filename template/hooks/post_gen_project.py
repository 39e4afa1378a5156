"""Keep only the files the template ships; drop the example jobs when they were not asked for; for
``framework: django``, put the Django project (``_django/``) in place of the plain service's app.

``tasks/`` and ``app/templates/`` are symlinks to the reference service's folders, so cookiecutter
copies whatever sits there in the checkout, untracked files included (a job tried out with ``jobs
new``): only the files named in cookiecutter.json's ``_shipped`` (the ones git tracks there, checked
by tests/integration/test_template.py) stay.
"""

import shutil
from pathlib import Path

EXAMPLE_JOBS = "{{ cookiecutter.example_jobs }}" == "yes"
DJANGO = "{{ cookiecutter.framework }}" == "django"
SHIPPED = {{ cookiecutter._shipped | tojson }}  # JSON: a Python dict literal here

for cache in list(Path().rglob("__pycache__")):
    shutil.rmtree(cache)

for folder, names in SHIPPED.items():
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and path.relative_to(folder).as_posix() not in names:
            print(f"left out {path}: in the checkout, but not a file the template ships")
            path.unlink()

if DJANGO:
    # The plain service's Celery app, models, mailers, jobs, tests and schedule give way to the Django
    # project's (_django/: app/ as a Django project package, reports/ as its app); app/run.py (make run),
    # config/ (settings from the environment, Flower, worker.yaml) and flowerconfig.py stay.
    for name in ["app/__init__.py", "app/celery.py", "app/models.py", "app/mailers.py", "schedule.yaml",
                 "Procfile", "Procfile.dev", "README.md"]:
        Path(name).unlink(missing_ok=True)
    for folder in ["tasks", "tests", "app/templates"]:
        shutil.rmtree(folder, ignore_errors=True)
    for path in sorted(Path("_django").rglob("*")):
        if path.is_file():
            target = path.relative_to("_django")
            target.parent.mkdir(parents=True, exist_ok=True)
            path.replace(target)
    if not EXAMPLE_JOBS:
        for name in ["reports/jobs.py", "reports/tasks.py", "reports/views.py", "reports/urls.py",
                     "tests/test_reports.py"]:
            Path(name).unlink()
elif not EXAMPLE_JOBS:
    for job in Path("tasks").glob("*_job.py"):
        job.unlink()
    shutil.rmtree("app/templates")
    for name in ["app/mailers.py", "tests/test_service_jobs.py", "tests/test_report_generation_job.py",
                 "tests/test_scheduled_jobs.py", "tests/test_webhook_delivery_job.py"]:
        Path(name).unlink()
shutil.rmtree("_django", ignore_errors=True)
