"""What operators read, apart from the hot path: queues (size, latency, pause, purge: ``queue_state``
with depths), running jobs and worker processes (``busy``), per-class counts and times
(``metrics``)."""

__all__: list[str] = []  # the modules are the API: import from them
