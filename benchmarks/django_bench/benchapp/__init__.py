"""The benchmark's app: a no-op ``@task`` and its conveyor job twin, and their drain markers."""
