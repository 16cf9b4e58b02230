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

# Most tests run in parallel processes; the few that count what the shared database server
# does (transactions, leases of 0.1 s) run alone afterwards.
TEST_WORKERS ?= 3
test: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal -m "not serial"
	$(BIN)/pytest -m serial

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
# Optuna TPE and scikit-optimize's gp_minimize; then tpe, nsga2, constraints and bayes at
# size against Optuna (benchmarks/search.py, docs/algorithms.md). By default a shorter run
# (about 8 minutes of CPU on 2 cores, estimated from its parts in docs/benchmarks.md) that
# still compares every method on every problem: seeds 0-2 for the 60-trial regrets (most
# of it is gp_minimize), then seeds 0-2 in search.py except seed 0 alone for several
# objectives (its longest part), without the bayes regret runs. FULL=1 for the figures in
# the docs: seeds 0-9 and bayes to 1,000 trials (more than an hour on 2 cores).
FULL ?=
QUALITY_ARGS ?= $(if $(FULL),--seeds 10,--seeds 3)
SEARCH_ARGS ?= $(if $(FULL),--full,--several-seeds 1)
bench-quality: $(STAMP)
	$(BIN)/python -c "import optuna" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/quality.py $(QUALITY_ARGS)
	$(BIN)/python benchmarks/search.py $(SEARCH_ARGS)

# Coordination (docs/benchmarks.md, "Coordination"): throughput against Optuna and bare
# SQLite/PostgreSQL loops, cost growth, hunt overhead, start-up, memory (about 10 minutes);
# then the dashboard (below: about 10 minutes). make bench BENCH_ARGS=--quick for a smaller
# run of both that leaves the docs alone (the dashboard benchmark takes only --quick of them).
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -c "import optuna, psutil" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/coordination.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/dashboard.py $(filter --quick,$(BENCH_ARGS)) $(DASHBOARD_BENCH_ARGS)

# The dashboard alone (docs/dashboard.md, "Performance"): first paint and trials-table pages
# at 1,000-100,000 trials on both backends, peak RSS, and the throughput of an 8-worker hunt
# with / without the dashboard open, as a ratio (about 10 minutes; make bench-dashboard
# DASHBOARD_BENCH_ARGS=--quick for a shorter run).
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
