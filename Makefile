# Kickoff. On a fresh machine `make demo` and `make test` install what they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PYTHONDONTWRITEBYTECODE ?= 1

.PHONY: install demo test ui-check ui-screenshots bench up soak soak-scaleout lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## The main job on its embedded default: local sandbox, SQLite, local Prefect.
demo: $(STAMP)
	$(BIN)/kickoff demo

## The whole test suite. PostgreSQL tests run too when KICKOFF_TEST_DATABASE_URL is set.
## One worker per core, at most four (each starts its own session servers); `TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -m "not ui" -n $(TEST_WORKERS) --maxprocesses=4

## What ops see in the Prefect UI, in a real browser: `kickoff up --sandbox`, one onboarding
## with one dead letter, then the dashboard, the failed run, its artifact and the Event Feed.
## Needs Debian's Chromium (`apt-get install chromium`; installed by the test when root).
## A few minutes, so not part of `make test`; `.ci/run` runs both.
ui-check: $(STAMP)
	$(BIN)/python -m pytest -m ui tests/ui

## The same, keeping what the browser saw as the README's screenshots (docs/ui/*.png).
ui-screenshots: $(STAMP)
	KICKOFF_UI_SCREENSHOTS=docs/ui $(BIN)/python -m pytest -m ui tests/ui

bench: $(STAMP)
	$(BIN)/python -m bench

## Fault-injection soak: randomized runs of the five procedures, invariants after each (0 violations).
SOAK_RUNS ?= 200
SOAK_JOBS ?= 2
soak: $(STAMP)
	$(BIN)/python -m soak --runs $(SOAK_RUNS) --jobs $(SOAK_JOBS)

## The same procedures on a Prefect server on PostgreSQL, three `prefect worker start`, the ledger
## on PostgreSQL (needs the machine's PostgreSQL on 127.0.0.1:5432; 5-16 min a run on 2 cores).
SCALEOUT_RUNS ?= 20
soak-scaleout: $(STAMP)
	$(BIN)/python -m soak.scaleout --runs $(SCALEOUT_RUNS)

up: $(STAMP)
	$(BIN)/kickoff up --sandbox

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .kickoff *.egg-info .pytest_cache
