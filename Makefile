# One entry point for people and CI. Everything installs into .venv from this repo's files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Tests exercise the optional extras too (plots, pandas, Dask, the dashboard, MySQL), so
# they run instead of skipping.
EXTRAS := test,plot,pandas,dask,dashboard,mysql
LINTED := orionlite tests migrations tools benchmarks examples

.PHONY: install test lint format demo clean docs chaos bench-quality bench bench-dashboard bench-early-stop

$(STAMP): pyproject.toml $(wildcard migrations/*.py migrations/versions/*.py)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format $(LINTED)
	$(BIN)/ruff check --fix $(LINTED)

demo: $(STAMP)
	bash examples/demo.sh

# docs/cli.md is generated from --help (tests/docs/test_cli_reference.py checks it).
docs: $(STAMP)
	$(BIN)/python tools/gen_cli_docs.py > docs/cli.md

# Fault injection: 8 workers, 300 trials, random SIGKILLs, a PostgreSQL and a MariaDB
# crash-restart (throwaway servers, never the shared ones); fails unless nothing was lost
# or doubled.
chaos: $(STAMP)
	$(BIN)/python tools/chaos.py

# Search quality (docs/benchmarks.md, "Search quality"): median regret of bayes, random,
# Optuna TPE and scikit-optimize's gp_minimize, all in one run (about 15 minutes); then
# tpe, nsga2, constraints and bayes at size against Optuna (docs/algorithms.md, about 10
# minutes with seeds 0-2; SEARCH_ARGS=--full for seeds 0-9 and bayes to 1,000 trials).
SEARCH_ARGS ?=
bench-quality: $(STAMP)
	$(BIN)/python -c "import optuna" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/quality.py
	$(BIN)/python benchmarks/search.py $(SEARCH_ARGS)

# Coordination (docs/benchmarks.md, "Coordination"): throughput against Optuna and bare
# SQLite/PostgreSQL loops, cost growth, hunt overhead, start-up, memory (about 10 minutes;
# make bench BENCH_ARGS=--quick for a smaller run that leaves the docs alone).
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -c "import optuna, psutil" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/coordination.py $(BENCH_ARGS)

# The dashboard (docs/dashboard.md, "Performance"): first paint and trials-table pages at
# 1,000-100,000 trials on both backends, peak RSS, extra load on an 8-worker hunt (about
# 10 minutes; make bench-dashboard DASHBOARD_BENCH_ARGS=--quick for a shorter run).
DASHBOARD_BENCH_ARGS ?=
bench-dashboard: $(STAMP)
	$(BIN)/python benchmarks/dashboard.py $(DASHBOARD_BENCH_ARGS)

# Early stopping (docs/benchmarks.md, "Early stopping"): epochs, wall time and best error
# of no stopping, median and asha against Optuna's pruners on SGDClassifier/digits, and
# the decision cost at 1,000 trials (seed 0: about 10 minutes; BENCH_ARGS=--seeds 10
# for seeds 0-9).
bench-early-stop: $(STAMP)
	$(BIN)/python -c "import optuna" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/early_stop.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) demo .pytest_cache .ruff_cache .mypy_cache
