"""SPEC §2.1 and §2.2 with real processes: many ``hunt`` workers, one experiment."""

from __future__ import annotations

import json
import textwrap
from collections import Counter

from orionlite.records import TrialStatus
from orionlite.storage import Storage

WORKERS = 8
MAX_TRIALS = 40

TRIAL = textwrap.dedent(
    """
    import fcntl, json, os, random, sys, time
    from orionlite import report_objective
    time.sleep(random.uniform(0, 0.05))
    record = {"trial": os.environ["ORIONLITE_TRIAL_ID"], "argv": sys.argv[1:]}
    with open(sys.argv[-1], "a") as log:
        fcntl.flock(log, fcntl.LOCK_EX)
        log.write(json.dumps(record) + "\\n")
    x = float(sys.argv[1].split("=")[1])
    report_objective((x - 0.3) ** 2)
    """
)


def test_eight_workers_complete_exactly_max_trials_without_duplicates(cli) -> None:
    (cli.cwd / "trial.py").write_text(TRIAL)
    runs_log = cli.cwd / "runs.jsonl"
    args = [
        "-n",
        "exp",
        "--max-trials",
        str(MAX_TRIALS),
        "--",
        cli.python,
        "trial.py",
        "--x~uniform(0, 1)",
        "--y~choices(['a', 'b', 'c'])",
        str(runs_log),
    ]
    workers = [cli.start("hunt", *args) for _ in range(WORKERS)]
    outputs = [worker.communicate(timeout=240) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr
        assert "database is locked" not in stderr

    runs = [json.loads(line) for line in runs_log.read_text().splitlines()]
    params_run = Counter(tuple(run["argv"][:2]) for run in runs)
    assert len(runs) == MAX_TRIALS, "every trial ran exactly once"
    assert max(params_run.values()) == 1, "no parameter set ran twice"
    assert len({run["trial"] for run in runs}) == MAX_TRIALS

    storage = Storage(cli.storage)
    record = storage.get_experiment("exp")
    assert record is not None
    counts = storage.count_by_status(record.id)
    assert counts[TrialStatus.COMPLETED] == MAX_TRIALS
    assert sum(counts.values()) == MAX_TRIALS
    workers_used = {t.reserved_by for t in storage.trials(record.id)}
    storage.close()
    assert len(workers_used) > 1, "the work was shared"
