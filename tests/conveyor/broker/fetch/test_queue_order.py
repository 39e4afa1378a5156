"""Queue order strategies (``conveyor.broker.fetch.queue_order``): the weighted draw before each fetch.

Strict order and priority steps with a real worker are in ``tests/conveyor/broker/test_worker_queues.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conveyor.broker.fetch.queue_order import WeightedCycle


def test_weighted_cycle_draws_each_queue_first_in_proportion_to_its_weight() -> None:
    WeightedCycle.configure({"a": 3, "b": 1}, seed=7)
    cycle = WeightedCycle(["a", "b"])
    firsts = [cycle.consume(2)[0] for _ in range(4000)]
    assert 0.72 <= firsts.count("a") / len(firsts) <= 0.78
    assert all(sorted(cycle.consume(2)) == ["a", "b"] for _ in range(100))  # every queue, every fetch


def test_weighted_cycle_follows_the_consumed_queues() -> None:
    WeightedCycle.configure({"a": 3}, seed=1)
    cycle = WeightedCycle()
    assert cycle.consume(5) == []
    cycle.update(["a", "c"])  # c has no weight: it counts as 1
    assert sorted(cycle.consume(5)) == ["a", "c"]


@pytest.fixture(autouse=True)
def _weights_put_back() -> Iterator[None]:
    weights = WeightedCycle.weights  # class state of the worker process
    yield
    WeightedCycle.configure(weights)


def test_each_weighted_order_names_every_queue_once_and_n_cuts_it() -> None:
    # Given three queues, one weighted heavily
    WeightedCycle.configure({"a": 5}, seed=3)
    cycle = WeightedCycle(["a", "b", "c"])

    # When orders are drawn
    orders = [cycle.consume(3) for _ in range(200)]

    # Then each names every queue exactly once, and asking for 1 gives the first only
    assert all(sorted(order) == ["a", "b", "c"] for order in orders)
    assert len(cycle.consume(1)) == 1


def test_the_same_seed_draws_the_same_orders_and_a_reported_queue_changes_nothing() -> None:
    # Given two draws from the same weights and seed, one told which queue was last used
    def draws(rotate: bool) -> list[list[str]]:
        WeightedCycle.configure({"a": 2, "b": 1, "c": 1}, seed=11)
        cycle = WeightedCycle(["a", "b", "c"])
        found = []
        for _ in range(50):
            found.append(cycle.consume(3))
            if rotate:
                cycle.rotate(found[-1][0])
        return found

    # Then the orders are the same: the draw is weighted random, not rotated
    first = draws(rotate=False)
    assert first == draws(rotate=True)
    assert len({tuple(order) for order in first}) > 1  # random: not one order every time
