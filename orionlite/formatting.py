"""How parameters and a broken trial's error read in messages, the same in ``hunt``'s
and the Python API's."""

from __future__ import annotations

from orionlite.records import TrialRecord


def format_value(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def format_params(params: dict[str, object]) -> str:
    """``lr=0.001, layers=2``: floats to 6 significant digits."""
    return ", ".join(f"{name}={format_value(value)}" for name, value in params.items())


def indent(text: str) -> str:
    return "\n".join("  " + line for line in text.strip().splitlines())


def last_broken_details(trial: TrialRecord) -> str:
    """The lines that end a "too many broken trials" error: the last broken trial's
    parameters and its error, indented."""
    return f"\nLast broken trial {trial.id} ({format_params(trial.params)}):\n" + indent(
        trial.error or "no error message was recorded"
    )
