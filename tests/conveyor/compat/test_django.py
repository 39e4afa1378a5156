"""``conveyor.compat.django``: the underscore names of Django conveyor reads, guarded."""

from __future__ import annotations

import pytest

from conveyor.compat import django as django_compat
from conveyor.compat.guard import check
from conveyor.errors import CompatibilityError
from tests.conveyor.django.conftest import django_setup, rows  # noqa: F401  # the Django project's fixtures

pytestmark = pytest.mark.usefixtures("django_setup", "rows")


def test_the_installed_django_has_every_guarded_name() -> None:
    check(django_compat.GUARD)


def test_the_accessors_read_a_model_and_an_atomic_block() -> None:
    from django.db import transaction
    from reports.models import Report

    report = Report.objects.using("other").create(title="x")
    assert django_compat.model_label(report) == ("reports", "report")
    assert django_compat.database_of(report) == "other"
    assert not django_compat.is_unsaved(report)
    assert django_compat.is_unsaved(Report(title="new"))
    with transaction.atomic():
        from django.db import connection

        assert django_compat.atomic_from_testcase(connection.atomic_blocks[-1]) is False


def test_an_object_without_the_attribute_is_a_compatibility_error() -> None:
    with pytest.raises(CompatibilityError, match=r"gives builtins\.object no _from_testcase"):
        django_compat.atomic_from_testcase(object())
