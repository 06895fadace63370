# Sauti — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FEEDBACK_HOST ?= 127.0.0.1
export FEEDBACK_PORT ?= 8000

.PHONY: run test test-postgres install bench screens messages lint audit clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Serve the demo on http://127.0.0.1:8000 (SQLite under var/; demo data on first start).
run: $(STAMP)
	$(BIN)/feedback migrate
	$(BIN)/feedback seed-demo
	$(BIN)/feedback serve --host $(FEEDBACK_HOST) --port $(FEEDBACK_PORT)

## The whole suite (browser tests included) on SQLite.
test: $(STAMP)
	$(BIN)/python -m tests.preflight
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

## The same suite against PostgreSQL (127.0.0.1:5432, database test).
test-postgres: $(STAMP)
	FEEDBACK_TEST_DATABASE_URL=$${FEEDBACK_TEST_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test} \
	  $(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

## Benchmarks (results in docs/BENCHMARKS.md).
bench: $(STAMP)
	$(BIN)/python -m bench.run

## Screenshots of every kiosk step, the inbox and the board (docs/screens/).
screens: $(STAMP)
	$(BIN)/python -m tests.browser.screens

## Extract translatable strings and update the three catalogues.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k translate -o feedback/locale/messages.pot --no-location --sort-output --project Sauti .
	$(BIN)/pybabel update -i feedback/locale/messages.pot -d feedback/locale --no-fuzzy-matching --ignore-obsolete --width 100
	$(BIN)/python -c 'from feedback.i18n import fill_source_catalogue; print(fill_source_catalogue(), "English entries filled")'

lint: $(STAMP)
	$(BIN)/ruff check feedback tests bench

audit: $(STAMP)
	$(BIN)/pip-audit --skip-editable --progress-spinner off

clean:
	rm -rf $(VENV) var/*.db var/*.db-wal var/*.db-shm
