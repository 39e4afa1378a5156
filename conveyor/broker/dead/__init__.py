"""Jobs that will not run again by themselves: the dead set (``dead_set``) and what Retry would
send for a record (``retry_plan``)."""

__all__: list[str] = []  # the modules are the API: import from them
