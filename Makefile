# One entry point for people and CI. Everything installs into .venv from this repo's files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install test lint format demo clean

$(STAMP): pyproject.toml $(wildcard migrations/*.py migrations/versions/*.py)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff format --check orionlite tests migrations
	$(BIN)/ruff check orionlite tests migrations
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format orionlite tests migrations
	$(BIN)/ruff check --fix orionlite tests migrations

demo: $(STAMP)
	bash examples/demo.sh

clean:
	rm -rf $(VENV) demo .pytest_cache .ruff_cache .mypy_cache
