"""Chaos run: many workers, random SIGKILLs, a server crash; then count what survived.

    python tools/chaos.py                      # every backend (what `make chaos` runs)
    python tools/chaos.py --backend sqlite --workers 8 --trials 300 --kill-every 2

For each backend, ``--workers`` ``hunt`` processes share one experiment of ``--trials``
trials. Every few seconds one worker, chosen at random, is SIGKILLed (on Linux its trial
process dies with it, as ``hunt`` arranges) and a fresh worker is started in its place.
On PostgreSQL (a throwaway cluster made for the run, never the shared server) the server
is also restarted once, halfway, in ``immediate`` mode: a crash, followed by recovery,
not a polite shutdown. On MySQL likewise, with a throwaway MariaDB server
(``tests/faults/mariadbserver.py``: SIGKILL, then InnoDB's recovery).

The trial script (``tests/faults/trial_script.py``) appends the trial id, the reservation
attempt and the parameters of every run that reached its end to a file. At the end:

* completed  - trials ``completed`` in the database; must equal --trials;
* duplicates - parameters run under two trial ids, plus (trial, attempt) pairs run twice
  (two workers holding the same reservation at once); must be 0;
* lost       - trials left ``new``/``reserved``/``interrupted`` once all workers left;
  must be 0;
* overshoot  - completed beyond --trials, or reserved + completed seen above --trials by
  a monitor sampling during the run; must be 0;
* stale      - completed trials whose stored result came from an older attempt than the
  final one (a late write that got through); must be 0;
* tracebacks - tracebacks printed by any worker; must be 0.

Re-runs (the same trial run again after its worker was killed) are expected and shown.
Exit status 0 only if every backend passed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "faults"))

from mariadbserver import ThrowawayMariaDB  # noqa: E402
from mariadbserver import unavailable_reason as mariadb_unavailable  # noqa: E402
from pgcluster import ThrowawayCluster, unavailable_reason  # noqa: E402

TRIAL_SCRIPT = ROOT / "tests" / "faults" / "trial_script.py"
BIN = Path(sys.executable).parent
# Discrete on purpose: with 300 trials drawn from 1000 values, workers often propose a
# point another worker already has, which exercises the unique-parameters guard.
PRIOR = "--x~uniform(0, 999, discrete=True)"
OUTAGE_LINE = re.compile(r"database \S+ unreachable, retrying for up to")


@dataclass
class Report:
    backend: str
    workers: int
    trials: int
    completed: int = 0
    duplicates: int = 0
    lost: int = 0
    overshoot: int = 0
    stale: int = 0
    tracebacks: int = 0
    broken: int = 0
    reruns: int = 0
    kills: int = 0
    worker_starts: int = 0
    worker_errors: int = 0
    outage_lines: int = 0
    reclaim_lines: int = 0
    pg_restart: str = "-"
    wall_s: float = 0.0
    aborted: str = ""
    problems: list[str] = field(default_factory=list)

    def judge(self) -> bool:
        checks = {
            "completed == trials": self.completed == self.trials,
            "duplicates == 0": self.duplicates == 0,
            "lost == 0": self.lost == 0,
            "overshoot == 0": self.overshoot == 0,
            "stale == 0": self.stale == 0,
            "tracebacks == 0": self.tracebacks == 0,
            "finished in time": not self.aborted,
        }
        self.problems = [name for name, ok in checks.items() if not ok]
        return not self.problems


class Slot:
    """One worker position: a ``hunt`` process, restarted after each kill."""

    def __init__(self, index: int, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.index = index
        self.argv = argv
        self.env = env
        self.log_path = logs / f"worker{index}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.finished = False

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.env["PWD"]
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def run_backend(backend: str, args: argparse.Namespace, rng: random.Random) -> Report:
    report = Report(backend, args.workers, args.trials)
    workdir = Path(tempfile.mkdtemp(prefix=f"orionlite-chaos-{backend}-"))
    cluster: ThrowawayCluster | ThrowawayMariaDB | None = None
    slots: list[Slot] = []
    try:
        if backend == "postgresql":
            cluster = ThrowawayCluster().start()
            url = cluster.create_database(f"chaos_{uuid.uuid4().hex[:8]}")
        elif backend == "mysql":
            cluster = ThrowawayMariaDB().start()
            url = cluster.create_database(f"chaos_{uuid.uuid4().hex[:8]}")
        else:
            url = f"sqlite:///{workdir / 'chaos.db'}"
        runs_log = workdir / "runs.jsonl"
        env = {
            **os.environ,
            "PWD": str(workdir),
            "FAULT_SLEEP": str(args.trial_sleep),
            "FAULT_LOG": str(runs_log),
        }
        argv = [
            str(BIN / "hunt"),
            "-n",
            "chaos",
            "--storage",
            url,
            "--max-trials",
            str(args.trials),
            "--heartbeat",
            str(args.heartbeat),
            "--max-broken",
            "1000",
            "--",
            sys.executable,
            str(TRIAL_SCRIPT),
            PRIOR,
        ]
        slots = [Slot(i, argv, env, workdir) for i in range(args.workers)]
        started = time.monotonic()
        for slot in slots:
            slot.start()
            report.worker_starts += 1
        _drive(slots, url, cluster, args, rng, report, started)
        report.wall_s = time.monotonic() - started
        _analyse(url, runs_log, slots, report)
    finally:
        for slot in slots:
            if slot.alive():
                assert slot.process is not None
                slot.process.kill()
                slot.process.wait()
        if cluster is not None:
            cluster.destroy()
        if args.keep:
            print(f"  kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report.judge()
    return report


def _drive(
    slots: list[Slot],
    url: str,
    cluster: ThrowawayCluster | ThrowawayMariaDB | None,
    args: argparse.Namespace,
    rng: random.Random,
    report: Report,
    started: float,
) -> None:
    from orionlite.records import TrialStatus
    from orionlite.storage import Storage

    monitor = Storage(url)
    next_kill = started + args.kill_every * rng.uniform(0.5, 1.5)
    restarted = cluster is None
    peak = 0
    while any(not slot.finished for slot in slots):
        now = time.monotonic()
        if now - started > args.timeout:
            report.aborted = f"gave up after {args.timeout:.0f} s"
            return
        for slot in slots:
            if slot.finished or slot.alive():
                continue
            assert slot.process is not None
            if slot.process.returncode == 0:
                slot.finished = True  # the experiment is done for this worker
            else:
                # Not a kill of ours (those restart below): a worker that could not reach
                # the database at start-up, during the PostgreSQL restart. Start another.
                report.worker_errors += 1
                slot.start()
                report.worker_starts += 1
        counts = _counts(monitor, TrialStatus)
        if counts is not None:
            peak = max(peak, counts[TrialStatus.RESERVED] + counts[TrialStatus.COMPLETED])
            if not restarted and counts[TrialStatus.COMPLETED] >= args.trials // 2:
                assert cluster is not None
                began = time.monotonic()
                cluster.restart(args.pg_restart_mode)
                report.pg_restart = (
                    f"{args.pg_restart_mode} at {began - started:.1f} s, "
                    f"down {time.monotonic() - began:.1f} s"
                )
                restarted = True
        alive = [slot for slot in slots if slot.alive()]
        if alive and now >= next_kill:
            victim = rng.choice(alive)
            assert victim.process is not None
            victim.process.send_signal(signal.SIGKILL)
            victim.process.wait()
            report.kills += 1
            victim.start()
            report.worker_starts += 1
            next_kill = now + args.kill_every * rng.uniform(0.5, 1.5)
        time.sleep(0.1)
    report.overshoot = max(0, peak - args.trials)
    monitor.close()


def _counts(monitor: Any, statuses: Any) -> dict[Any, int] | None:
    """Trial counts by status, or None while the database is restarting."""
    from orionlite.errors import OrionliteError

    try:
        record = monitor.get_experiment("chaos")
        return monitor.count_by_status(record.id) if record is not None else None
    except OrionliteError:
        return None


def _analyse(url: str, runs_log: Path, slots: list[Slot], report: Report) -> None:
    from orionlite.records import TrialStatus
    from orionlite.storage import Storage

    storage = Storage(url)
    record = storage.get_experiment("chaos")
    assert record is not None
    trials = storage.trials(record.id)
    storage.close()
    statuses = Counter(trial.status for trial in trials)
    report.completed = statuses[TrialStatus.COMPLETED]
    report.broken = statuses[TrialStatus.BROKEN]
    report.lost = sum(
        statuses[s] for s in (TrialStatus.NEW, TrialStatus.RESERVED, TrialStatus.INTERRUPTED)
    )
    report.overshoot = max(report.overshoot, report.completed - report.trials)

    runs = [json.loads(line) for line in runs_log.read_text().splitlines() if line.strip()]
    ids_by_params: dict[str, set[int]] = defaultdict(set)
    attempts: Counter[tuple[int, int]] = Counter()
    for run in runs:
        ids_by_params[json.dumps(run["params"], sort_keys=True)].add(run["trial"])
        attempts[run["trial"], run["attempt"]] += 1
    stored_params = Counter(json.dumps(t.params, sort_keys=True) for t in trials)
    report.duplicates = (
        sum(1 for ids in ids_by_params.values() if len(ids) > 1)
        + sum(1 for n in attempts.values() if n > 1)
        + sum(1 for n in stored_params.values() if n > 1)
    )
    runs_per_trial = Counter(trial for trial, _attempt in attempts)
    report.reruns = sum(n - 1 for n in runs_per_trial.values())
    for trial in trials:
        if trial.status is TrialStatus.COMPLETED:
            reported = {r["name"]: r["value"] for r in trial.results or []}.get("attempt")
            if reported != trial.attempt:
                report.stale += 1
    for slot in slots:
        text = slot.log_path.read_text(errors="replace")
        report.tracebacks += text.count("Traceback")
        report.outage_lines += len(OUTAGE_LINE.findall(text))
        report.reclaim_lines += text.count("was reclaimed by another worker")


def _print(reports: list[Report], command: str) -> None:
    columns = [
        "backend",
        "completed",
        "duplicates",
        "lost",
        "overshoot",
        "stale",
        "tracebacks",
        "reruns",
        "kills",
        "worker_starts",
        "worker_errors",
        "outage_lines",
        "reclaim_lines",
        "wall_s",
    ]
    print(f"\n$ {command}")
    print("  ".join(f"{c:>13}" for c in columns))
    for report in reports:
        values = asdict(report)
        cells = [
            f"{values[c]:.1f}" if isinstance(values[c], float) else str(values[c]) for c in columns
        ]
        print("  ".join(f"{cell:>13}" for cell in cells))
    for report in reports:
        print(
            f"{report.backend}: {report.workers} workers, {report.trials} trials, "
            f"server restart: {report.pg_restart}; "
            + ("PASS" if not report.problems else "FAIL: " + ", ".join(report.problems))
            + (f" ({report.aborted})" if report.aborted else "")
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backend", choices=["sqlite", "postgresql", "mysql", "both", "all"], default="all"
    )
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--kill-every", type=float, default=2.0, help="seconds (+-50%%)")
    parser.add_argument("--heartbeat", type=float, default=0.5)
    parser.add_argument("--trial-sleep", type=float, default=0.005)
    parser.add_argument("--pg-restart-mode", choices=["fast", "immediate"], default="immediate")
    parser.add_argument("--timeout", type=float, default=240.0, help="per backend, seconds")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", type=Path, help="also write the reports here")
    parser.add_argument("--keep", action="store_true", help="keep the work folders")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    rng = random.Random(seed)
    backends = {
        "both": ["sqlite", "postgresql"],
        "all": ["sqlite", "postgresql", "mysql"],
    }.get(args.backend, [args.backend])
    reports = []
    for backend in backends:
        if backend == "postgresql" and (reason := unavailable_reason()) is not None:
            print(f"PostgreSQL run skipped: cannot make a throwaway cluster ({reason})")
            continue
        if backend == "mysql" and (reason := mariadb_unavailable()) is not None:
            print(f"MySQL run skipped: cannot make a throwaway MariaDB server ({reason})")
            continue
        print(f"chaos on {backend}: {args.workers} workers, {args.trials} trials ...", flush=True)
        reports.append(run_backend(backend, args, rng))
    command = " ".join(["python tools/chaos.py", *(argv or sys.argv[1:]), f"# seed {seed}"])
    _print(reports, command)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in reports], indent=2))
    return 0 if reports and all(not r.problems for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
