"""The pack app's default sender for the mail tests (put back after each test)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conveyor.mail.mailers import SENDER


@pytest.fixture(autouse=True)
def _default_sender(celery_app: Any) -> Iterator[None]:
    # The reference service sets conveyor_mail_default_from from its settings; the pack's app has none.
    previous = celery_app.conf.get("conveyor_mail_default_from")
    celery_app.conf.conveyor_mail_default_from = SENDER
    yield
    celery_app.conf.conveyor_mail_default_from = previous
