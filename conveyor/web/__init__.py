"""Flower integration: login, the Schedule and Dead pages, queue-depth metrics (``conveyor[flower]``)."""

from conveyor.extras import require_extra

require_extra("flower", "flower", "tornado", "prometheus_client")

__all__: list[str] = []  # the modules are the API: import from them
