"""The fetch: how a worker takes a job from Redis and gives it back (super fetch).

``reliable_fetch`` (kombu's Redis transport, subclassed: the claim sent by EVALSHA, the wait on
wake-up lists, the send side), ``claim`` (what a claim accepts), ``acks`` (acknowledge and
hand back, owner-aware), ``owners`` (heartbeats, recovery of a dead worker's jobs),
``handoff`` (a running job acknowledges its own message in a cold shutdown), ``poison``
(a job that kills its worker three times), ``channel_caches`` (what a channel keeps between
fetches), ``queue_order`` (strict and weighted queue order), ``consumer`` (messages Celery
cannot run go to the dead set).
"""

__all__: list[str] = []  # the modules are the API: import from them
