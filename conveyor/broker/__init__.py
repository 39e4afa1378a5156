"""Redis as conveyor's broker: reliable fetch, queue order, scheduled set, dead set, consumer.

Everything here works on kombu messages and Redis keys (``conveyor.keys``) and knows
nothing of Job classes; the jobs layer above calls into it.
"""

__all__: list[str] = []  # the modules are the API: import from them
