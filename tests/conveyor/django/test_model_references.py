"""Django models as job arguments (GlobalID): by reference, loaded again in a real worker process."""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import pytest

from conveyor.errors import DeserializationError, RecordNotFound, SerializationError
from conveyor.serialization import deserialize, serialize
from tests.integration.services import Service

pytestmark = [pytest.mark.redis, pytest.mark.processes]


def wait_until(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)  # the worker writes the row; read as the user's code would


def test_an_instance_travels_as_label_model_pk_and_database(django_setup: Any, rows: None) -> None:
    from reports.models import Code, Report, Token

    report = Report.objects.create(title="Q3")
    token = Token.objects.using("other").create(label="t")
    code = Code.objects.create(code="A-1")

    wire = serialize([report, token, code])
    assert wire[0]["v"] == ["reports", "report", report.pk, "default"]
    assert wire[1]["v"][:2] == ["reports", "token"]
    assert wire[1]["v"][3] == "other"
    assert deserialize(wire[1]["v"][2]) == token.pk  # a UUID stays a UUID
    loaded = deserialize(wire)
    assert [type(value) for value in loaded] == [Report, Token, Code]
    assert (loaded[0].title, loaded[1].label, loaded[1]._state.db, loaded[2].pk) == ("Q3", "t", "other", "A-1")


def test_an_unsaved_instance_is_refused_at_enqueue_naming_the_argument(django_setup: Any) -> None:
    from django.db import transaction
    from reports.jobs import ReportGenerationJob
    from reports.models import Report

    with pytest.raises(SerializationError, match=r"report.*Report is not saved yet: save\(\) it"):
        ReportGenerationJob.perform_later(Report(title="never saved"))
    # Inside a transaction too: at perform_later, not when the transaction commits
    with pytest.raises(SerializationError, match=r"Report is not saved yet"), transaction.atomic():
        ReportGenerationJob.perform_later(Report(title="never saved either"))


def test_a_deleted_row_is_record_not_found(django_setup: Any, rows: None) -> None:
    from reports.models import Report

    report = Report.objects.create(title="gone")
    wire = serialize(report)
    report.delete()
    with pytest.raises(RecordNotFound, match=r"Report with primary key \d+ no longer exists"):
        deserialize(wire)


def test_a_model_outside_the_installed_apps_is_refused_and_nothing_is_imported(django_setup: Any) -> None:
    marker = "tests.security.marker_module"
    sys.modules.pop(marker, None)
    forged = {"_cj": "django.model", "v": ["tests.security", "marker_module", 1, "default"]}
    with pytest.raises(DeserializationError, match="is not a model of an installed app"):
        deserialize(forged)
    with pytest.raises(DeserializationError, match="'nowhere' is not a database"):
        deserialize({"_cj": "django.model", "v": ["reports", "report", 1, "nowhere"]})
    assert marker not in sys.modules


def test_a_real_worker_loads_the_instances_and_discards_a_deleted_one(project_worker: Service) -> None:
    from reports.jobs import LabelJob, ReportGenerationJob
    from reports.models import Code, Report, Token

    report = Report.objects.create(title="Q3")
    token = Token.objects.using("other").create(id=uuid.uuid4(), label="from-other")
    code = Code.objects.create(code="C-7")
    gone = Report.objects.create(title="deleted before it runs")

    ReportGenerationJob.perform_later(report)
    LabelJob.perform_later(token, code)
    discarded = ReportGenerationJob.perform_later(gone)
    gone.delete()

    wait_until(lambda: Report.objects.get(pk=report.pk).body == "generated: Q3", 30, "the report was not generated")
    wait_until(lambda: Code.objects.get(pk="C-7").used_by == "from-other@other", 30, "the job did not load both")
    project_worker.wait_for(f"Discarded ReportGenerationJob (Job ID: {discarded.job_id})", timeout_s=30)
