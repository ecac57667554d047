# Projekt server. `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
LINT_PATHS := src tests migrations $(wildcard bench)
# The suite in parallel (pytest-xdist, one process per CPU; a database per process, see
# tests/conftest.py), a test file kept on one process so its module fixtures start once.
# `make test PYTEST_ARGS=tests/issues` runs a part in one process.
TEST_WORKERS ?= auto
PYTEST_ARGS  ?= -n $(TEST_WORKERS) --dist loadfile

.DEFAULT_GOAL := help
.PHONY: help run test check lint typecheck format openapi migrate bench clean browser

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP) ## serve on http://127.0.0.1:8000 (SQLite under ./var/; demo data on first run)
	$(BIN)/projekt serve --host $(HOST) --port $(PORT) --demo

migrate: $(STAMP) ## apply pending migrations
	$(BIN)/projekt migrate

test: $(STAMP) browser ## lint, type check and the whole test suite
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

check: test ## what CI runs (same as test)

browser: ## make sure Debian's chromium is there for the browser tests
	@test -x /usr/bin/chromium || ./scripts/install-chromium

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP) ## reformat the code
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

openapi: $(STAMP) ## regenerate the committed openapi.yaml from the app
	$(BIN)/projekt openapi > openapi.yaml

bench: $(STAMP) ## run the benchmarks (QUICK=1 for a few seconds each)
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
