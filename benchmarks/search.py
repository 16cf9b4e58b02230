"""Search benchmark: tpe, nsga2, constraints and bayes at size, against Optuna.

Run with ``make bench-quality`` (after the regret benchmark) or
``.venv/bin/python benchmarks/search.py [--full] [--parts single,several,constrained,size]
[--seeds N] [--several-seeds N] [--first-seed F] [--problems branin,mixed,...]
[--methods tpe,...]``.
The default run (seeds 0-2, no bayes regret runs) is the short one; ``--full`` runs the
seeds 0-9 and bayes to 1,000 trials. ``--several-seeds N`` runs the several-objectives
part, the longest, on other seeds than the rest (``make bench-quality``: 1). ``--first-seed``
runs held-out seeds (F..F+N-1), to check that a result on seeds 0-9 is not a draw of
those seeds.

Every method runs on the same problems and seeds in the same run. One worker, and four
workers simulated as in benchmarks/quality.py: four trials always running, each new
suggestion made from every completed trial plus the three still running (orionlite:
trials ``reserved`` in the history; Optuna: ``ask`` with three trials still ``RUNNING``,
which its constant liar sees).

Parts (problems in benchmarks/_search_problems.py):

* ``single``: ``tpe`` against Optuna's ``TPESampler(multivariate=True,
  constant_liar=True)``, 100 trials: median simple regret on Branin, Hartmann6, Levy 10-d
  and a mixed space (two categorical, one integer, three continuous). Then the suggest
  time of ``tpe`` at 1,000 completed trials with 4 pending.
* ``several``: hypervolume after 200 trials of ``tpe`` and ``nsga2`` against Optuna's
  ``NSGAIISampler`` and multi-objective ``TPESampler``, on ZDT1 and ZDT2 (30-d,
  reference point (1.1, 11)) and DTLZ2 (3 objectives, 12-d, reference (2, 2, 2)).
* ``constrained``: Branin, feasible only inside a disk that holds none of its global
  minima; 100 trials of ``tpe`` and Optuna's constrained TPE (``Trial.set_constraint``): the
  share of feasible suggestions and the regret of the best feasible value.
* ``size``: ``bayes`` suggest time at 100, 300 and 1,000 completed trials with 4 pending
  (a fresh worker's first suggestion, the refits at checkpoints, the median between them,
  the maximum of all, and the maximum CPU time) and peak RSS; with ``--full``, regret on
  Hartmann6 at 100, 300 and 1,000 trials with the defaults (posterior on 300 trials,
  kernel fitted on 64), the kernel fitted on 128 and every trial in the model.
"""

from __future__ import annotations

# No thread variable is set here: bayes limits its numeric libraries' threads itself
# during suggestions (orionlite.threads), as in a worker started by a user.
import argparse
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _search_problems import (
    SEVERAL,
    SINGLE,
    constrained_minimum,
    disk_constraint,
    suggest_optuna,
)

from orionlite.algorithms import bayes, make_algorithm
from orionlite.algorithms.bayes import BayesianOptimizer
from orionlite.algorithms.ranking import hypervolume
from orionlite.objectives import parse_objectives
from orionlite.records import TrialRecord, TrialStatus
from orionlite.space import Space, hash_params

WORKERS = 4
#: Methods to run (--methods); None: all.
ONLY: set[str] | None = None
#: Problems to run (--problems, keys of SINGLE and SEVERAL); None: all.
PROBLEMS: set[str] | None = None
#: The first seed (--first-seed): seeds FIRST_SEED .. FIRST_SEED + seeds - 1.
FIRST_SEED = 0
Evaluate = Callable[[dict[str, Any]], list[dict[str, Any]]]


def run_orionlite(
    priors: dict[str, str],
    spec: dict[str, Any],
    evaluate: Evaluate,
    trials: int,
    workers: int,
    objectives: list[str] | None = None,
) -> tuple[list[TrialRecord], list[float]]:
    """``trials`` trials with ``workers`` always running; the completed trials in
    completion order and the suggest times."""
    space = Space.from_priors(priors)
    algorithm = make_algorithm(spec, space)
    declared = parse_objectives(objectives) if objectives else None
    if declared is not None:
        algorithm.objectives = declared
    history: dict[int, TrialRecord] = {}
    running: list[int] = []
    done: list[TrialRecord] = []
    latencies: list[float] = []
    while len(history) < trials or running:
        while len(history) < trials and len(running) < workers:
            start = time.perf_counter()
            (proposal,) = algorithm.suggest(list(history.values()), 1)
            latencies.append(time.perf_counter() - start)
            trial_id = len(history) + 1
            history[trial_id] = TrialRecord(
                trial_id,
                1,
                proposal.params,
                hash_params(proposal.params),
                TrialStatus.RESERVED,
            )
            running.append(trial_id)
        oldest = history[running.pop(0)]
        results = evaluate(oldest.params)
        first = next(r["value"] for r in results if r["type"] == "objective")
        finished = TrialRecord(
            oldest.id,
            1,
            oldest.params,
            oldest.params_hash,
            TrialStatus.COMPLETED,
            objective=first,
            results=results,
        )
        history[oldest.id] = finished
        done.append(finished)
    return done, latencies


def run_optuna(
    priors: dict[str, str],
    sampler: Any,
    evaluate: Evaluate,
    trials: int,
    workers: int,
    directions: list[Any],  # "minimize" / "maximize", as Optuna's create_study types them
) -> tuple[list[list[dict[str, Any]]], float]:
    """The same loop with Optuna's ask and tell; results in completion order, and the
    mean time per ask."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=directions, sampler=sampler)
    running: list[tuple[Any, dict[str, Any]]] = []
    asked, asking = 0, 0.0
    done: list[list[dict[str, Any]]] = []
    while asked < trials or running:
        while asked < trials and len(running) < workers:
            start = time.perf_counter()
            trial = study.ask()
            params = suggest_optuna(trial, priors)
            asking += time.perf_counter() - start
            running.append((trial, params))
            asked += 1
        trial, params = running.pop(0)
        results = evaluate(params)
        for item in results:
            if item["type"] == "constraint":
                trial.set_constraint(item["name"], item["value"])  # Optuna 5's own API
        study.tell(trial, [r["value"] for r in results if r["type"] == "objective"])
        done.append(results)
    return done, asking / trials


def _chosen(methods: tuple[str, ...]) -> list[str]:
    return [m for m in methods if ONLY is None or m in ONLY]


def _problems(table: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(key, problem) for key, problem in table.items() if PROBLEMS is None or key in PROBLEMS]


def _seeds(count: int) -> range:
    return range(FIRST_SEED, FIRST_SEED + count)


def _single(problem: Any) -> Evaluate:
    return lambda p: [{"name": "loss", "type": "objective", "value": problem.function(p)}]


def _optuna_tpe(seed: int, **options: Any) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True, **options)


def part_single(seeds: int, log: Callable[[str], None]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for key, problem in _problems(SINGLE):
        for workers in (1, WORKERS):
            for method in _chosen(("tpe", "optuna tpe")):
                regrets, times = [], []
                for seed in _seeds(seeds):
                    if method == "tpe":
                        done, latency = run_orionlite(
                            problem.priors, {"tpe": {"seed": seed}}, _single(problem), 100, workers
                        )
                        best = min(t.objective or 0.0 for t in done)
                        times.append(statistics.fmean(latency))
                    else:
                        results, per_ask = run_optuna(
                            problem.priors,
                            _optuna_tpe(seed),
                            _single(problem),
                            100,
                            workers,
                            ["minimize"],
                        )
                        best = min(r[0]["value"] for r in results)
                        times.append(per_ask)
                    regrets.append(best - problem.minimum)
                median = statistics.median(regrets)
                # Regrets are bimodal (a run finds the best basin or not): the geometric
                # mean weighs every run, where the median of a few seeds flips on one.
                geomean = statistics.geometric_mean([max(r, 1e-12) for r in regrets])
                table[f"{key} x{workers} {method}"] = {
                    "regret": median,
                    "geomean": geomean,
                    "suggest_ms": statistics.fmean(times) * 1000,
                }
                log(
                    f"{problem.name} x{workers} {method}: median regret {median:.4g}, "
                    f"geometric mean {geomean:.4g}"
                )
    table["tpe suggest at 1000"] = _tpe_latency()
    return table


def _history(space: Space, count: int, pending: int, objective: Callable[..., float]) -> list[Any]:
    rng = np.random.default_rng(0)
    trials = []
    for trial_id in range(1, count + pending + 1):
        params = space.sample(rng)
        done = trial_id <= count
        trials.append(
            TrialRecord(
                trial_id,
                1,
                params,
                hash_params(params),
                TrialStatus.COMPLETED if done else TrialStatus.RESERVED,
                objective=objective(params) if done else None,
            )
        )
    return trials


def _latencies(spec: dict[str, Any], priors: dict[str, str], count: int, steps: int) -> Any:
    """Suggest times of one worker from ``count`` completed trials and 4 pending, one
    more completed trial at each step (as a worker sees the history grow): the first (a
    fresh worker, fitting its model) and the following ones."""
    problem = SINGLE["hartmann6"]
    space = Space.from_priors(priors)
    trials = _history(space, count + steps, WORKERS, problem.function)
    completed, running = trials[: count + steps], trials[count + steps :]
    algorithm = make_algorithm(spec, space)
    times = []
    for step in range(steps):
        history = completed[: count + step] + running
        start = time.perf_counter()
        algorithm.suggest(history, 1)
        times.append(time.perf_counter() - start)
    return times


def _tpe_latency() -> dict[str, float]:
    times = _latencies({"tpe": {"seed": 0}}, SINGLE["hartmann6"].priors, 1000, 20)
    return {"median_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000}


def part_several(seeds: int, log: Callable[[str], None]) -> dict[str, Any]:
    import optuna

    table: dict[str, Any] = {}
    for key, problem in _problems(SEVERAL):
        names = [f"f{i + 1}" for i in range(len(problem.reference))]

        def evaluate(p: dict[str, Any], problem: Any = problem, names: Any = names) -> Any:
            return [
                {"name": n, "type": "objective", "value": v}
                for n, v in zip(names, problem.function(p), strict=True)
            ]

        for workers in (1, WORKERS):
            for method in _chosen(("tpe", "nsga2", "optuna nsga2", "optuna tpe")):
                volumes = []
                for seed in _seeds(seeds):
                    if method in ("tpe", "nsga2"):
                        done, _ = run_orionlite(
                            problem.priors, {method: {"seed": seed}}, evaluate, 200, workers, names
                        )
                        points = [[r["value"] for r in t.results or []] for t in done]
                    else:
                        sampler = (
                            optuna.samplers.NSGAIISampler(seed=seed)
                            if method == "optuna nsga2"
                            else optuna.samplers.TPESampler(seed=seed, constant_liar=True)
                        )
                        results, _ = run_optuna(
                            problem.priors,
                            sampler,
                            evaluate,
                            200,
                            workers,
                            ["minimize"] * len(names),
                        )
                        points = [[r["value"] for r in result] for result in results]
                    volumes.append(hypervolume(np.array(points), problem.reference))
                median = statistics.median(volumes)
                table[f"{key} x{workers} {method}"] = {"hypervolume": median}
                log(f"{problem.name} x{workers} {method}: median hypervolume {median:.4g}")
    return table


def part_constrained(seeds: int, log: Callable[[str], None]) -> dict[str, Any]:
    problem = SINGLE["branin"]
    minimum = constrained_minimum()

    def evaluate(p: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"name": "loss", "type": "objective", "value": problem.function(p)},
            {"name": "disk", "type": "constraint", "value": disk_constraint(p)},
        ]

    table: dict[str, Any] = {"constrained minimum": minimum}
    for workers in (1, WORKERS):
        for method in _chosen(("tpe", "optuna tpe")):
            shares, regrets = [], []
            for seed in _seeds(seeds):
                if method == "tpe":
                    done, _ = run_orionlite(
                        problem.priors, {"tpe": {"seed": seed}}, evaluate, 100, workers
                    )
                    results = [t.results or [] for t in done]
                else:
                    sampler = _optuna_tpe(seed)
                    results, _ = run_optuna(
                        problem.priors, sampler, evaluate, 100, workers, ["minimize"]
                    )
                feasible = [r[0]["value"] for r in results if r[1]["value"] <= 0]
                shares.append(len(feasible) / len(results))
                regrets.append(min(feasible) - minimum if feasible else float("inf"))
            row = {
                "feasible_share": statistics.median(shares),
                "regret": statistics.median(regrets),
            }
            table[f"x{workers} {method}"] = row
            log(
                f"constrained Branin x{workers} {method}: feasible {row['feasible_share']:.0%}, "
                f"regret {row['regret']:.4g}"
            )
    return table


def _bayes_latencies(count: int, steps: int) -> dict[str, Any]:
    """Suggest times of one bayes worker from ``count`` completed trials and 4 pending,
    one more result per suggestion: the first (a fresh worker fits its kernel), the
    refits at checkpoints (``steps`` crosses at least one) and the suggestions between."""
    problem = SINGLE["hartmann6"]
    space = Space.from_priors(problem.priors)
    trials = _history(space, count + steps, WORKERS, problem.function)
    completed, running = trials[: count + steps], trials[count + steps :]
    algorithm = make_algorithm({"bayes": {"seed": 0}}, space)
    assert isinstance(algorithm, BayesianOptimizer)
    times: list[float] = []
    refits: list[float] = []
    between: list[float] = []
    # CPU time beside wall time: on a shared machine a suggestion also waits for a core.
    cpu_times: list[float] = []
    for step in range(steps):
        fitted = set(algorithm.fitted_on())
        start, cpu = time.perf_counter(), time.process_time()
        algorithm.suggest(completed[: count + step] + running, 1)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu)
        if step:
            refitted = bool(set(algorithm.fitted_on()) - fitted)
            (refits if refitted else between).append(times[-1])
    return {
        "first_ms": times[0] * 1000,
        "refits": len(refits),
        "refit_max_ms": max(refits, default=0.0) * 1000,
        "median_ms": statistics.median(between) * 1000,
        "max_ms": max(times) * 1000,
        "max_cpu_ms": max(cpu_times) * 1000,
    }


def part_size(seeds: int, full: bool, log: Callable[[str], None]) -> dict[str, Any]:
    problem = SINGLE["hartmann6"]
    table: dict[str, Any] = {}
    # What a worker process pays once, before its first suggestion: importing the kernels
    # and finding the numeric libraries whose threads it limits.
    start = time.perf_counter()
    import sklearn.gaussian_process.kernels  # noqa: F401

    from orionlite.threads import limited_threads

    with limited_threads():
        pass
    table["bayes process start ms"] = (time.perf_counter() - start) * 1000
    # Steps cross refit checkpoints (every 8, 16 and 64 results at these sizes).
    for count, steps in ((100, 20), (300, 40), (1000, 70)):
        row = _bayes_latencies(count, steps)
        table[f"bayes suggest at {count}"] = row
        log(f"bayes at {count} completed + 4 pending: {row}")
    table["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if not full:
        # The regret runs take most of the part's time: only with --full.
        return table
    # The subsets' effect on regret: to 1,000 trials with the defaults (posterior on 300,
    # kernel fitted on 64), the kernel fitted on 128 (the earlier default)
    # and every trial in both.
    horizons = (100, 300, 1000)
    variants: list[tuple[str, dict[str, Any], int]] = [
        ("model 300, fit 64 (default)", {}, bayes.MAX_FIT_POINTS),
        ("model 300, fit 128", {}, 128),
        ("every trial", {"max_model_points": 10**6}, 10**6),
    ]
    default_fit = bayes.MAX_FIT_POINTS
    for label, options, fit_points in variants:
        regrets: dict[int, list[float]] = {h: [] for h in horizons}
        started = time.perf_counter()
        bayes.MAX_FIT_POINTS = fit_points  # not an option: set on the module, then restored
        try:
            for seed in _seeds(seeds):
                done, _ = run_orionlite(
                    problem.priors,
                    {"bayes": {"seed": seed, **options}},
                    _single(problem),
                    horizons[-1],
                    1,
                )
                for horizon in horizons:
                    best = min(t.objective or 0.0 for t in done[:horizon])
                    regrets[horizon].append(best - problem.minimum)
        finally:
            bayes.MAX_FIT_POINTS = default_fit
        row = {str(h): statistics.median(v) for h, v in regrets.items()}
        row["seconds_per_run"] = (time.perf_counter() - started) / seeds
        table[f"bayes regret, {label}"] = row
        log(f"bayes Hartmann6 regret, {label}: {row}")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="seeds 0-9, bayes to 1,000 trials")
    parser.add_argument("--seeds", type=int, help="seeds 0..N-1 (default 3, 10 with --full)")
    parser.add_argument(
        "--several-seeds",
        type=int,
        help="seeds of the several-objectives part, the longest (default: as --seeds)",
    )
    parser.add_argument("--parts", default="single,several,constrained,size")
    parser.add_argument("--output", help="also write the figures as JSON to this file")
    parser.add_argument("--methods", help="comma-separated subset, e.g. tpe,nsga2")
    parser.add_argument("--problems", help="comma-separated subset, e.g. branin,mixed,dtlz2")
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds FIRST..FIRST+N-1 (held-out seeds)"
    )
    options = parser.parse_args(argv)
    seeds = options.seeds or (10 if options.full else 3)
    global ONLY, PROBLEMS, FIRST_SEED
    ONLY = {m.strip() for m in options.methods.split(",")} if options.methods else None
    PROBLEMS = {p.strip() for p in options.problems.split(",")} if options.problems else None
    FIRST_SEED = options.first_seed
    parts = [p.strip() for p in options.parts.split(",") if p.strip()]

    def log(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    figures: dict[str, Any] = {
        "seeds": f"{FIRST_SEED}-{FIRST_SEED + seeds - 1}",
        "several_seeds": options.several_seeds or seeds,
        "full": options.full,
        "part_seconds": {},
    }
    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "single": lambda: part_single(seeds, log),
        "several": lambda: part_several(options.several_seeds or seeds, log),
        "constrained": lambda: part_constrained(seeds, log),
        "size": lambda: part_size(seeds, options.full, log),
    }
    for part, run in runs.items():
        if part in parts:
            begun = time.perf_counter()
            figures[part] = run()
            figures["part_seconds"][part] = round(time.perf_counter() - begun)
    figures["seconds"] = time.perf_counter() - started
    text = json.dumps(figures, indent=2)
    print(text)
    if options.output:
        Path(options.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
