"""A report: asked for (pending), completed by ``ReportGenerationJob``."""

from __future__ import annotations

from django.db import models


class Report(models.Model):
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=20, default="pending")
    data = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"
