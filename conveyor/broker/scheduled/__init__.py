"""Jobs that wait in Redis for their time: the scheduled set and its poller (``scheduled_set``),
and the operator's view of them, Scheduled and Retries (``waiting``)."""

__all__: list[str] = []  # the modules are the API: import from them
