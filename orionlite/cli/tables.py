"""Plain-text tables that fit the terminal: columns shrink with an ellipsis, key-value
tables wrap their values at spaces, and a table too wide even so is shown as one block
of ``header: value`` lines per row. Words are never cut in the middle."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Sequence

ELLIPSIS = "…"
_GAP = "  "
# A column is never shrunk below this (nor below its header).
_MIN_CELL = 6


def available_width() -> int | None:
    """The width to fit: $COLUMNS when set, the terminal's when stdout is one, else None
    (piped output is never cut)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + ELLIPSIS


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int | None) -> list[str]:
    """The table's lines, each at most ``width`` characters (when given)."""
    if headers and not any(headers) and len(headers) == 2:
        return _key_values(rows, width)
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    if width is not None:
        shrunk = _shrink(widths, [len(h) for h in headers], width)
        if shrunk is None:
            return _blocks(headers, rows, width)
        widths = shrunk
    lines = [_line(headers, widths), _line(["─" * w for w in widths], widths)]
    lines += [_line(row, widths) for row in rows]
    return lines


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return _GAP.join(_cut(c, w).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def _shrink(widths: list[int], floors: list[int], width: int) -> list[int] | None:
    """Narrow the widest columns, one character at a time, until the table fits; None
    when it cannot fit without cutting a header."""
    widths = list(widths)
    minimum = [max(f, min(_MIN_CELL, w)) for f, w in zip(floors, widths, strict=True)]
    budget = width - len(_GAP) * (len(widths) - 1)
    while sum(widths) > budget:
        candidates = [i for i, w in enumerate(widths) if w > minimum[i]]
        if not candidates:
            return None
        widest = max(candidates, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def _blocks(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[str]:
    key_width = max(len(h) for h in headers)
    lines: list[str] = []
    for row in rows:
        if lines:
            lines.append("")
        for header, cell in zip(headers, row, strict=True):
            lines.append(_cut(f"{header:<{key_width}}  {cell}", width))
    return lines


def _key_values(rows: Sequence[Sequence[str]], width: int | None) -> list[str]:
    key_width = max((len(r[0]) for r in rows), default=0)
    indent = " " * (key_width + len(_GAP))
    lines: list[str] = []
    for key, value in rows:
        first = f"{key:<{key_width}}{_GAP}"
        if width is None or len(first) + len(value) <= width:
            lines.append((first + value).rstrip())
            continue
        if width - len(indent) < 20:  # keys too long to leave room: value below its key
            lines.append(_cut(key, width))
            wrapped = textwrap.wrap(value, width - 2, break_long_words=False) or [""]
            lines += [_cut("  " + part, width) for part in wrapped]
            continue
        wrapped = textwrap.wrap(
            value,
            width,
            initial_indent=first,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        lines += [_cut(part, width) for part in wrapped]
    return lines
