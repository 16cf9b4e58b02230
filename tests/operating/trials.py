"""Trial scripts for the operating tests, written into the test's folder."""

from __future__ import annotations

from pathlib import Path

# Reports x as the objective; with --sleep waits first; with --ignore-int ignores Ctrl-C;
# with --fail-flag F exits 1 while the file F exists (so does a file 'sleep'
# holding seconds make it wait); touches started-<trial id> in the launch folder when it starts.
TRIAL_SCRIPT = """
import argparse, os, signal, sys, time
from pathlib import Path
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
parser.add_argument("--layers", type=int, default=1)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--ignore-int", action="store_true")
parser.add_argument("--fail-flag", default="")
args, _ = parser.parse_known_args()
launch = Path(os.environ["ORIONLITE_LAUNCH_DIR"])
(launch / f"started-{os.environ['ORIONLITE_TRIAL_ID']}").touch()
if args.ignore_int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
time.sleep(args.sleep)
if (launch / "sleep").exists():  # set by a test while a stored command runs
    time.sleep(float((launch / "sleep").read_text()))
if args.fail_flag and (launch / args.fail_flag).exists():
    sys.exit("failing because " + args.fail_flag + " exists")
from orionlite import report_objective
report_objective(args.x + args.layers)
"""


def write_trial(folder: Path) -> str:
    path = folder / "trial.py"
    path.write_text(TRIAL_SCRIPT)
    return str(path)


def started(folder: Path) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in folder.glob("started-*"))
