# AIQLeads Stream: one entry point for installing, running and testing.
#
#   make deps     install system packages, .venv, Kafka jars, stripe-mock (idempotent, fast warm)
#   make up/down/status   the local services for development (state in .aiqleads)
#   make run      everything: services, worker, API, demo traffic
#   make test     start the test services, run pytest, stop the services (exit code = pytest's)
#   make bench    the same services, the benchmarks in tests/bench
#   make chaos    the fault scenarios (tests/e2e) at full size, plus the slow ones; a table
#   make lint     ruff
#
# Tests use their own state dir, $(TEST_STATE_DIR) (inside the git-ignored .aiqleads), so they
# never touch development data, and a ClickHouse *server* ($(TEST_CLICKHOUSE_URL)) besides
# the embedded chdb. Ports are the defaults: when `make up` is already serving them, the test run
# uses those services and leaves them running.
# Pass pytest options with PYTEST_ARGS, e.g. `make test PYTEST_ARGS="tests/integration -x"`.
# Test services left behind by a killed run: `AIQ_STATE_DIR=.aiqleads/test make down`.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
AIQLEADS := $(VENV)/bin/aiqleads
PYTEST := $(VENV)/bin/pytest

TEST_STATE_DIR ?= .aiqleads/test
TEST_CLICKHOUSE_URL ?= clickhouse://default:@127.0.0.1:9000/aiqleads
PYTEST_ARGS ?=
BENCH_ARGS ?= -s

# The environment of `make test` and `make bench`: services under the test state dir with a
# ClickHouse server; pytest sees the server URL as AIQ_TEST_CLICKHOUSE_URL, while
# AIQ_CLICKHOUSE_URL keeps its default so tests choose their backend explicitly.
TEST_ENV := AIQ_STATE_DIR=$(TEST_STATE_DIR) AIQ_TEST_CLICKHOUSE_URL=$(TEST_CLICKHOUSE_URL)
STACK := AIQLEADS=$(AIQLEADS) STACK_CLICKHOUSE_URL=$(TEST_CLICKHOUSE_URL) scripts/with-stack.sh

.PHONY: help deps up down status run test bench lint chaos

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

deps:
	@bash scripts/bootstrap.sh

up: deps
	$(AIQLEADS) up

down:
	@if [ -x $(AIQLEADS) ]; then $(AIQLEADS) down; fi

status:
	@$(AIQLEADS) status

run: deps
	$(AIQLEADS) run

# with-stack.sh is the only place the test services start and stop: `down` runs even when
# pytest fails or is interrupted, and the exit code is pytest's.
test: deps
	$(TEST_ENV) $(STACK) $(PYTEST) $(PYTEST_ARGS)

# Benchmarks live in tests/bench/bench_*.py, outside pytest's default test discovery.
bench: deps
	@bash scripts/bench-tools.sh
	PATH="$(CURDIR)/.aiqleads/tools/bin:$$PATH" $(TEST_ENV) $(STACK) $(PYTEST) tests/bench -m bench -p no:cacheprovider \
		-o 'python_files=bench_*.py test_*.py' $(BENCH_ARGS)

lint: deps
	$(VENV)/bin/ruff check .

# Each fault scenario starts its own Kafka, Redis and ClickHouse on free ports (tests/e2e),
# so no shared stack here; AIQ_CHAOS=1 selects the full sizes and the `chaos`-marked ones.
# pytest prints the scenario table at the end (and CHAOS_REPORT keeps it as JSON lines).
CHAOS_REPORT ?= .aiqleads/chaos.jsonl
chaos: deps
	@mkdir -p $(dir $(CHAOS_REPORT)) && rm -f $(CHAOS_REPORT)
	AIQ_CHAOS=1 AIQ_CHAOS_REPORT=$(CHAOS_REPORT) $(PYTEST) tests/e2e -p no:cacheprovider $(PYTEST_ARGS)
