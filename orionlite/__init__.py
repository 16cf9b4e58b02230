"""orionlite: masterless hyperparameter tuning synchronised through a database.

Every public name loads on first access: ``orionlite --help`` imports this package and
should pay for nothing else, trial scripts calling ``report_objective`` should not pay
for SQLAlchemy or numpy, and the Python API (``build_experiment``, ``get_experiment``,
``ExperimentClient``...) loads when it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orionlite.client import (
        ExperimentClient,
        Trial,
        WorkonResult,
        build_experiment,
        get_experiment,
    )
    from orionlite.errors import (
        CompletedExperimentError,
        OrionliteError,
        TooManyBrokenTrialsError,
        TrialFailedError,
        WaitingForTrialsError,
    )
    from orionlite.records import TrialStatus
    from orionlite.results import report_objective, report_results

# Public name -> module holding it, imported on first access (PEP 562).
_LAZY = {
    "build_experiment": "orionlite.client",
    "get_experiment": "orionlite.client",
    "ExperimentClient": "orionlite.client",
    "Trial": "orionlite.client",
    "WorkonResult": "orionlite.client",
    "TrialStatus": "orionlite.records",
    "OrionliteError": "orionlite.errors",
    "CompletedExperimentError": "orionlite.errors",
    "WaitingForTrialsError": "orionlite.errors",
    "TrialFailedError": "orionlite.errors",
    "TooManyBrokenTrialsError": "orionlite.errors",
    "report_objective": "orionlite.results",
    "report_results": "orionlite.results",
}

__all__ = [
    "CompletedExperimentError",
    "ExperimentClient",
    "OrionliteError",
    "TooManyBrokenTrialsError",
    "Trial",
    "TrialFailedError",
    "TrialStatus",
    "WaitingForTrialsError",
    "WorkonResult",
    "build_experiment",
    "get_experiment",
    "report_objective",
    "report_results",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orionlite' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
