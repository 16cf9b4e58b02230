"""The results protocol between a trial's process and its worker.

The worker sets ``$ORIONLITE_RESULTS_PATH``; the trial writes there a JSON list of
``{"name": str, "type": "objective"|"constraint"|"statistic", "value": number}`` with
one objective, or one per objective the experiment declares (``orionlite.objectives``
checks them against the declaration); a constraint is satisfied when ``<= 0``. A file
keeps the protocol open to any language; Python scripts call :func:`report_objective` or
:func:`report_results`. The worker reads the file with :func:`read_results` once the
process has exited 0.

Every user script imports this module, so it imports nothing heavy (no numpy).
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import reprlib
import tempfile
import warnings
from pathlib import Path
from typing import Any

from orionlite.errors import ResultsError

RESULTS_PATH_ENV = "ORIONLITE_RESULTS_PATH"
RESULT_TYPES = ("objective", "constraint", "statistic")
_FIX = (
    "call orionlite.report_objective(value) or write "
    '[{"name": "loss", "type": "objective", "value": 0.1}] to $ORIONLITE_RESULTS_PATH'
)


def _validated(results: Any, where: str) -> list[dict[str, Any]]:
    """Check ``results`` against the protocol; return copies with plain int/float values.

    ``where`` (e.g. `` in /path/results.json``) says in the message where they came from.
    Values are converted because numpy scalars pass as numbers but JSON cannot encode them.
    NaN and infinity are numbers here: whether the objective is usable is
    :func:`objective_of`'s call, so that the stored results still show what was reported.
    """

    def fail(problem: str) -> ResultsError:
        return ResultsError(f"Invalid results{where}: {problem}.", hint=_FIX)

    if not isinstance(results, list):
        raise fail(f"expected a list of objects, got {reprlib.repr(results)}")
    checked: list[dict[str, Any]] = []
    for number, item in enumerate(results, 1):
        if not isinstance(item, dict):
            raise fail(f"item {number} is {reprlib.repr(item)}, not an object")
        missing = [key for key in ("name", "type", "value") if key not in item]
        if missing:
            raise fail(f"item {number} lacks {', '.join(repr(key) for key in missing)}")
        name, kind, value = item["name"], item["type"], item["value"]
        if not isinstance(name, str) or not name:
            raise fail(f"item {number} has name {name!r}; a name is a non-empty string")
        if kind not in RESULT_TYPES:
            raise fail(f"{name!r} has type {kind!r}; use one of {', '.join(RESULT_TYPES)}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise fail(f"{name!r} has value {reprlib.repr(value)}, which is not a number")
        value = int(value) if isinstance(value, numbers.Integral) else float(value)
        checked.append({**item, "value": value})
    objectives = [item["name"] for item in checked if item["type"] == "objective"]
    if not objectives:
        raise fail("at least one item must have type 'objective', found none")
    twice = sorted({name for name in objectives if objectives.count(name) > 1})
    if twice:
        raise fail(f"objective {', '.join(map(repr, twice))} is reported more than once")
    return checked


def normalize_results(value: float | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accept what ``observe`` and ``workon`` functions return: a bare objective or a list."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return [{"name": "objective", "type": "objective", "value": float(value)}]
    return _validated(value, "")


def objective_of(results: list[dict[str, Any]]) -> float:
    """The first objective's value; NaN or infinity cannot be ranked, so a non-finite
    objective (any of them) is an error."""
    objectives = [item for item in _validated(results, "") if item["type"] == "objective"]
    for objective in objectives:
        value = float(objective["value"])
        if not math.isfinite(value):
            raise ResultsError(
                f"objective is {value!r}: the trial reported {objective['name']!r} = "
                f"{value!r}, and only a finite number can be compared.",
                hint="Check the training for divergence, or report a large finite loss instead",
            )
    return float(objectives[0]["value"])


def storable_results(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Results as a database can hold them: JSON has no NaN or infinity (PostgreSQL
    refuses them), so a non-finite extra value (a statistic, a constraint) is kept as
    null. The objective itself is never non-finite here: such a trial is broken."""
    return [
        {**item, "value": None}
        if isinstance(item["value"], float) and not math.isfinite(item["value"])
        else item
        for item in results
    ]


def read_results(path: Path) -> list[dict[str, Any]]:
    """Read and validate the file a trial wrote; every failure names the file and the fix."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(
            f"No results file {path}: the trial exited 0 without reporting results.", hint=_FIX
        ) from None
    except (OSError, UnicodeError) as exc:
        raise ResultsError(f"Results file {path} could not be read: {exc}.", hint=_FIX) from None
    if not text.strip():
        raise ResultsError(f"Results file {path} is empty.", hint=_FIX)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"Results file {path} is not valid JSON ({exc}).", hint=_FIX) from None
    return _validated(data, f" in {path}")


def report_results(results: list[dict[str, Any]]) -> None:
    """Report a trial's results from a Python script run by orionlite.

    Results are validated first, so a script run by hand still catches mistakes. Calling
    it again replaces the file: the last report is the trial's result. Without
    ``$ORIONLITE_RESULTS_PATH`` (a script run by hand) it warns and records nothing.
    """
    _report(_validated(results, ""))


def report_objective(value: float, name: str = "objective") -> None:
    """Report the one number to minimise; shorthand for :func:`report_results`."""
    _report(_validated([{"name": name, "type": "objective", "value": value}], ""))


def _report(results: list[dict[str, Any]]) -> None:
    target = os.environ.get(RESULTS_PATH_ENV)
    if not target:
        warnings.warn(
            f"Results are not recorded: ${RESULTS_PATH_ENV} is not set, "
            "so this script is not run by orionlite.",
            stacklevel=3,  # the user's call, past report_* and this function
        )
        return
    _write_atomically(Path(target), json.dumps(results))


def _write_atomically(path: Path, text: str) -> None:
    """Write then rename, so a script killed mid-write leaves the previous file or none,
    never a truncated one that the worker would report as invalid JSON."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
