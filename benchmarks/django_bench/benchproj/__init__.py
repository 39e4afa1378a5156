"""The benchmark's Django project (``benchmarks/django_tasks.py``): one app, SQLite, the bench's Redis."""
