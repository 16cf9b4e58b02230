"""Early stopping: epochs, wall time and best validation error, with and without stop
rules, against Optuna's pruners, on a real learning-curve workload.

Run with ``make bench-early-stop`` (or ``.venv/bin/python benchmarks/early_stop.py``).
Optuna comes from the ``bench`` extra. The workload is ``_sgd_curve.py``: scikit-learn's
``SGDClassifier.partial_fit`` on the digits data set, one epoch per step, 30 epochs,
over ``alpha``, ``eta0`` and ``learning_rate``; 60 trials, 4 workers, random search with
the seed of the run, for every method:

* ``none``, ``median``, ``asha``: ``hunt --n-workers 4 --early-stop RULE`` (default
  options: median ``min_trials=5, warmup_steps=0``; asha ``min_step=3,
  reduction_factor=3``; ``--methods 'asha {"min_step": 1}'`` gives a rule options),
  trials as command lines reporting through ``$ORIONLITE_PROGRESS_PATH``, on SQLite;
* ``optuna median``, ``optuna halving``: Optuna's ``MedianPruner()`` and
  ``SuccessiveHalvingPruner()`` (defaults) with ``RandomSampler(seed)``, the same
  training called in process, ``n_jobs=4`` threads, in-memory storage.

Reported per method, median over seeds: total epochs trained, wall time, and the best
final validation error (lowest error of a trial that trained all 30 epochs). Then the
decision cost: the worker's time to store a reported value and judge it (one batch per
value, the worst case) at 1,000 trials of 30 values of history, on SQLite and PostgreSQL.

The default runs seed 0 only (about 10 minutes on a loaded 2-core machine);
``--seeds 10`` runs seeds 0-9 as the issue asks (a bit over an hour there).
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import REPO, SCRATCH, pg_available, pg_database  # noqa: E402
from _sgd_curve import EPOCHS, SPACE, train  # noqa: E402

TRIALS = 60
WORKERS = 4
RULES = ("none", "median", "asha")
OPTUNA = ("optuna median", "optuna halving")
HISTORY_TRIALS = 1000
RESULTS = REPO / "benchmarks" / "results" / "early_stop.json"


def run_orionlite(rule: str, seed: int, folder: Path, config: str | None = None) -> dict[str, Any]:
    from orionlite.records import TrialStatus
    from orionlite.storage import Storage

    label = f"{rule}{len(config or '')}"
    url = f"sqlite:///{folder / f'{label}-{seed}.db'}"
    argv = [
        str(Path(sys.executable).parent / "hunt"),
        "-n", f"sgd-{rule}", "--storage", url, "--max-trials", str(TRIALS),
        "--n-workers", str(WORKERS), "--seed", str(seed), "--quiet",
        "--working-dir", str(folder / f"{label}-{seed}"),
        "--early-stop", rule, *(["--early-stop-config", config] if config else []), "--",
        sys.executable, str(HERE / "_sgd_curve.py"),
        *(f"--{name}~{prior}" for name, prior in SPACE.items()),
    ]  # fmt: skip
    started = time.monotonic()
    subprocess.run(argv, check=True, cwd=folder)
    wall = time.monotonic() - started
    storage = Storage(url)
    record = storage.get_experiment(f"sgd-{rule}")
    assert record is not None
    trials = storage.trials(record.id)
    curves = storage.progress(record.id)
    storage.close()
    full = [t.objective for t in trials if t.status is TrialStatus.COMPLETED and t.objective]
    return {
        "epochs": sum(len(points) for points in curves.values()),
        "wall_s": wall,
        "best_error": min(full) if full else None,
        "pruned": sum(t.status is TrialStatus.PRUNED for t in trials),
        "trials": len(trials),
    }


def run_optuna(method: str, seed: int) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.MedianPruner()
        if method == "optuna median"
        else optuna.pruners.SuccessiveHalvingPruner()
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed), pruner=pruner)
    epochs = [0]

    def objective(trial: optuna.Trial) -> float:
        alpha = trial.suggest_float("alpha", 1e-6, 1e-1, log=True)
        eta0 = trial.suggest_float("eta0", 1e-4, 1.0, log=True)
        rate = trial.suggest_categorical(
            "learning_rate", ["constant", "optimal", "invscaling", "adaptive"]
        )

        def report(epoch: int, error: float) -> bool:
            epochs[0] += 1
            trial.report(error, epoch)
            return trial.should_prune()

        error, ran = train(alpha, eta0, rate, report)
        if ran < EPOCHS:
            raise optuna.TrialPruned()
        return error

    started = time.monotonic()
    study.optimize(objective, n_trials=TRIALS, n_jobs=WORKERS)
    wall = time.monotonic() - started
    complete = [t.value for t in study.trials if t.state.name == "COMPLETE" and t.value is not None]
    return {
        "epochs": epochs[0],
        "wall_s": wall,
        "best_error": min(complete) if complete else None,
        "pruned": sum(t.state.name == "PRUNED" for t in study.trials),
        "trials": len(study.trials),
    }


def decision_cost(url: str, rule: str) -> dict[str, float]:
    """Milliseconds per reported value with 1,000 trials of 30 values each stored:
    ``judge``, the rule's read and decision for a batch; ``value alone``, storing and
    judging when each value is a batch of its own (a trial reporting once per long
    epoch: one durable commit per value); ``value in tens``, the same for batches of 10
    values (a trial reporting every few milliseconds)."""
    from orionlite.records import TrialRecord, TrialStatus
    from orionlite.stopping import StopRule
    from orionlite.storage import Storage
    from orionlite.trial_progress import ProgressMonitor

    storage = Storage(url)
    record = storage.create_experiment(
        {
            "name": f"history-{rule}",
            "version": 1,
            "space": {},
            "algorithm": {"random": {}},
            "command": None,
            "max_trials": None,
            "max_broken": 3,
            "working_dir": None,
            "metadata": {},
        }
    )
    assert record is not None
    for i in range(HISTORY_TRIALS):
        trial = storage.acquire_trial(record.id, {"i": i}, f"h{i}", "bench", 600.0)
        assert isinstance(trial, TrialRecord)
        storage.record_progress(trial, [(s, 1.0 / s + i / HISTORY_TRIALS) for s in range(1, 31)])
        storage.finish_trial(trial, TrialStatus.COMPLETED, objective=1.0 / 30)
    options = {"median": {"min_trials": 5}, "asha": {"min_step": 1}}[rule]
    stop_rule = StopRule.from_spec({rule: options})
    costs: dict[str, float] = {}
    with storage.keep_connection():  # as in a worker
        for label, per_batch in (("value alone", 1), ("value in tens", 10)):
            trial = storage.acquire_trial(record.id, {"i": label}, label, "bench", 600.0)
            assert isinstance(trial, TrialRecord)
            monitor = ProgressMonitor(storage, trial, stop_rule, flush_s=0.0)
            started = time.perf_counter()
            for step in range(1, 31):
                monitor.points.append((step, 0.0))  # the best: judged, never stopped
                monitor._unsent.append((step, 0.0))
                if step % per_batch == 0:
                    monitor.flush()
            costs[label] = (time.perf_counter() - started) / 30 * 1000
            assert monitor.stop_reason is None
        batch = [(step, 0.0) for step in range(1, 31)]
        started = time.perf_counter()
        for step, value in batch:
            monitor._judge([(step, value)])
        costs["judge"] = (time.perf_counter() - started) / 30 * 1000
    storage.close()
    return costs


def decision_costs() -> dict[str, dict[str, float]]:
    costs: dict[str, dict[str, float]] = {}
    SCRATCH.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=SCRATCH) as folder:
        for rule in ("median", "asha"):
            costs[f"sqlite {rule}"] = decision_cost(f"sqlite:///{folder}/{rule}.db", rule)
    if pg_available() is None:
        for rule in ("median", "asha"):
            with pg_database(f"early_{rule}") as url:
                costs[f"postgresql {rule}"] = decision_cost(url, rule)
    return costs


def _median(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def table(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    none_epochs = _median([r["epochs"] for r in runs["none"]])
    lines = [
        "| method | epochs (share of none) | wall time | best final val. error | pruned |",
        "|---|---|---|---|---|",
    ]
    for method, results in runs.items():
        epochs = _median([r["epochs"] for r in results])
        error = _median([r["best_error"] for r in results])
        lines.append(
            f"| {method} | {epochs:.0f} ({epochs / none_epochs:.0%}) "
            f"| {_median([r['wall_s'] for r in results]):.0f} s "
            f"| {error:.4f} | {_median([r['pruned'] for r in results]):.0f} of {TRIALS} |"
        )
    return lines


def _merged(runs: dict[str, list[dict[str, Any]]], seeds: range) -> dict[str, list[dict[str, Any]]]:
    """This run's results plus the stored ones of other seeds (``--first-seed`` adds seeds
    to an earlier run), so that the table is over every seed run so far."""
    if not RESULTS.exists():
        return runs
    stored = json.loads(RESULTS.read_text()).get("runs", {})
    merged: dict[str, list[dict[str, Any]]] = dict(stored)
    for method, results in runs.items():
        kept = [r for r in stored.get(method, []) if r["seed"] not in seeds]
        merged[method] = sorted(kept + results, key=lambda r: r["seed"])
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds (default 1)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument(
        "--methods",
        default=",".join((*RULES, *OPTUNA)),
        help='comma-separated subset; a rule may have options: "asha {\\"min_step\\": 3}"',
    )
    parser.add_argument("--costs-only", action="store_true", help="only the decision cost")
    parser.add_argument(
        "--no-costs", action="store_true", help="keep the stored decision cost, measure none"
    )
    args = parser.parse_args()
    methods = args.methods.split(",")
    runs: dict[str, list[dict[str, Any]]] = {method: [] for method in methods}
    if args.costs_only:
        methods = []
        runs = {}
    SCRATCH.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=SCRATCH) as scratch:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for method in methods:
                folder = Path(scratch)
                if method in RULES:
                    result = run_orionlite(method, seed, folder)
                elif method.split(" ", 1)[0] in RULES:  # "asha {...}": options given
                    rule, config = method.split(" ", 1)
                    result = run_orionlite(rule, seed, folder, config)
                else:
                    result = run_optuna(method, seed)
                runs[method].append({"seed": seed, **result})
                print(f"seed {seed} {method}: {json.dumps(result)}", flush=True)
    if args.no_costs and RESULTS.exists():
        costs = json.loads(RESULTS.read_text()).get("decision_ms", {})
    else:
        costs = decision_costs()
    RESULTS.parent.mkdir(exist_ok=True)
    runs = _merged(runs, range(args.first_seed, args.first_seed + args.seeds))
    RESULTS.write_text(json.dumps({"runs": runs, "decision_ms": costs}, indent=2))
    print()
    if "none" in runs:
        seeds = sorted({r["seed"] for results in runs.values() for r in results})
        print(f"seeds {', '.join(map(str, seeds))}; medians over seeds:")
        print("\n".join(table(runs)))
    print()
    print("| backend, rule | judge (ms per batch) | value alone (ms) | value in tens (ms) |")
    print("|---|---|---|---|")
    for name, cost in costs.items():
        print(
            f"| {name} | {cost['judge']:.2f} | {cost['value alone']:.2f} "
            f"| {cost['value in tens']:.2f} |"
        )


if __name__ == "__main__":
    main()
