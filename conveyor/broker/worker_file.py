"""``config/worker.yaml``: the worker's queues and concurrency, in the shape of Sidekiq's ``sidekiq.yml``.

::

    concurrency: 5
    queues:            # [name, weight]: weighted fetch; plain names: strict order
      - [high_priority, 2]
      - [default, 1]
      - [low_priority, 1]
      - [mailers, 1]

Every queue has a weight (weighted fetch) or none does (strict order, top
first); mixing the two is refused, because Sidekiq silently never serves a
plain name among weighted ones. ``load_worker_config`` validates the file and
raises ``WorkerConfigError`` naming the file and the field; ``apply`` writes it
into a Celery app so ``celery -A app worker`` needs no ``-Q`` or ``-c`` (both
still override).

Example::

    apply(app, load_worker_config("config/worker.yaml"))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from celery import Celery
from kombu.entity import Exchange, Queue
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from conveyor.broker.fetch.queue_order import STRICT, WEIGHTED, WeightedCycle
from conveyor.errors import WorkerConfigError
from conveyor.settings import Settings, forget
from conveyor.validation import validate_queue_name

__all__ = ["WorkerConfig", "apply", "load_worker_config"]


class WorkerConfig(BaseModel):
    """The validated contents of ``worker.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: int = Field(default=5, ge=1, le=1024)
    queues: list[str | tuple[str, int]] = Field(min_length=1)

    @field_validator("queues", mode="before")
    @classmethod
    def _entries(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError("must be a list of queue names, or of [name, weight] pairs")
        entries: list[str | tuple[str, int]] = []
        for index, entry in enumerate(value):
            where = f"entry {index + 1}"
            if isinstance(entry, str):
                entries.append(validate_queue_name(entry, where, ValueError))
            elif isinstance(entry, list | tuple) and len(entry) == 2:
                name, weight = entry
                validate_queue_name(name, where, ValueError)
                if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
                    raise ValueError(f"{where} ({name}): the weight must be an int >= 1, got {weight!r}")
                entries.append((name, weight))
            else:
                raise ValueError(f"{where} must be a queue name or a [name, weight] pair, got {entry!r}")
        return entries

    @model_validator(mode="after")
    def _consistent(self) -> WorkerConfig:
        names = self.names
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"queues: {', '.join(duplicates)} listed more than once")
        weighted = [isinstance(entry, tuple) for entry in self.queues]
        if any(weighted) and not all(weighted):
            plain = [entry for entry in self.queues if isinstance(entry, str)]
            raise ValueError(
                f"queues: {', '.join(plain)} have no weight while others do; give every queue a weight "
                "([name, weight]) for weighted fetch, or none for strict order"
            )
        return self

    @property
    def names(self) -> list[str]:
        return [entry if isinstance(entry, str) else entry[0] for entry in self.queues]

    @property
    def mode(self) -> Literal["strict", "weighted"]:
        return "weighted" if isinstance(self.queues[0], tuple) else "strict"

    @property
    def weights(self) -> dict[str, int]:
        return {entry[0]: entry[1] for entry in self.queues if isinstance(entry, tuple)}


def load_worker_config(path: str | Path) -> WorkerConfig:
    """Read and validate a worker.yaml; ``WorkerConfigError`` names the file and field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise WorkerConfigError(f"{path}: cannot read the worker configuration: {exc}") from exc
    if not isinstance(data, dict):
        raise WorkerConfigError(f"{path}: expected a mapping with 'concurrency' and 'queues', got {data!r}")
    try:
        return WorkerConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'file'}: {_message(error)}" for error in exc.errors()
        )
        raise WorkerConfigError(f"{path}: {problems}") from None


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key; accepted keys are 'concurrency' and 'queues'"
    message: str = error["msg"]
    return message.removeprefix("Value error, ")


def apply(app: Celery, config: WorkerConfig) -> None:
    """Make ``celery -A app worker`` consume ``config``'s queues, in its order, with its concurrency.

    The names are mapped through the app's ``conveyor_queue_name_prefix`` (``conveyor.settings``).
    """
    queue = Settings.from_app(app).queue
    names = [queue(name) for name in config.names]
    if config.mode == "weighted":
        WeightedCycle.configure({queue(name): weight for name, weight in config.weights.items()})
    transport = {
        **app.conf.broker_transport_options,
        "queue_order_strategy": WEIGHTED if config.mode == "weighted" else STRICT,
    }
    app.conf.update(
        # Each queue on its own direct exchange, as Celery makes missing queues: a bare
        # Queue(name) would bind every queue to the "default" exchange and routing key.
        task_queues=[Queue(name, Exchange(name), routing_key=name) for name in names],  # type: ignore[no-untyped-call]
        worker_concurrency=config.concurrency,
        broker_transport_options=transport,
    )
    forget(app)
