# Tierwise: `make reports` renders the reports, `make test` runs the tests.
# Both set up the environment (.venv) on first use. `make help` lists every target.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tierwise-installed
TW := $(BIN)/tierwise

RAW ?= data/raw
PROCESSED ?= data/processed
REPORTS ?= reports
YEAR ?=
WINDOW ?=
WORKERS ?= 0

LOCATIONS := --raw $(RAW) --processed $(PROCESSED) --reports $(REPORTS)
TERM := $(if $(YEAR),--year $(YEAR)) $(if $(WINDOW),--window $(WINDOW))

.DEFAULT_GOAL := help
.PHONY: help venv demo-data ingest process render reports test lint format lab bench clean

help: ## list the targets
	@echo "Tierwise: MTSS / RTI screening reports. Usage: make TARGET [YEAR=2025-2026 WINDOW=winter]"
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

# The environment is rebuilt only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@echo "Setting up the environment in $(VENV) (first run only)..."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name tierwise --display-name "Tierwise (.venv)"
	touch $(STAMP)

venv: $(STAMP) ## set up the Python environment in .venv (automatic on first use)

demo-data: $(STAMP) ## write the synthetic demo district into data/raw/
	$(TW) demo-data $(LOCATIONS)

ingest: $(STAMP) ## read data/raw/ into the canonical tables in data/processed/
	$(TW) ingest $(LOCATIONS) $(TERM)

process: $(STAMP) ## compute tiers from the canonical tables
	$(TW) process $(LOCATIONS) $(TERM)

render: $(STAMP) ## render the per-school HTML reports from data/processed/
	$(TW) render $(LOCATIONS) $(TERM) --workers $(WORKERS)

reports: $(STAMP) ## run every stage and render the reports (demo district if data/raw/ is empty)
	$(TW) reports $(LOCATIONS) $(TERM) --workers $(WORKERS)

test: $(STAMP) ## run the tests and the linter
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lab: $(STAMP) ## open JupyterLab on the project's kernel
	$(BIN)/jupyter lab --notebook-dir=.

clean: ## remove processed data, reports and caches (keeps data/raw/ and .venv)
	find $(PROCESSED) -mindepth 1 ! -name .gitkeep -delete
	find $(REPORTS) -mindepth 1 ! -name .gitkeep -delete
	rm -rf .pytest_cache .ruff_cache .hypothesis
