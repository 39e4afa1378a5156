"""Reproducible benchmarks; see docs in each script and `make bench`."""
