"""Benchmarks of the installed commands: ``hunt`` per-trial overhead, start-up, memory."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import median, wall_times

BIN = Path(sys.executable).parent
PYTHON = sys.executable

# The trivial trial: write the results file and exit. No import beyond the interpreter's
# own start-up, so the floor it is compared with (``python -c pass``) is the same
# interpreter doing the same start-up.
TRIAL_SCRIPT = (
    "import os; open(os.environ['ORIONLITE_RESULTS_PATH'], 'w')"
    '.write(\'[{"name": "loss", "type": "objective", "value": 1.0}]\')'
)

# Peak RSS of the child process (the hunt worker) as the kernel accounted it.
_RSS_WRAPPER = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
    "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def _hunt_argv(url: str, name: str, trials: int, folder: Path, algorithm: str) -> list[str]:
    return [
        str(BIN / "hunt"),
        "-n",
        name,
        "--storage",
        url,
        "--max-trials",
        str(trials),
        "--algorithm",
        algorithm,
        "--working-dir",
        str(folder / "runs"),
        "-q",
        "--",
        PYTHON,
        "-c",
        TRIAL_SCRIPT,
        "--x~uniform(0, 1)",
    ]


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ORIONLITE_")}


def _trial_gaps(url: str, name: str) -> list[float]:
    """Seconds between the starts of consecutive trials (database clock)."""
    from orionlite.experiment import open_experiment
    from orionlite.storage import Storage

    storage = Storage(url)
    trials = storage.trials(open_experiment(storage, name).id)
    storage.close()
    starts = sorted(t.started_at for t in trials if t.started_at is not None)
    return [b - a for a, b in itertools.pairwise(starts)]


def hunt_overhead(url: str, folder: Path, small: int, large: int, repeat: int) -> dict[str, Any]:
    """Per-trial wall time of ``hunt`` minus the floor of starting the interpreter.

    Two estimates of the per-trial time, both free of hunt's own start-up: the median gap
    between the starts of consecutive trials (robust to a moment when another process
    takes the CPU: the figure judged), and (T(large) - T(small)) / (large - small) over
    whole ``hunt`` runs (medians of ``repeat`` runs each).
    """
    env = _clean_env()
    script_env = dict(env, ORIONLITE_RESULTS_PATH=str(folder / "results.json"))
    floor: list[float] = []
    script: list[float] = []
    timings: dict[int, list[float]] = {small: [], large: []}
    gaps: list[float] = []
    for round_ in range(repeat):
        # Interleaved, so that the floor is taken under the same load as the trials.
        floor += wall_times([PYTHON, "-c", "pass"], repeat=10, env=env)
        script += wall_times([PYTHON, "-c", TRIAL_SCRIPT], repeat=10, env=script_env)
        for size in (small, large):
            name = f"h{size}r{round_}"
            argv = _hunt_argv(url, name, size, folder, "random")
            t0 = time.perf_counter()
            subprocess.run(argv, check=True, env=env, capture_output=True)
            timings[size].append(time.perf_counter() - t0)
            if size == large:
                gaps += _trial_gaps(url, name)
    per_trial = median(gaps)
    by_runs = (median(timings[large]) - median(timings[small])) / (large - small)
    return {
        "trials": [small, large],
        "hunt_wall_s": {str(k): v for k, v in timings.items()},
        "per_trial_s": per_trial,
        "per_trial_from_runs_s": by_runs,
        "python_floor_s": median(floor),
        "trial_script_s": median(script),
        "overhead_s": per_trial - median(floor),
        "overhead_beyond_script_s": per_trial - median(script),
    }


def startup(repeat: int) -> dict[str, Any]:
    env = _clean_env()
    out: dict[str, Any] = {}
    for label, argv in (
        ("python -c pass", [PYTHON, "-c", "pass"]),
        ("orionlite --help", [str(BIN / "orionlite"), "--help"]),
        ("hunt --help", [str(BIN / "hunt"), "--help"]),
    ):
        wall_times(argv, repeat=2, env=env)  # warm the page cache
        times = wall_times(argv, repeat=repeat, env=env)
        out[label] = {"median_s": median(times), "min_s": min(times), "runs": repeat}
    return out


def peak_rss(url: str, name: str, trials: int, folder: Path, algorithm: str) -> dict[str, Any]:
    """Peak RSS (MB) of a ``hunt`` worker running ``trials`` trivial trials."""
    argv = [PYTHON, "-c", _RSS_WRAPPER, *_hunt_argv(url, name, trials, folder, algorithm)]
    t0 = time.perf_counter()
    done = subprocess.run(argv, check=True, env=_clean_env(), capture_output=True, text=True)
    return {
        "algorithm": algorithm,
        "trials": trials,
        "peak_rss_mb": int(done.stdout.strip().splitlines()[-1]) / 1024,
        "seconds": time.perf_counter() - t0,
    }


_API_RSS_SCRIPT = """
import json, sys
sys.path.insert(0, {benchmarks!r})
from _orionlite import NoopRunner
from orionlite.experiment import open_experiment
from orionlite.storage import Storage
from orionlite.worker import Worker, WorkerSettings
storage = Storage({url!r})
report = Worker(open_experiment(storage, {name!r}), NoopRunner(), WorkerSettings()).run()
# VmHWM, not ru_maxrss: the latter may report the size of the process this one was
# forked from before it exec'd (Linux carries it over), here the benchmark's own.
status = open("/proc/self/status").read()
peak_kb = int(status.split("VmHWM:")[1].split()[0])
print(json.dumps({{"completed": report.completed, "peak_rss_mb": peak_kb / 1024}}))
"""


def api_peak_rss(url: str, name: str) -> dict[str, Any]:
    """Peak RSS of a fresh worker process (Python API, no-op runner) over a long run."""
    code = _API_RSS_SCRIPT.format(benchmarks=str(Path(__file__).parent), url=url, name=name)
    done = subprocess.run(
        [PYTHON, "-c", code], check=True, env=_clean_env(), capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
