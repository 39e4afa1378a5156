"""The order in which a worker asks Redis for its queues: strict or Sidekiq-style weighted.

kombu's Redis transport sends one ``BRPOP`` per fetch over every (priority step,
queue) list and takes the first non-empty one. Before each fetch it asks a
*queue-order strategy* (``broker_transport_options["queue_order_strategy"]``)
for the queue order:

- ``"priority"`` (kombu ≥ 5.7): the configured order, always. A queue is served
  only when all queues above it are empty (Sidekiq's strict ordering).
- ``"conveyor.broker.fetch.queue_order:WeightedCycle"``: a weighted random order drawn anew before
  every fetch: each queue name repeated ``weight`` times, shuffled, duplicates
  dropped (Sidekiq's weighted fetch). With queues ``[a, 3], [b, 1]`` both kept
  busy, ``a`` is first 3 times in 4; no queue starves.

Note that kombu puts the priority step *outside* the queue loop: every queue's
priority-0 list is tried before any queue's priority-1 list. Message priority
therefore wins over queue order; see the README.

Example::

    WeightedCycle.configure({"high_priority": 2, "default": 1})
    app.conf.broker_transport_options = {"queue_order_strategy": "conveyor.broker.fetch.queue_order:WeightedCycle"}
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import ClassVar

__all__ = ["STRICT", "WEIGHTED", "WeightedCycle"]

STRICT = "priority"
WEIGHTED = "conveyor.broker.fetch.queue_order:WeightedCycle"


class WeightedCycle:
    """A kombu queue-order strategy drawing a weighted random order before each fetch.

    kombu instantiates it without arguments, so the weights are class state, set
    once per worker process by ``configure`` (``conveyor.broker.worker_file`` does this
    when the app loads ``config/worker.yaml``). A queue without a weight counts as 1.
    """

    weights: ClassVar[dict[str, int]] = {}
    _random: ClassVar[random.Random] = random.Random()

    @classmethod
    def configure(cls, weights: dict[str, int], seed: int | None = None) -> None:
        cls.weights = dict(weights)
        cls._random = random.Random(seed)

    def __init__(self, items: Iterable[str] | None = None) -> None:
        self.items: list[str] = list(items or [])
        self._pool: list[str] = []
        self._update_pool()

    def _update_pool(self) -> None:
        weights = type(self).weights
        self._pool = [name for name in self.items for _ in range(weights.get(name, 1))]

    def update(self, items: Iterable[str]) -> None:
        """Called by kombu when the consumed queues change."""
        self.items = list(items)
        self._update_pool()

    def consume(self, n: int) -> list[str]:
        """The queue order for the next fetch (the first ``n`` of a fresh draw)."""
        pool = self._pool[:]
        type(self)._random.shuffle(pool)
        return list(dict.fromkeys(pool))[:n]

    def rotate(self, last_used: str) -> None:
        """kombu reports the queue it just fetched from; a weighted draw ignores it."""

    def close(self) -> None:
        """Nothing to release."""
