"""Run one trial of the user's command: argv list (no shell), its own folder and
environment, output to log files, results read from the results file."""

from __future__ import annotations

import functools
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from orionlite.cmdline import CommandTemplate
from orionlite.configfile import fill_arguments, find_config_files
from orionlite.errors import CommandError, ResultsError
from orionlite.outcome import LOST, LOST_AND_STOPPED, RunControls, TrialOutcome
from orionlite.records import TrialRecord, TrialStatus
from orionlite.results import RESULTS_PATH_ENV, objective_of, read_results

if TYPE_CHECKING:
    from collections.abc import Callable

    from orionlite.trial_progress import CommandProgress

STDERR_TAIL_LINES = 20
# After forwarding Ctrl-C/SIGTERM, how long the trial may take to wrap up (save a
# checkpoint) before it is killed.
DEFAULT_GRACE_S = 10.0
_POLL_S = 0.05
# A trial still running this long after the stop signal gets a line saying it is stopping.
_ANNOUNCE_STOPPING_S = 1.0
log = logging.getLogger(__name__)
LAUNCH_DIR_ENV = "ORIONLITE_LAUNCH_DIR"
# Appended to a broken trial's error when its stderr shows a missing file: the usual cause
# is a path relative to where hunt was started, while the trial runs in its own folder.
HINT_PREFIX = "Hint: "
FILE_NOT_FOUND_HINT = (
    f"{HINT_PREFIX}each trial runs in its own folder (ORIONLITE_WORKING_DIR); open files "
    f"relative to where hunt was started with os.path.join(os.environ['{LAUNCH_DIR_ENV}'], "
    "...), or give absolute paths."
)
_INTERRUPTED_EXIT_CODES = {130, -signal.SIGINT, -signal.SIGTERM}


def check_executable(argv: list[str]) -> None:
    """Fail before any trial runs if the program cannot be found."""
    program = argv[0]
    if os.sep in program:
        found = os.access(program, os.X_OK) and Path(program).is_file()
    else:
        found = shutil.which(program) is not None
    if not found:
        raise CommandError(
            f"The command {program!r} was not found"
            + ("" if os.sep in program else " on PATH")
            + " or is not executable.",
            hint="Check the spelling, give the full path, or make the script executable "
            "(chmod +x) and start it with a #! line.",
        )


class CommandRunner:
    """Runs a trial as a subprocess in its own process group (so signals reach the whole
    tree a training script may start)."""

    def __init__(
        self,
        template: CommandTemplate,
        *,
        experiment_name: str,
        experiment_version: int,
        experiment_dir: Path,
        storage_url: str,
        echo_output: bool = False,
        grace_s: float = DEFAULT_GRACE_S,
        trial_timeout_s: float | None = None,
        progress: Callable[[TrialRecord, Path], CommandProgress] | None = None,
    ) -> None:
        self.template = template
        self.experiment_name = experiment_name
        self.experiment_version = experiment_version
        self.experiment_dir = experiment_dir
        self.storage_url = storage_url
        self.echo_output = echo_output
        self.grace_s = grace_s
        # A trial running longer is stopped (_stop_trial) and recorded broken: "timeout".
        self.trial_timeout_s = trial_timeout_s
        # Follows each trial's progress file and runs the stop sequence (early stopping).
        self.progress = progress
        self.launch_dir = Path.cwd()
        # Config files of the command holding priors (SPEC §1): each trial gets a filled copy.
        self.config_files = find_config_files(template.argv, self.launch_dir)

    def run(self, trial: TrialRecord, controls: RunControls) -> TrialOutcome:
        trial_dir = self.experiment_dir / str(trial.id)
        trial_dir.mkdir(parents=True, exist_ok=True)
        # One results file per reservation: a presumed-dead worker that wakes up cannot
        # leave a file the new owner would mistake for its own.
        results_path = trial_dir / f"results-attempt{trial.attempt}.json"
        results_path.unlink(missing_ok=True)
        argv = self._resolve_paths(
            fill_arguments(
                self.template.render(trial.params, self._context(trial, trial_dir)),
                self.config_files,
                trial.params,
                trial_dir,
            )
        )
        env = self._environment(trial, trial_dir, results_path)
        watch = self.progress(trial, trial_dir) if self.progress is not None else None
        if watch is not None:
            env.update(watch.environment())
        stderr_tail: list[str] = []
        try:
            process = subprocess.Popen(
                _dying_with_this_process(argv),
                cwd=trial_dir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            return TrialOutcome(TrialStatus.BROKEN, error=f"Could not start {argv[0]!r}: {exc}")
        copiers = [
            _copy_stream(process.stdout, trial_dir / "stdout.log", sys.stdout, self.echo_output),
            _copy_stream(
                process.stderr, trial_dir / "stderr.log", sys.stderr, self.echo_output, stderr_tail
            ),
        ]
        interrupted_at: float | None = None
        announced = False
        lost = False
        timed_out = False
        deadline = None if self.trial_timeout_s is None else time.monotonic() + self.trial_timeout_s
        exited = _ExitWatch(process)
        try:
            while process.poll() is None:
                if deadline is not None and interrupted_at is None and time.monotonic() > deadline:
                    timed_out = True
                    self._stop_trial(process, watch)
                    interrupted_at = time.monotonic()
                elif controls.lost() and not lost:
                    lost = True
                    _signal_group(process, signal.SIGTERM)
                    interrupted_at = time.monotonic()
                elif controls.interrupted() and interrupted_at is None:
                    _signal_group(process, _stop_signal(controls))
                    interrupted_at = time.monotonic()
                if (
                    interrupted_at is not None
                    and not announced
                    and not lost
                    and not timed_out
                    and time.monotonic() - interrupted_at > _ANNOUNCE_STOPPING_S
                ):
                    # The trial did not stop at once: say why nothing seems to happen.
                    announced = True
                    log.warning(
                        "stopping trial %s (press Ctrl-C again to kill it now)",
                        trial.id,
                        extra={"action": "trial_stopping", "trial_id": trial.id},
                    )
                if interrupted_at is not None and (
                    controls.forced() or time.monotonic() - interrupted_at > self.grace_s
                ):
                    _signal_group(process, signal.SIGKILL)
                if watch is not None and not lost:
                    watch.poll(process.pid)
                # Wakes as soon as the trial exits (a trivial trial would otherwise pay
                # up to a whole poll interval), and at least every _POLL_S for signals.
                exited.wait(_POLL_S)
        except BaseException:
            # This worker is going away (a third Ctrl-C raised KeyboardInterrupt): its own
            # session keeps the trial out of the terminal's reach, so kill it here rather
            # than leave it running unseen.
            _signal_group(process, signal.SIGKILL)
            raise
        finally:
            exited.close()
        for copier in copiers:
            copier.join()
        if lost:
            return LOST_AND_STOPPED
        if controls.lost():
            return LOST
        if timed_out and not controls.interrupted():
            outcome = _timed_out(process.returncode, stderr_tail, self.trial_timeout_s)
        else:
            outcome = _outcome(
                process.returncode, results_path, stderr_tail, interrupted_at is not None
            )
        return outcome if watch is None else watch.conclude(outcome)

    @staticmethod
    def _stop_trial(process: subprocess.Popen[bytes], watch: CommandProgress | None) -> None:
        """Ask a running trial to stop, as an interrupted one is: its stop file (which a
        trial that checkpoints may watch) and SIGTERM to its process group now, SIGKILL
        after ``grace_s`` (the run loop)."""
        if watch is not None:
            watch.stop_path.touch()
        _signal_group(process, signal.SIGTERM)

    def _resolve_paths(self, argv: list[str]) -> list[str]:
        """Make arguments naming files of the launch folder absolute.

        The trial runs in its own folder, but users write ``python train.py`` relative to
        where they started ``hunt``; without this, every such command would break.
        """
        resolved = []
        for argument in argv:
            candidate = self.launch_dir / argument
            if argument and not argument.startswith("-") and not Path(argument).is_absolute():
                if os.sep in argument or "." in argument:
                    if candidate.exists():
                        argument = str(candidate)
            resolved.append(argument)
        return resolved

    def _context(self, trial: TrialRecord, trial_dir: Path) -> dict[str, str]:
        return {
            "trial.id": str(trial.id),
            "trial.working_dir": str(trial_dir),
            "trial.hash_params": trial.params_hash,
            "exp.name": self.experiment_name,
            "exp.version": str(self.experiment_version),
            "exp.working_dir": str(self.experiment_dir),
        }

    def _environment(
        self, trial: TrialRecord, trial_dir: Path, results_path: Path
    ) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "ORIONLITE_EXPERIMENT_NAME": self.experiment_name,
                "ORIONLITE_EXPERIMENT_VERSION": str(self.experiment_version),
                "ORIONLITE_TRIAL_ID": str(trial.id),
                "ORIONLITE_WORKING_DIR": str(trial_dir),
                RESULTS_PATH_ENV: str(results_path),
                "ORIONLITE_TRIAL_PARAMS": json.dumps(trial.params),
                "ORIONLITE_STORAGE": self.storage_url,
                # Where hunt was started: the trial runs in its own folder, so relative
                # paths to data files resolve from here (os.path.join(LAUNCH_DIR, ...)).
                LAUNCH_DIR_ENV: str(self.launch_dir),
            }
        )
        return env


def _timed_out(returncode: int, stderr_tail: list[str], timeout_s: float | None) -> TrialOutcome:
    """Broken, with reason "timeout": the trial ran past --trial-timeout and was stopped."""
    tail = "".join(stderr_tail[-STDERR_TAIL_LINES:]).rstrip()
    error = (
        f"Timeout: the trial ran longer than --trial-timeout ({timeout_s:g} s) and was "
        "stopped (SIGTERM, then SIGKILL after the grace period)."
    ) + (f"\n{tail}" if tail else "")
    return TrialOutcome(TrialStatus.BROKEN, exit_code=returncode, error=error)


def _outcome(
    returncode: int, results_path: Path, stderr_tail: list[str], interrupted: bool
) -> TrialOutcome:
    tail = "".join(stderr_tail[-STDERR_TAIL_LINES:]).rstrip() or None
    if interrupted or returncode in _INTERRUPTED_EXIT_CODES:
        return TrialOutcome(TrialStatus.INTERRUPTED, exit_code=returncode, error=tail)
    if returncode != 0:
        reason = (
            f"killed by signal {signal.Signals(-returncode).name}"
            if returncode < 0 and -returncode in signal.valid_signals()
            else f"exited with code {returncode}"
        )
        error = f"The command {reason}." + (f"\n{tail}" if tail else "")
        if tail and "FileNotFoundError" in tail:
            error += "\n" + FILE_NOT_FOUND_HINT
        return TrialOutcome(TrialStatus.BROKEN, exit_code=returncode, error=error)
    try:
        results = read_results(results_path)
        objective = objective_of(results)
    except ResultsError as exc:
        message = exc.message + (f"\n{exc.hint}" if exc.hint else "")
        return TrialOutcome(TrialStatus.BROKEN, exit_code=0, error=message)
    return TrialOutcome(TrialStatus.COMPLETED, objective=objective, results=results, exit_code=0)


def _stop_signal(controls: RunControls) -> int:
    """The signal the user sent hunt (SIGINT for Ctrl-C, SIGTERM from a scheduler), so the
    trial sees what it would have seen without orionlite; SIGINT when unknown."""
    get = getattr(controls, "stop_signal", None)
    return int(get()) if callable(get) else int(signal.SIGINT)


@functools.cache
def _setpriv() -> str | None:
    return shutil.which("setpriv") if sys.platform.startswith("linux") else None


def _dying_with_this_process(argv: list[str]) -> list[str]:
    """``argv`` started so that the trial is SIGKILLed if this process dies.

    The trial has a session of its own (Ctrl-C reaches it only through us), so when hunt
    is SIGKILLed (the OOM killer, ``kill -9``, a scheduler without a grace period)
    nothing else would stop it: it would go on training unseen while, once its lease runs
    out, another worker runs the same trial again. Linux's parent-death signal ends it
    instead, set by util-linux's ``setpriv``, which then execs the command (same process,
    about 1.5 ms per trial; a ``preexec_fn`` doing the same would cost 8-12 ms, as Python
    must then fork instead of vfork). It reaches the command hunt started, so a wrapper
    script should ``exec`` the program it wraps. Without setpriv (not Linux, a minimal
    container) the command runs as given and outlives a killed hunt.
    """
    setpriv = _setpriv()
    return argv if setpriv is None else [setpriv, "--pdeathsig", "KILL", "--", *argv]


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def _echo(stream: Any, line: bytes) -> None:
    binary = getattr(stream, "buffer", None)
    if binary is not None:
        binary.write(line)
        binary.flush()
    else:
        stream.write(line.decode(errors="replace"))
        stream.flush()


def _copy_stream(
    source: IO[bytes] | None,
    log_path: Path,
    echo_to: Any,
    echo: bool,
    tail: list[str] | None = None,
) -> threading.Thread:
    """Copy a pipe to its log file (and the terminal with --verbose), keeping a tail."""

    def copy() -> None:
        assert source is not None
        with open(log_path, "wb") as log_file:
            for line in iter(source.readline, b""):
                log_file.write(line)
                if echo:
                    _echo(echo_to, line)
                if tail is not None:
                    tail.append(line.decode(errors="replace"))
                    del tail[: -STDERR_TAIL_LINES * 2]
        source.close()

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    return thread


class _ExitWatch:
    """Waits for a process to exit, or for a timeout, whichever comes first.

    ``Popen.wait(timeout)`` polls with sleeps that double from 0.5 ms to 50 ms, so a trial
    that ends after 20-30 ms is noticed up to 15 ms late, on every trial. Linux hands out
    a file descriptor that becomes readable when the process exits (``pidfd_open``); the
    wait then ends the moment it does. Elsewhere, the polling wait is the fallback.
    """

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        try:
            self._fd: int | None = os.pidfd_open(process.pid)
        except (AttributeError, OSError):  # not Linux >= 5.3, or the process is gone
            self._fd = None

    def wait(self, timeout_s: float) -> None:
        if self._fd is None:
            try:
                self._process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass
            return
        select.select([self._fd], [], [], timeout_s)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
