# make run  : start the service (worker, beat, Flower) on a Redis it finds or starts
# make test : lint, type-check and run every test, on a Redis it finds or starts
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
WITH_REDIS := $(BIN)/python -m conveyor.devserver --

.PHONY: help install run worker beat flower test lint typecheck pytest bench bench-priority bench-delay bench-eta clean

help:
	@echo "make run    start worker, beat and Flower (creates .venv and finds or starts a Redis)"
	@echo "make test   ruff, mypy and pytest (creates .venv and finds or starts a Redis)"
	@echo "make worker | beat | flower | lint | typecheck | pytest | bench | bench-priority | bench-delay | bench-eta | clean"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m conveyor.devserver --data-dir var/redis -- $(BIN)/python -m app.run

worker: $(STAMP)
	$(WITH_REDIS) $(BIN)/celery -A app worker --loglevel=INFO

beat: $(STAMP)
	$(WITH_REDIS) $(BIN)/celery -A app beat --loglevel=INFO

flower: $(STAMP)
	$(WITH_REDIS) $(BIN)/celery -A app flower

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(WITH_REDIS) $(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m conveyor.devserver --private -- $(BIN)/python -m benchmarks.run

bench-priority: $(STAMP)
	$(BIN)/python -m conveyor.devserver --private -- $(BIN)/python -m benchmarks.priority_latency

bench-delay: $(STAMP)
	$(BIN)/python -m conveyor.devserver --private -- $(BIN)/python -m benchmarks.delay_lateness

bench-eta: $(STAMP)
	$(BIN)/python -m conveyor.devserver --private -- $(BIN)/python -m benchmarks.eta_redelivery

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
