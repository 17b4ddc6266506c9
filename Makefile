# Order pipeline: S3 -> Lambda (Chalice) -> DynamoDB -> SQS, runnable offline.
# `make` (or `make help`) lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# One Python, the Lambda runtime's: .python-version (which pyenv and uv read) names it,
# and the venv, the tests, the sandbox's function environment and `chalice deploy`
# (which picks the function's runtime from it) all use it.
PYTHON_VERSION := $(shell cat .python-version)
PYTHON ?= $(shell command -v python$(PYTHON_VERSION) 2>/dev/null || echo python3)
INSTALL_PYTHON := install it with pyenv (pyenv install $(PYTHON_VERSION); pyenv then picks it in this folder by .python-version), or uv (uv python install $(PYTHON_VERSION)), or your system's python$(PYTHON_VERSION) package, then run make again
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# Both `make local-up SANDBOX=embedded` and `SANDBOX=embedded make local-up` work.
SANDBOX ?= auto
SANDBOX_PORT ?= 4566
STAGE ?= local
API_PORT ?= 8000
SIZE ?= S,M
CUSTOMERS ?= 1000
ORDERS ?= 5000
ITEMS ?= 15000
SEED ?= 1
ORPHANS ?= 0
INVALID ?= 0
REGION ?= $(AWS_DEFAULT_REGION)
CHAOS ?=
CHAOS_SEED ?=
# The tests run in parallel processes (pytest-xdist), a test module per process at a time:
# most of an end-to-end test's time is spent waiting on other processes, so four keep the
# two cores of CI busy. TEST_WORKERS=0 runs them in the current process (for pdb).
TEST_WORKERS ?= 4
PARALLEL = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)
export SANDBOX SANDBOX_PORT STAGE CHAOS CHAOS_SEED
export AWS_DEFAULT_REGION ?= us-east-1
export DISABLE_DEPRECATION_NOTICE := 1

.PHONY: help venv check demo test lint test-unit test-functional test-e2e \
        local-up local-down local-status local-env local-run local-deliver local-api logs tail status replay \
        generate upload bench deploy destroy clean

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

check: ## Fail fast if a tool the project needs is missing (the Python of .python-version, the Lambda runtime's)
	@command -v $(PYTHON) >/dev/null || { echo "error: no Python found; this project needs Python $(PYTHON_VERSION) (.python-version): $(INSTALL_PYTHON)" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(".".join(map(str, sys.version_info[:2])) != "$(PYTHON_VERSION)")' || { echo "error: this project runs on Python $(PYTHON_VERSION), the Lambda runtime python$(PYTHON_VERSION) (.python-version), but $(PYTHON) is $$($(PYTHON) --version 2>&1 | cut -d' ' -f2): $(INSTALL_PYTHON)" >&2; exit 1; }
	@$(PYTHON) -c 'import venv' 2>/dev/null || { echo "error: the Python venv module is missing (Debian: apt-get install python3-venv)" >&2; exit 1; }

venv: $(STAMP) ## Create .venv from the pinned requirements (done by every target that needs it)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt .python-version | check
	@$(BIN)/python -c 'import sys; sys.exit(".".join(map(str, sys.version_info[:2])) != "$(PYTHON_VERSION)")' 2>/dev/null || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m scripts.sandbox.function_package
	@touch $@

demo: $(STAMP) ## Run the sample batch through the embedded sandbox and print the messages (SANDBOX= for another)
	SANDBOX=$(if $(filter auto,$(SANDBOX)),embedded,$(SANDBOX)) $(BIN)/python -m scripts.demo

test: lint ## Check the code (make lint), then run every test tier: unit, functional, e2e, in parallel (what CI runs; TEST_WORKERS=4)
	$(BIN)/python -m pytest $(PARALLEL) tests

lint: $(STAMP) ## Check the code: ruff (style, imports, likely bugs) and mypy (types), configured in pyproject.toml
	$(BIN)/ruff check .
	$(BIN)/mypy

test-unit: $(STAMP) ## Run the unit tests (pure functions, no I/O)
	$(BIN)/python -m pytest tests/unit

test-functional: $(STAMP) ## Run the functional tests (moto in-process, Chalice test client)
	$(BIN)/python -m pytest $(PARALLEL) tests/functional

test-e2e: $(STAMP) ## Run the end-to-end tests (moto server, event runner, awslocal)
	$(BIN)/python -m pytest $(PARALLEL) tests/e2e

local-up: $(STAMP) ## Start and provision the sandbox (SANDBOX=auto|embedded|localstack|external, SANDBOX_PORT=4566; CHAOS=all|off|duplicate,late,kill,throttle,error,lost-answer,partial CHAOS_SEED=n: AWS at its worst, on purpose)
	$(BIN)/python -m scripts.sandbox up

local-down: $(STAMP) ## Stop everything local-up started (an external emulator keeps running)
	$(BIN)/python -m scripts.sandbox down

local-status: $(STAMP) ## Say what runs where, and how many messages wait in each queue
	$(BIN)/python -m scripts.sandbox status

local-env: $(STAMP) ## Print the sandbox's settings as KEY=value lines, for eval
	@$(BIN)/python -m scripts.sandbox env

local-run: $(STAMP) ## Run the event runner in the foreground (breakpoint() works)
	$(BIN)/python -m scripts.sandbox run

local-deliver: $(STAMP) ## Send the bucket's S3 events to the local runner or the function in LocalStack (TO=runner|function)
	@test -n "$(TO)" || { echo "error: say where, e.g. make local-deliver TO=runner" >&2; exit 2; }
	$(BIN)/python -m scripts.sandbox deliver --to $(TO)

local-api: $(STAMP) ## Serve the debugging routes with chalice local against the sandbox (API_PORT=8000); restarts on edits to app.py, chalicelib/, .chalice/config.json
	@$(BIN)/python -m scripts.sandbox api --host 127.0.0.1 --port $(API_PORT)

logs: $(STAMP) ## Follow the event runner: one line per invocation (VERBOSE=1 adds skipped events, records and tracebacks; ONCE=1 to stop)
	@$(BIN)/python -m scripts.logs $(if $(VERBOSE),--verbose,) $(if $(ONCE),--no-follow,)

tail: $(STAMP) ## Watch the output queue without taking messages (JSON=1, ONCE=1; CONSUME=1 takes and deletes every message, of every batch)
	@$(BIN)/python -m scripts.tail $(if $(JSON),--json,) $(if $(CONSUME),--consume,) $(if $(ONCE),--once,)

status: $(STAMP) ## Show a batch: files, rejects, misnamed uploads, orphans, publication (BATCH=<id>, or <folder>/<id> for files under a prefix)
	@test -n "$(BATCH)" || { echo "error: name the batch, e.g. make status BATCH=20230828 (or BATCH=partner-a/20230828)" >&2; exit 2; }
	@$(BIN)/python -m scripts.status "$(BATCH)"

replay: $(STAMP) ## Send dead-lettered events back through the handler, one line per event (DRY_RUN=1 to list, VERBOSE=1 for tracebacks)
	$(BIN)/python -m scripts.replay $(if $(DRY_RUN),--dry-run,)

generate: $(STAMP) ## Write a drop of test files to .sandbox/generated (CUSTOMERS, ORDERS, ITEMS, BATCH, SEED; ORPHANS, INVALID are fractions 0-1: ORPHANS=0.05 is 5%)
	$(BIN)/python -m scripts.generate --customers $(CUSTOMERS) --orders $(ORDERS) --items $(ITEMS) \
	  --batch $(or $(BATCH),generated) --seed $(SEED) --orphans $(ORPHANS) --invalid $(INVALID)

upload: $(STAMP) ## Upload a folder of CSV files to the sandbox with progress, then follow its batch (DIR=...)
	@test -n "$(DIR)" || { echo "error: name the folder, e.g. make upload DIR=.sandbox/generated/generated" >&2; exit 2; }
	@$(BIN)/python -m scripts.upload "$(DIR)"

bench: $(STAMP) ## Measure the pipeline end to end vs the original design (SIZE=S,M; SIZE=L for the large drop)
	$(BIN)/python -m scripts.bench --sizes $(SIZE)

deploy: $(STAMP) ## Deploy a stage to AWS: provision, chalice deploy, failed events to the DLQ (STAGE=dev REGION= DRY_RUN=1 ALLOW_ENDPOINT=1)
	AWS_REGION=$(REGION) AWS_DEFAULT_REGION=$(REGION) $(BIN)/python -m scripts.deploy deploy --stage $(STAGE) $(if $(DRY_RUN),--dry-run,) $(if $(ALLOW_ENDPOINT),--allow-endpoint,)

destroy: $(STAMP) ## Delete a deployed stage; CONFIRM=delete-data also deletes its table, queues and empty bucket (STAGE=dev REGION= DRY_RUN=1)
	AWS_REGION=$(REGION) AWS_DEFAULT_REGION=$(REGION) $(BIN)/python -m scripts.deploy destroy --stage $(STAGE) $(if $(DRY_RUN),--dry-run,) $(if $(CONFIRM),--confirm $(CONFIRM),)

clean: ## Stop the sandbox and remove .venv, .sandbox, chalice's packages and the tools' caches
	-@test -x $(BIN)/python && $(BIN)/python -m scripts.sandbox down
	rm -rf $(VENV) .sandbox .pytest_cache .mypy_cache .ruff_cache .hypothesis .chalice/deployments
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
