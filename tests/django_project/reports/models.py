"""Models with the three kinds of primary key a job argument can name."""

import uuid

from django.db import models


class Report(models.Model):
    title = models.CharField(max_length=100)
    body = models.TextField(blank=True, default="")


class Token(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    label = models.CharField(max_length=100)


class Code(models.Model):
    code = models.CharField(max_length=20, primary_key=True)
    used_by = models.CharField(max_length=100, blank=True, default="")
