# The two commands a newcomer types: `make up` and `make test`. Each does its own set-up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install up migrate test unit integration e2e lint format typecheck bench-import bench-rules bench-packages bench-jobs bench-scheduled bench-ui clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	@touch $(STAMP)

install: $(STAMP)

## the whole system on this machine: embedded Redis + SQLite, worker, beat, API on :8001
up: install
	$(BIN)/synapse up

migrate: install
	$(BIN)/synapse migrate

## the whole suite: lint, types, unit, integration and end-to-end tests
# Four test files at a time (pytest-xdist, a file stays in one process for its fixtures): the
# integration and browser tests mostly wait on workers, Redis and browsers, not on the CPU.
# Then the few tests of a timing promise (marked `alone`), with nothing else on the machine.
TEST_PROCESSES ?= 4
test: install lint typecheck
	$(BIN)/pytest -q -n $(TEST_PROCESSES) --dist loadfile --durations=15 -m "not alone" tests
	$(BIN)/pytest -q -m alone tests

unit: install
	$(BIN)/pytest -q tests/unit

integration: install
	$(BIN)/pytest -q tests/integration

e2e: install
	$(BIN)/pytest -q tests/e2e

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

typecheck: install
	$(BIN)/mypy

## import rows/s with the ledger vs raw executemany/\copy, re-import, .xlsx, peak memory; ARGS=--quick (docs/benchmarks.md)
bench-import: install
	$(BIN)/python bench/bench_import.py $(ARGS)

## rule evaluations/s, 10 rules x 10,000 and 100,000 assets, beside plain Python (docs/benchmarks.md)
bench-rules: install
	$(BIN)/python bench/bench_rules.py

bench-packages: install
	$(BIN)/python bench/bench_packages.py

## no-op jobs/s vs raw Celery, HTTP enqueue rate, progress-event latency (docs/benchmarks.md)
bench-jobs: install
	$(BIN)/python bench/bench_jobs.py $(ARGS)

## 1,000 jobs scheduled 5-15 s ahead: how soon after its time each is queued and started (docs/scheduled-jobs.md)
bench-scheduled: install
	$(BIN)/python bench/bench_scheduled.py $(ARGS)

## Job Queue page and GET /api/v1/jobs p95 with 100,000 jobs, SQLite (+ PostgreSQL if SYNAPSE_TEST_POSTGRES_URL); ARGS=--postgres URL (docs/benchmarks.md)
bench-ui: install
	$(BIN)/python bench/bench_ui.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
