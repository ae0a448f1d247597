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
BENCH_ARGS ?=

LOCATIONS := --raw $(RAW) --processed $(PROCESSED) --reports $(REPORTS)
TERM := $(if $(YEAR),--year $(YEAR)) $(if $(WINDOW),--window $(WINDOW))

.DEFAULT_GOAL := help
.PHONY: help venv demo-data ingest process render reports stages test lint format lab bench fuzz clean

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

# Incremental stages: stamps under $(PROCESSED)/.stamps record what was built from what.
# A re-run with nothing changed does nothing; a changed notebook re-renders only its own
# reports; changed raw data, config or code re-runs the stages that depend on it.
STAMPS := $(PROCESSED)/.stamps
TERMKEY := $(or $(YEAR),latest)-$(or $(WINDOW),latest)
RAW_FILES = $(wildcard $(RAW)/*.csv $(RAW)/*.CSV $(RAW)/*.xlsx $(RAW)/*.XLSX)
CONFIG_FILES := $(shell find config -type f -not -name '*~' 2>/dev/null)
# The code each stage runs (the folder tree is the data flow): a stage re-runs when its
# own code, or the shared modules and config package, change.
py = $(shell find $(1) -name '*.py' 2>/dev/null)
SHARED_CODE := $(wildcard pipeline/*.py) $(call py,pipeline/config) pipeline/stages/store.py
INGEST_CODE := $(SHARED_CODE) $(call py,pipeline/ingest pipeline/quality) pipeline/stages/ingest.py
PROCESS_CODE := $(SHARED_CODE) $(call py,pipeline/rules pipeline/groups pipeline/stats) \
	pipeline/stages/process.py
REPORT_CODE := $(shell find pipeline/reports pipeline/render -type f -not -name '*.pyc' 2>/dev/null)
NOTEBOOK_FILES := $(wildcard notebooks/*.ipynb)

$(STAMPS)/ingest-$(TERMKEY): $(RAW_FILES) $(CONFIG_FILES) $(INGEST_CODE) | $(STAMP)
	$(TW) ingest $(LOCATIONS) $(TERM)
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/process-$(TERMKEY): $(STAMPS)/ingest-$(TERMKEY) $(PROCESS_CODE)
	$(TW) process $(LOCATIONS) $(TERM)
	@touch $@

# One render call for everything out of date ($? = the prerequisites newer than the stamp):
# only changed notebooks -> only their reports; anything else changed -> every report.
$(STAMPS)/render-$(TERMKEY): $(STAMPS)/process-$(TERMKEY) $(NOTEBOOK_FILES) $(REPORT_CODE)
	$(TW) render $(LOCATIONS) $(TERM) --workers $(WORKERS) $(if $(filter-out \
	  $(NOTEBOOK_FILES),$?),,$(foreach nb,$(filter $(NOTEBOOK_FILES),$?),--notebook $(basename $(notdir $(nb)))))
	@touch $@

ingest: $(STAMP) ## read data/raw/ into the canonical tables in data/processed/
	$(TW) ingest $(LOCATIONS) $(TERM)

process: $(STAMP) ## compute tiers, groups, progress decisions and effectiveness
	$(TW) process $(LOCATIONS) $(TERM)

render: $(STAMP) ## render every report from data/processed/ (always, ignoring stamps)
	$(TW) render $(LOCATIONS) $(TERM) --workers $(WORKERS)

reports: $(STAMP) ## run the stages that are out of date and render the reports (demo district if data/raw/ is empty)
	@$(TW) demo-data $(LOCATIONS) --if-empty
	@$(MAKE) --no-print-directory stages

stages: $(STAMPS)/render-$(TERMKEY)
	@echo "Reports are up to date: open $(REPORTS)/index.html"

bench: $(STAMP) ## benchmark the pipeline against the naive papermill + nbconvert loop (prints figures)
	@for script in $(filter-out bench/bench_pipeline.py,$(wildcard bench/bench_*.py)); do \
	  echo "== $$script"; $(BIN)/python $$script || exit 1; done
	@echo "== bench/bench_pipeline.py $(BENCH_ARGS)"
	@$(BIN)/python bench/bench_pipeline.py $(BENCH_ARGS)

fuzz: $(STAMP) ## feed 2,000 random and damaged exports to ingest: never a traceback (about an hour)
	$(BIN)/python bench/fuzz_ingest.py 2000

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
	rm -rf $(STAMPS)
	find $(REPORTS) -mindepth 1 ! -name .gitkeep -delete
	rm -rf .pytest_cache .ruff_cache .hypothesis
