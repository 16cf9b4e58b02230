"""How many concurrent workers one PostgreSQL server holds with trials of 10 s, before the
coordination cost per trial doubles (docs/postgresql.md, "Deploying on a cluster").

Hundreds of real worker processes do not fit on a small machine, so each simulated worker
is a thread with a ``Storage`` of its own (its own connection, as a worker process has)
making, at the cadence of a real trial, the calls a worker makes on PostgreSQL for a trial
longer than a second: ``acquire_trial`` (reserve or create, one statement),
``heartbeat`` every --heartbeat-s during the trial, and ``finish_and_read`` (the result and
the history's changes, one statement); the trial itself is a sleep. The heartbeats are
made by the worker's own thread between sleeps rather than by a ``Heartbeat`` thread, so
that the simulation needs one thread per worker. Workers start spread over one trial's
length, as they drift apart in a real cluster. One Python process simulates them all: on
2 cores it saturates beyond about 256 workers (--max-workers).

The cost of a trial is the wall time of its calls (heartbeats included), from the worker's
side: it includes the server's work, the network and the client's own decoding (the
history read grows with the number of workers). Levels double the workers from --start up
to --max-workers (with --stop-at-double, only until the median cost is twice the first
level's). Wall times suffer from anything else the machine runs, so each level also
reports the CPU time the server's processes (and this process) spent per trial, read from
/proc, which other load disturbs much less.

The server is a throwaway cluster of the tool's own (tests/faults/pgcluster.py, with room
for every level's connections), never the shared one; with --pgbouncer the workers go
through a PgBouncer in transaction mode (tests/faults/bouncer.py) instead.

    .venv/bin/python tools/cluster_sizing.py [--trial-s 10] [--start 8] [--max-workers 512]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "faults"))

from bouncer import Bouncer  # noqa: E402
from pgcluster import ThrowawayCluster  # noqa: E402

from orionlite.errors import ReservationLostError  # noqa: E402
from orionlite.heartbeat import lease_seconds  # noqa: E402
from orionlite.records import TrialRecord, TrialStatus  # noqa: E402
from orionlite.storage import Storage  # noqa: E402


class TimedStorage(Storage):
    """A Storage that adds up the time its heartbeats take."""

    beats_s = 0.0
    beats = 0

    def heartbeat(self, *args: Any, **kwargs: Any) -> bool:
        started = time.perf_counter()
        try:
            return super().heartbeat(*args, **kwargs)
        finally:
            self.beats_s += time.perf_counter() - started
            self.beats += 1


def server_cpu(cluster: ThrowawayCluster) -> float:
    """CPU seconds used so far by the cluster's postmaster and its children (backends,
    background processes), from /proc."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    for pid in [postmaster, *map(int, children)]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a backend that just left
        # utime, stime, and those of waited-for children (cutime, cstime)
        total += sum(int(value) for value in fields[11:15]) / tick
    return total


@dataclass
class Level:
    workers: int
    trials: int = 0
    trials_per_s: float = 0.0
    cost_median_ms: float = 0.0
    cost_p95_ms: float = 0.0
    acquire_median_ms: float = 0.0
    finish_median_ms: float = 0.0
    beats_per_trial: float = 0.0
    lost: int = 0
    errors: list[str] = field(default_factory=list)
    # CPU time per trial ended in the measuring window: the server's processes, and this
    # process (every simulated worker), in ms.
    server_cpu_ms: float = 0.0
    client_cpu_ms: float = 0.0


@dataclass
class _Sample:
    cost_s: float
    acquire_s: float
    finish_s: float
    beats: int


def _worker(
    url: str,
    experiment_id: int,
    name: str,
    args: argparse.Namespace,
    measure_from: float,
    stop_at: float,
    samples: list[_Sample],
    ended: list[float],
    level: Level,
    lock: threading.Lock,
) -> None:
    storage = TimedStorage(url)
    lease_s = lease_seconds(args.heartbeat_s)
    watermark: Any = 0
    try:
        with storage.keep_connection():
            time.sleep(random.uniform(0, args.trial_s))
            while time.monotonic() < stop_at:
                began = time.monotonic()
                started = time.perf_counter()
                trial = storage.acquire_trial(
                    experiment_id, {"x": random.random()}, uuid.uuid4().hex, name, lease_s
                )
                acquire_s = time.perf_counter() - started
                assert isinstance(trial, TrialRecord), trial
                beats_s, beats = storage.beats_s, storage.beats
                alive = True
                trial_ends = time.monotonic() + args.trial_s
                while (left := trial_ends - time.monotonic()) > 0:
                    time.sleep(min(left, args.heartbeat_s))
                    if trial_ends - time.monotonic() > 0:
                        alive = storage.heartbeat(trial, lease_s) and alive
                started = time.perf_counter()
                try:
                    _, watermark = storage.finish_and_read(
                        trial,
                        TrialStatus.COMPLETED,
                        watermark,
                        objective=1.0,
                        results=[{"name": "loss", "type": "objective", "value": 1.0}],
                        exit_code=0,
                        error=None,
                    )
                except ReservationLostError:
                    with lock:
                        level.lost += 1
                    continue
                finish_s = time.perf_counter() - started
                with lock:
                    ended.append(time.monotonic())
                if not alive:
                    with lock:
                        level.lost += 1
                if began >= measure_from:
                    beat_cost = storage.beats_s - beats_s
                    sample = _Sample(
                        acquire_s + finish_s + beat_cost, acquire_s, finish_s, storage.beats - beats
                    )
                    with lock:
                        samples.append(sample)
    except Exception as exc:  # reported in the level's row, never hidden
        with lock:
            level.errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        storage.close()


def run_level(url: str, workers: int, args: argparse.Namespace, cluster: ThrowawayCluster) -> Level:
    level = Level(workers)
    setup = Storage(url)
    record = setup.create_experiment(
        {
            "name": f"sizing-{workers}-{uuid.uuid4().hex[:6]}",
            "version": 1,
            "space": {},
            "algorithm": {"random": {"seed": 1}},
            "command": None,
            "max_trials": None,
            "max_broken": 3,
            "working_dir": None,
            "metadata": {},
        }
    )
    setup.close()
    assert record is not None
    samples: list[_Sample] = []
    ended: list[float] = []
    lock = threading.Lock()
    now = time.monotonic()
    # Every worker has started (spread over one trial) and connected before measuring.
    measure_from = now + args.trial_s * 1.5
    stop_at = measure_from + args.measure_s
    threads = [
        threading.Thread(
            target=_worker,
            args=(
                url,
                record.id,
                f"w{i}",
                args,
                measure_from,
                stop_at,
                samples,
                ended,
                level,
                lock,
            ),
            daemon=True,
        )
        for i in range(workers)
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from - time.monotonic()))
    server_before, client_before = server_cpu(cluster), time.process_time()
    time.sleep(max(0.0, stop_at - time.monotonic()))
    server_after, client_after = server_cpu(cluster), time.process_time()
    for thread in threads:
        thread.join()
    in_window = sum(1 for at in ended if measure_from <= at < stop_at)
    if in_window:
        level.server_cpu_ms = round((server_after - server_before) / in_window * 1000, 2)
        level.client_cpu_ms = round((client_after - client_before) / in_window * 1000, 2)
    if samples:
        costs = sorted(sample.cost_s for sample in samples)
        level.trials = len(samples)
        level.trials_per_s = round(len(samples) / args.measure_s, 2)
        level.cost_median_ms = round(statistics.median(costs) * 1000, 2)
        level.cost_p95_ms = round(costs[int(0.95 * (len(costs) - 1))] * 1000, 2)
        level.acquire_median_ms = round(statistics.median(s.acquire_s for s in samples) * 1000, 2)
        level.finish_median_ms = round(statistics.median(s.finish_s for s in samples) * 1000, 2)
        level.beats_per_trial = round(statistics.mean(s.beats for s in samples), 2)
    return level


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trial-s", type=float, default=10.0)
    parser.add_argument("--heartbeat-s", type=float, default=5.0)
    parser.add_argument("--measure-s", type=float, default=30.0, help="per level")
    parser.add_argument("--start", type=int, default=8)
    parser.add_argument("--max-workers", type=int, default=256)
    parser.add_argument("--pgbouncer", action="store_true", help="workers go through PgBouncer")
    parser.add_argument("--pool-size", type=int, default=20, help="PgBouncer's server pool")
    parser.add_argument("--json", type=Path, help="also write the levels here")
    parser.add_argument(
        "--stop-at-double",
        action="store_true",
        help="stop at the first level whose median cost is twice the first's (on a quiet "
        "machine; under other load, run every level and read the trend)",
    )
    args = parser.parse_args()
    # SIGTERM ends the run through the clean-up below (the cluster is deleted).
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))

    cluster = ThrowawayCluster(max_connections=args.max_workers + 20)
    bouncer: Bouncer | None = None
    levels: list[Level] = []
    try:
        cluster.start()
        url = cluster.create_database("sizing")
        if args.pgbouncer:
            bouncer = Bouncer(url, pool_size=args.pool_size, max_client_conn=args.max_workers + 20)
            url = f"{bouncer.start().url()}?pgbouncer=true"
        Storage(url).close()
        print(
            f"{'workers':>7} {'trials':>6} {'trials/s':>8} {'cost ms':>8} {'p95 ms':>8} "
            f"{'ratio':>6} {'acquire':>8} {'finish':>8} {'beats':>5} {'lost':>4} "
            f"{'server cpu ms':>13} {'client cpu ms':>13} errors",
            flush=True,
        )
        workers = args.start
        while workers <= args.max_workers:
            level = run_level(url, workers, args, cluster)
            levels.append(level)
            ratio = level.cost_median_ms / levels[0].cost_median_ms if levels[0].trials else 0
            print(
                f"{level.workers:>7} {level.trials:>6} {level.trials_per_s:>8} "
                f"{level.cost_median_ms:>8} {level.cost_p95_ms:>8} {ratio:>6.2f} "
                f"{level.acquire_median_ms:>8} {level.finish_median_ms:>8} "
                f"{level.beats_per_trial:>5} {level.lost:>4} {level.server_cpu_ms:>13} "
                f"{level.client_cpu_ms:>13} {len(level.errors)} {level.errors[:1]}",
                flush=True,
            )
            if level.errors or (args.stop_at_double and ratio >= 2.0):
                break
            workers *= 2
    finally:
        if bouncer is not None:
            bouncer.destroy()
        cluster.destroy()
    if args.json:
        args.json.write_text(json.dumps([asdict(level) for level in levels], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
