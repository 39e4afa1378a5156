"""config/worker.yaml: validation with file and field in the message, and what it does to the app."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery import Celery

import conveyor
from conveyor.broker.worker_file import apply, load_worker_config
from conveyor.errors import WorkerConfigError

ROOT = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "worker.yaml"
    path.write_text(text)
    return path


def test_plain_names_mean_strict_order(tmp_path: Path) -> None:
    config = load_worker_config(write(tmp_path, "queues: [critical, default, low]\n"))
    app = conveyor.configure(Celery("strict", set_as_current=False), default=False)
    apply(app, config)
    assert config.mode == "strict"
    assert config.concurrency == 5
    assert app.conf.broker_transport_options["queue_order_strategy"] == "priority"
    # Applying keeps the transport options conveyor set (timeouts, priority steps).
    assert app.conf.broker_transport_options["socket_connect_timeout"] == 2.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("queues: [a]\nthreads: 4\n", "threads: unknown key; accepted keys are 'concurrency' and 'queues'"),
        ("queues: [[a, 0], [b, 1]]\n", r"queues: entry 1 \(a\): the weight must be an int >= 1, got 0"),
        ("queues: [[a, 2], [b, x]]\n", "entry 2 \\(b\\): the weight must be an int >= 1"),
        ("queues: [a, b, a]\n", "queues: a listed more than once"),
        ("queues: [[a, 2], b]\n", r"queues: b have no weight while others do; give every queue a weight"),
        ("queues: []\n", "queues: List should have at least 1 item"),
        ("concurrency: 0\nqueues: [a]\n", "concurrency: Input should be greater than or equal to 1"),
        ("queues: ['has space']\n", "queues: entry 1 must be a queue name"),
        ("queues: [[a, 1, 2]]\n", "queues: entry 1 must be a queue name or a \\[name, weight\\] pair"),
        ("concurrency: 2\n", "queues: Field required"),
        ("- a\n- b\n", "expected a mapping with 'concurrency' and 'queues'"),
        ("queues: [a\n", "cannot read the worker configuration"),
    ],
)
def test_invalid_files_name_the_file_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(WorkerConfigError, match=message) as caught:
        load_worker_config(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_missing_file_is_a_worker_config_error(tmp_path: Path) -> None:
    with pytest.raises(WorkerConfigError, match="cannot read"):
        load_worker_config(tmp_path / "nope.yaml")
