"""Ask for a report (POST /reports/), see it (GET /reports/<id>/)."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from reports.jobs import ReportGenerationJob
from reports.models import Report


@csrf_exempt
@require_POST
def create(request: HttpRequest) -> JsonResponse:
    """A new report and the job that completes it, sent once the row is committed."""
    with transaction.atomic():
        report = Report.objects.create(title=request.POST.get("title", "Untitled"))
        job = ReportGenerationJob.perform_later(report)  # held until the commit: the worker finds the row
    return JsonResponse({"id": report.pk, "job_id": job.job_id}, status=201)


@require_GET
def show(request: HttpRequest, pk: int) -> JsonResponse:
    report = get_object_or_404(Report, pk=pk)
    return JsonResponse({"id": report.pk, "title": report.title, "status": report.status, "data": report.data})
