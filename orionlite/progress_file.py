"""Reading the progress file a trial appends to (``$ORIONLITE_PROGRESS_PATH``).

The worker follows the file while the trial runs: each read takes the complete lines
appended since the last one (a line without its newline yet waits for the next read, or
for the end of the trial). A line that breaks the protocol is never fatal: it becomes a
warning naming its line number, and is ignored.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path

_NON_FINITE_TEXT = {"nan": math.nan, "inf": math.inf, "+inf": math.inf, "-inf": -math.inf}
_NON_FINITE_TEXT |= {"infinity": math.inf, "-infinity": -math.inf, "+infinity": math.inf}
# A trial writing megabytes without a newline is not following the protocol: past this,
# the pending text is dropped with a warning instead of held in memory.
_MAX_LINE_BYTES = 1 << 20


@dataclass
class ProgressRead:
    """What one read found: valid points, warnings, and the line numbers of non-finite
    values (each also a warning)."""

    points: list[tuple[int, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    non_finite: list[int] = field(default_factory=list)


class ProgressFile:
    """Follows one trial's progress file from its start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._pending = b""
        self._line_number = 0
        self.last_step: int | None = None

    def read(self, final: bool = False) -> ProgressRead:
        """The complete lines appended since the last read; with ``final`` (the trial
        exited) a last line without its newline too."""
        found = ProgressRead()
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            data = b""
        self._offset += len(data)
        text = self._pending + data
        lines = text.split(b"\n")
        self._pending = lines.pop()
        if final and self._pending.strip():
            lines.append(self._pending)
            self._pending = b""
        elif len(self._pending) > _MAX_LINE_BYTES:
            self._line_number += 1
            found.warnings.append(
                f"line {self._line_number}: longer than {_MAX_LINE_BYTES} bytes without a "
                "newline; ignored"
            )
            self._pending = b""
        for raw in lines:
            self._line_number += 1
            self._parse(raw, found)
        return found

    def _parse(self, raw: bytes, found: ProgressRead) -> None:
        number = self._line_number
        if not raw.strip():
            return  # blank lines are harmless
        try:
            item = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            found.warnings.append(f"line {number}: not a JSON object; ignored: {_shown(raw)}")
            return
        if not isinstance(item, dict) or "step" not in item or "value" not in item:
            found.warnings.append(
                f'line {number}: expected {{"step": N, "value": V}}; ignored: {_shown(raw)}'
            )
            return
        step, value = item["step"], item["value"]
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            found.warnings.append(
                f"line {number}: step {step!r} is not a non-negative integer; ignored"
            )
            return
        if isinstance(value, str) and value.strip().lower() in _NON_FINITE_TEXT:
            value = _NON_FINITE_TEXT[value.strip().lower()]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            found.warnings.append(f"line {number}: value {value!r} is not a number; ignored")
            return
        value = float(value)
        if self.last_step is not None and step <= self.last_step:
            found.warnings.append(
                f"line {number}: step {step} does not increase (the last one was "
                f"{self.last_step}); ignored"
            )
            return
        if not math.isfinite(value):
            found.warnings.append(
                f"line {number}: value {value!r} at step {step} is not finite; ignored"
            )
            found.non_finite.append(number)
            return
        self.last_step = step
        found.points.append((step, value))


def _shown(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return text if len(text) <= 80 else text[:77] + "..."
