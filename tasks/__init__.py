"""The service's jobs, one module per job; the worker imports them all."""
