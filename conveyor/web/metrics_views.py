"""The Metrics page in Flower: per job class counts and execution times, and a day's throughput chart.

GET ``/job-metrics`` (Flower's ``/metrics`` is its Prometheus endpoint) reads the counters
every worker keeps in Redis (``conveyor.broker.views.metrics``).
"""

from __future__ import annotations

import time
from typing import Any

import tornado.web

from conveyor.broker.views import metrics
from conveyor.settings import redis_client
from conveyor.web.charts import throughput_svg
from conveyor.web.views import _Page

__all__ = ["MetricsView"]


class MetricsView(_Page):
    @tornado.web.authenticated  # type: ignore[misc]
    async def get(self) -> None:
        app = self.application.capp

        def read() -> tuple[dict[str, Any], list[tuple[int, int, int]]]:
            client = redis_client(app)
            try:
                now = time.time()
                return metrics.summary(client, now), metrics.series(client, now)
            finally:
                client.close()

        by_class, series = await self.read(read)
        rows = sorted(by_class.items(), key=lambda item: -int(item[1].get("day", {}).get("processed") or 0))
        self.render(
            "job_metrics.html",
            title="Metrics",
            tab="job_metrics",
            rows=rows,
            chart=throughput_svg(series),
            seconds=_seconds,
        )


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    if value == float("inf"):
        return "> 1 h"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:g} s"
