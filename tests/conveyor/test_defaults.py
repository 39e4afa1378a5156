"""``conveyor.defaults``: ``is_redis_url``, and the relations between defaults that their comments promise."""

from __future__ import annotations

import pytest

from conveyor import defaults


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://cache.example:6380/1",
        "unix:///run/redis.sock",
        "redis+sentinel://10.0.0.1:26379/mymaster",
        "sentinel://10.0.0.1:26379",
    ],
)
def test_a_redis_url_directly_or_through_sentinel_is_redis(url: str) -> None:
    assert defaults.is_redis_url(url)


@pytest.mark.parametrize("url", ["amqp://guest@localhost//", "memory://", "", None, "REDIS://upper"])
def test_anything_else_is_not_redis(url: str | None) -> None:
    assert not defaults.is_redis_url(url)


def test_short_waits_stay_eta_messages_well_under_the_visibility_timeout() -> None:
    # configure refuses a threshold above half the visibility timeout: the default must pass that check
    assert defaults.DEFAULT_SCHEDULED_THRESHOLD * 2 <= defaults.VISIBILITY_TIMEOUT


def test_one_late_heartbeat_does_not_make_a_live_worker_look_dead() -> None:
    assert defaults.HEARTBEAT_INTERVAL_S * 2 <= defaults.HEARTBEAT_TTL_S


def test_every_priority_has_its_own_list_and_the_default_is_in_the_middle() -> None:
    assert sorted(set(defaults.PRIORITY_STEPS)) == defaults.PRIORITY_STEPS
    assert defaults.PRIORITY_STEPS[0] == defaults.MIN_PRIORITY
    assert defaults.PRIORITY_STEPS[-1] == defaults.MAX_PRIORITY
    assert len(defaults.PRIORITY_STEPS) == defaults.MAX_PRIORITY - defaults.MIN_PRIORITY + 1
    assert defaults.MIN_PRIORITY < defaults.DEFAULT_PRIORITY < defaults.MAX_PRIORITY


def test_the_celery_settings_use_the_defaults_named_here() -> None:
    settings = defaults.CELERY_SETTINGS
    transport = settings["broker_transport_options"]
    assert settings["task_default_queue"] == defaults.DEFAULT_QUEUE
    assert settings["task_default_priority"] == defaults.DEFAULT_PRIORITY
    assert transport["priority_steps"] == defaults.PRIORITY_STEPS
    # one visibility timeout for the broker and the results
    assert transport["visibility_timeout"] == settings["result_backend_transport_options"]["visibility_timeout"]
    assert settings["accept_content"] == ["json"]  # never pickle
