"""``make bench``: the coordination layer measured side by side with Optuna and bare loops.

Usage::

    .venv/bin/python benchmarks/coordination.py            # full run, ~7 min on 2 cores
    .venv/bin/python benchmarks/coordination.py --quick    # smaller sizes, ~1 min
    .venv/bin/python benchmarks/coordination.py --only throughput,startup
    .venv/bin/python benchmarks/coordination.py --only throughput --orionlite-only --driver worker
        # orionlite alone: run it from another folder with PYTHONPATH=<other checkout>
        # to compare two versions (how docs/benchmarks.md's before/after was measured)
    .venv/bin/python benchmarks/coordination.py --only throughput --backends postgresql

Writes the raw figures as JSON and, for a complete full run, the generated part of the
"Coordination" section of ``docs/benchmarks.md``. A complete full run writes
``benchmarks/results/coordination.json`` (kept in the repository: small, and the source
of the numbers in the docs, so a change in them shows in review) and its profiles next to
it; ``--quick`` and partial runs write to ``bench-results/`` (ignored), and leave the
docs alone unless ``--doc`` is given. Every ratio compares figures taken in this run, on
this machine, against the same database server.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sqlite3
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bare
import _cli
import _common
import _optuna
import _orionlite
import _report

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("throughput", "growth", "hunt", "startup", "memory", "profile")


@dataclass(frozen=True)
class Sizes:
    trials: int  # throughput: trials per run (orionlite and the bare loops)
    optuna_trials: int  # throughput: Optuna's trials per run
    workers: tuple[int, ...]
    rounds_at_max: int  # repeated runs at the largest worker count (median kept)
    history: int  # cost growth: trials in the long experiment
    hunt_small: int
    hunt_large: int
    hunt_repeat: int
    startup_repeat: int
    rss_trials: int
    bayes_trials: int
    growth_runs: int


FULL = Sizes(1000, 1000, (1, 2, 4, 8), 3, 10_000, 10, 60, 3, 15, 100, 30, 3)
QUICK = Sizes(300, 150, (1, 2, 4, 8), 1, 2_000, 5, 25, 2, 7, 30, 12, 1)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _shares(total: int, workers: int) -> list[int]:
    return [total // workers + (1 if i < total % workers else 0) for i in range(workers)]


def _summary(figures: _common.RunFigures, integrity: dict[str, Any] | None) -> dict[str, Any]:
    per_worker = (integrity or {}).get("per_worker") or figures.per_worker
    extra = {
        key: sum(e.get(key, 0) for e in figures.extra)
        for key in ("contention_retries", "deadlocks", "connections_opened", "busy", "cpu_s")
        if any(key in e for e in figures.extra)
    }
    return {
        "workers": figures.workers,
        "trials_per_s": figures.rate,
        "seconds": figures.seconds,
        "trials": figures.trials,
        "errors": len(figures.errors),
        "error_samples": sorted(set(figures.errors))[:3],
        "per_worker_min": min(per_worker) if per_worker else 0,
        "per_worker_max": max(per_worker) if per_worker else 0,
        "integrity": integrity,
        **extra,
    }


# What is kept of every repeated run, beside the median run's full summary: a slow run
# hidden by the median still shows, with what may explain it.
_EVERY_RUN = ("trials_per_s", "seconds", "errors", "contention_retries", "deadlocks")


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r["trials_per_s"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["runs"] = [{key: r[key] for key in _EVERY_RUN if key in r} for r in runs]
    return chosen


def run_orionlite(
    backend: str, workers: int, n: int, driver: str, flush: str | None = None
) -> dict[str, Any]:
    with _common.database(backend, f"tp{workers}") as url_for:
        url = url_for("orionlite")
        _orionlite.create(url, "throughput", n)
        target = _orionlite.workon_worker if driver == "workon" else _orionlite.worker
        figures = _common.run_processes(target, [(url, "throughput", flush)] * workers)
        return _summary(figures, _orionlite.integrity(url, "throughput"))


def run_bare(backend: str, workers: int, n: int, flush: str = "inside-commit") -> dict[str, Any]:
    with _common.database(backend, f"bare{workers}") as url_for:
        url = url_for("bare")
        if backend == "sqlite":
            path = url[len("sqlite:///") :]
            _bare.sqlite_setup(path, n)
            figures = _common.run_processes(
                _bare.sqlite_worker, [(path, f"w{i}", flush) for i in range(workers)]
            )
        else:
            _bare.pg_setup(url, n)
            figures = _common.run_processes(
                _bare.pg_worker, [(url, f"w{i}") for i in range(workers)]
            )
        summary = _summary(figures, None)
        summary["integrity"] = {"completed": figures.trials, "duplicates": 0}
        return summary


def run_optuna(backend: str, workers: int, n: int) -> dict[str, Any]:
    with _common.database(backend, f"op{workers}") as url_for:
        url = url_for("optuna")
        _optuna.create(url, "throughput")
        shares = _shares(n, workers)
        figures = _common.run_processes(
            _optuna.worker, [(url, "throughput", share) for share in shares]
        )
        return _summary(figures, _optuna.integrity(url, "throughput"))


def throughput(
    backends: list[str], sizes: Sizes, driver: str, peers: bool = True
) -> dict[str, Any]:
    """``peers=False`` measures orionlite alone (to compare two versions of it quickly)."""
    out: dict[str, Any] = {}
    if not peers:
        for backend in backends:
            out[f"{backend}_orionlite_only"] = [
                run_orionlite(backend, workers, sizes.trials, driver) for workers in sizes.workers
            ]
            log(
                f"throughput {backend}: "
                + ", ".join(
                    f"x{w}: {r['trials_per_s']:.0f}/s"
                    for w, r in zip(sizes.workers, out[f"{backend}_orionlite_only"], strict=True)
                )
            )
        return out
    for backend in backends:
        if backend == "mysql":
            out[backend] = _mysql_throughput(sizes, driver)
            continue
        rows = []
        for workers in sizes.workers:
            rounds = sizes.rounds_at_max if workers == max(sizes.workers) else 1
            mine, bare = [], []
            for _ in range(rounds):  # interleaved, so a busy moment hits both
                mine.append(run_orionlite(backend, workers, sizes.trials, driver))
                bare.append(run_bare(backend, workers, sizes.trials))
            peer = run_optuna(backend, workers, sizes.optuna_trials)
            row = {
                "workers": workers,
                "orionlite": _median_run(mine),
                "bare": _median_run(bare),
                "optuna": peer,
            }
            rows.append(row)
            log(
                f"throughput {backend} x{workers}: orionlite "
                f"{row['orionlite']['trials_per_s']:.0f}/s, bare "
                f"{row['bare']['trials_per_s']:.0f}/s, optuna {peer['trials_per_s']:.1f}/s"
            )
        out[backend] = rows
    if "sqlite" in backends:
        out["sqlite_durability"] = sqlite_durability(max(sizes.workers), sizes.trials, driver)
    return out


def _mysql_throughput(sizes: Sizes, driver: str) -> list[dict[str, Any]]:
    """orionlite against Optuna's RDB storage on the same MariaDB/MySQL server, at the
    largest worker count only (the floor of issue 25); no bare loop."""
    workers = max(sizes.workers)
    mine = [
        run_orionlite("mysql", workers, sizes.trials, driver) for _ in range(sizes.rounds_at_max)
    ]
    peer = run_optuna("mysql", workers, sizes.optuna_trials)
    row = {"workers": workers, "orionlite": _median_run(mine), "optuna": peer}
    log(
        f"throughput mysql x{workers}: orionlite {row['orionlite']['trials_per_s']:.0f}/s, "
        f"optuna {peer['trials_per_s']:.1f}/s"
    )
    return [row]


def sqlite_durability(workers: int, n: int, driver: str) -> dict[str, Any]:
    """The same SQLite runs with each way of putting commits on disk (``_bare.FLUSHES``),
    one run each: what durability costs, and what flushing after the write lock gains
    (``orionlite.storage.wal_flush``). orionlite's own (``after-lock``) and the bare
    loop's target (``inside-commit``) are the throughput table's."""
    figures: dict[str, Any] = {"workers": workers, "orionlite": {}, "bare": {}}
    for flush in _bare.FLUSHES:
        if flush != "after-lock":
            figures["orionlite"][flush] = run_orionlite("sqlite", workers, n, driver, flush)
        if flush != "inside-commit":
            figures["bare"][flush] = run_bare("sqlite", workers, n, flush)
    log(
        f"throughput sqlite x{workers} by flush: "
        + ", ".join(
            f"{tool} {flush} {run['trials_per_s']:.0f}/s"
            for tool in ("orionlite", "bare")
            for flush, run in figures[tool].items()
        )
    )
    return figures


def _gap_window(gaps: list[float]) -> dict[str, float]:
    """Time per trial from per-trial gaps: their mean, and their median."""
    return {"mean_s": sum(gaps) / len(gaps), "median_s": _common.median(gaps)}


def _window(stamps: list[float], first: int) -> dict[str, float]:
    """Time per trial over the 100 trials that follow ``stamps[first]``.

    ``stamps`` are the moments successive trials reached the runner, so each gap is one
    whole cycle (record, read, suggest, reserve). The mean is the figure asked for; the
    median of the 100 gaps is also kept, as it shrugs off a moment when another process
    took the CPU.
    """
    return _gap_window([b - a for a, b in itertools.pairwise(stamps[first : first + 101])])


def _compare(early: dict[str, float], late: dict[str, float]) -> dict[str, Any]:
    return {
        "early": early,
        "late": late,
        "ratio_mean": late["mean_s"] / early["mean_s"],
        "ratio_median": late["median_s"] / early["median_s"],
    }


_GROWTH_WINDOW = 100
_GROWTH_BATCH = 10


def _orionlite_growth(url: str, n: int) -> dict[str, Any]:
    """A history of ``n - 100`` real trials made by one worker process, then the first
    100 trials of a new experiment and the last 100 of that one, taking turns in one
    process (see ``_orionlite.interleaved_growth``)."""
    window = _GROWTH_WINDOW
    _orionlite.create(url, "growth", n - window)
    t0 = time.perf_counter()
    made = _common.run_processes(_orionlite.worker, [(url, "growth")], timeout_s=1800)
    if made.trials < n - window:
        return {"error": made.errors}
    _orionlite.raise_budget(url, "growth", n)
    _orionlite.create(url, "fresh", window)
    figures = _common.run_processes(
        _orionlite.interleaved_growth, [(url, "growth", "fresh", window, _GROWTH_BATCH)]
    )
    gaps = figures.extra[0]["gaps"]
    if not (gaps["early"] and gaps["late"]):
        return {"error": figures.errors}
    mine = _compare(_gap_window(gaps["early"]), _gap_window(gaps["late"]))
    mine["seconds"] = time.perf_counter() - t0
    return mine


def growth(backends: list[str], sizes: Sizes) -> dict[str, Any]:
    """One worker, random search: orionlite makes the history with real trials and then
    measures its two windows taking turns (``_orionlite_growth``), in
    ``sizes.growth_runs`` separate experiments (the run with the median ratio is kept: a
    100-trial window lasts a fraction of a second, and one busy moment of this shared
    machine can double it); Optuna gets ``history - 101`` trials written in bulk, then runs
    its last 101 (see _optuna.fill)."""
    n = sizes.history
    out: dict[str, Any] = {}
    for backend in backends:
        with _common.database(backend, "growth") as url_for:
            runs = [
                _orionlite_growth(url_for(f"orionlite{i}"), n) for i in range(sizes.growth_runs)
            ]
            good = sorted((r for r in runs if "ratio_median" in r), key=lambda r: r["ratio_median"])
            mine = dict(good[len(good) // 2]) if good else runs[0]
            mine["all_ratio_median"] = [r.get("ratio_median") for r in runs]
            plans = _orionlite.explain(url_for("orionlite0"), "growth")

            peer: dict[str, Any] = {}
            fresh = url_for("optuna")
            _optuna.create(fresh, "early")
            early = _common.run_processes(_optuna.worker, [(fresh, "early", 101, True)]).extra[0][
                "stamps"
            ]
            _optuna.create(fresh, "late")
            t1 = time.perf_counter()
            _optuna.fill(fresh, "late", n - 101)
            peer["fill_seconds"] = time.perf_counter() - t1
            late = _common.run_processes(_optuna.worker, [(fresh, "late", 101, True)]).extra[0][
                "stamps"
            ]
            peer.update(_compare(_window(early, 0), _window(late, 0)))
            out[backend] = {"orionlite": mine, "optuna": peer, "history": n, "plans": plans}
            log(
                f"growth {backend}: orionlite x{mine.get('ratio_median', 0):.2f} "
                f"optuna x{peer['ratio_median']:.2f}"
            )
    return out


def hunt(backends: list[str], sizes: Sizes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for backend in backends:
        with _common.database(backend, "hunt") as url_for, _common.sqlite_folder() as folder:
            out[backend] = _cli.hunt_overhead(
                url_for("hunt"), folder, sizes.hunt_small, sizes.hunt_large, sizes.hunt_repeat
            )
        log(f"hunt {backend}: {out[backend]['overhead_s'] * 1e3:.1f} ms above the floor")
    return out


def memory(sizes: Sizes) -> dict[str, Any]:
    from orionlite.algorithms import ALGORITHMS

    out: dict[str, Any] = {}
    with _common.database("sqlite", "rss") as url_for, _common.sqlite_folder() as folder:
        out["random_hunt"] = _cli.peak_rss(
            url_for("random"), "random", sizes.rss_trials, folder, "random"
        )
        if "bayes" in ALGORITHMS:
            try:
                out["bayes_hunt"] = _cli.peak_rss(
                    url_for("bayes"), "bayes", sizes.bayes_trials, folder, "bayes"
                )
            except Exception as exc:
                out["bayes_hunt"] = {"error": str(exc).splitlines()[0]}
        else:
            out["bayes_hunt"] = {"error": "no 'bayes' algorithm registered"}
        url = url_for("api")
        _orionlite.create(url, "api", sizes.history)
        out["random_api_long"] = _cli.api_peak_rss(url, "api")
    log(f"memory: {json.dumps(out)}")
    return out


def profile(backends: list[str], sizes: Sizes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for backend in backends:
        with _common.database(backend, "profile") as url_for:
            url = url_for("orionlite")
            _orionlite.create(url, "profile", sizes.trials)
            t0 = time.perf_counter()
            figures = _common.run_processes(_orionlite.profiled_worker, [(url, "profile")])
            out[backend] = {
                "trials": figures.trials,
                "seconds_under_profiler": time.perf_counter() - t0,
                "text": figures.extra[0].get("profile", ""),
            }
    return out


def environment(driver: str) -> dict[str, Any]:
    import optuna
    import psycopg
    import sqlalchemy

    server = None
    if _common.pg_available() is None:
        with psycopg.connect(_common.PG_ADMIN_URL) as connection:
            server = connection.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
            sync = connection.execute("SHOW synchronous_commit").fetchone()[0]  # type: ignore[index]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": server,
        "postgresql_synchronous_commit": sync if server else None,
        "sqlalchemy": sqlalchemy.__version__,
        "psycopg": psycopg.__version__,
        "optuna": optuna.__version__,
        "driver": driver,
        "load_average_at_start": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--json", type=Path, help="where to write the raw figures")
    parser.add_argument(
        "--doc", type=Path, default=None, help="markdown file to update (full runs only)"
    )
    parser.add_argument(
        "--orionlite-only",
        action="store_true",
        help="throughput of orionlite alone, without the peers (to compare two versions)",
    )
    parser.add_argument(
        "--driver",
        choices=("auto", "workon", "worker"),
        default="auto",
        help="orionlite side: the public workon() API, or Worker with a no-op runner",
    )
    parser.add_argument(
        "--backends",
        # PostgreSQL first: right after the SQLite section its runs are slower for a minute
        # or two here, orionlite's more than the bare loop's (docs/benchmarks.md, eighth
        # round); SQLite showed no such effect after PostgreSQL.
        default="postgresql,sqlite,mysql",
        help="comma-separated, run in that order: postgresql, sqlite, mysql (a server "
        "that does not answer is skipped; mysql only in the throughput section)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    driver = args.driver
    if driver == "auto":
        why_not = _orionlite.workon_available()
        driver = "workon" if why_not is None else "worker"
        if why_not:
            log(f"driving orionlite with Worker + a no-op runner: {why_not}")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    all_backends = {"sqlite", "postgresql"} <= set(backends)
    if set(backends) - {"sqlite", "postgresql", "mysql"}:
        parser.error(f"unknown backends in {args.backends!r}")
    pg_problem = _common.pg_available() if "postgresql" in backends else None
    if pg_problem is not None:
        backends.remove("postgresql")
        log(f"PostgreSQL skipped: {pg_problem}")
    mysql_problem = _common.mysql_available() if "mysql" in backends else None
    if mysql_problem is not None:
        backends.remove("mysql")
        log(f"MariaDB/MySQL skipped: {mysql_problem}")
    # Growth, hunt overhead and profiles are measured on SQLite and PostgreSQL.
    others = [backend for backend in backends if backend != "mysql"]

    started = time.perf_counter()
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "sizes": asdict(sizes),
        "environment": environment(driver),
    }
    if pg_problem:
        results["postgresql_skipped"] = pg_problem
    if mysql_problem:
        results["mysql_skipped"] = mysql_problem
    steps = {
        "throughput": lambda: throughput(backends, sizes, driver, not args.orionlite_only),
        "growth": lambda: growth(others, sizes),
        "hunt": lambda: hunt(others, sizes),
        "startup": lambda: _cli.startup(sizes.startup_repeat),
        "memory": lambda: memory(sizes),
        "profile": lambda: profile(others, sizes),
    }
    for name in SECTIONS:
        if name in only:
            log(f"{name} ...")
            t0 = time.perf_counter()
            results[name] = steps[name]()
            results.setdefault("section_seconds", {})[name] = time.perf_counter() - t0
    results["total_seconds"] = time.perf_counter() - started

    # Only a complete full run replaces the committed figures and the docs' tables.
    complete = (
        not args.quick and not args.orionlite_only and set(only) == set(SECTIONS) and all_backends
    )
    default_json = (
        RESULTS / "coordination.json"
        if complete
        else _common.SCRATCH / f"coordination-{'quick' if args.quick else 'partial'}.json"
    )
    json_path = args.json or default_json
    json_path.parent.mkdir(parents=True, exist_ok=True)
    profiles = results.pop("profile", None)
    if profiles:
        for backend, data in profiles.items():
            path = json_path.parent / f"profile-{backend}.txt"
            path.write_text(data.pop("text"))
            data["file"] = os.path.relpath(path, _common.REPO)
        results["profile"] = profiles
    json_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    log(f"raw figures: {json_path}")
    doc = args.doc or (_common.REPO / "docs" / "benchmarks.md" if complete else None)
    if doc is not None:
        _report.update_doc(doc, results, os.path.relpath(json_path, _common.REPO))
        log(f"updated {doc}")
    for line in _report.target_lines(results):
        print(line)
    log(f"done in {results['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
