"""The Job API: declarations, enqueuing, execution, callbacks, retries (ActiveJob's core).

A ``Job`` is composed of one mixin per concern (``core``, ``queue_name``, ``priority``,
``enqueuing``, ``execution``), with ``callbacks`` and ``error_handling`` as class
decorators; ``task`` registers each class as a Celery task and ``adapters`` hands jobs
to Celery (or to a test). Imports only the broker layer and the leaves below it.
"""

__all__: list[str] = []  # the modules are the API: import from them
