"""What every figure file shares: the suffixes each library writes, the size and
resolution of a matplotlib figure, and the refusal when the plotting extra is missing."""

from __future__ import annotations

from typing import Any

from orionlite.errors import MissingExtraError

MATPLOTLIB_SUFFIXES = (".png", ".svg", ".pdf")
PLOTLY_SUFFIXES = (".html",)
INSTALL_HINT = "Install the plotting extra: pip install 'orionlite[plot]'"
FIGSIZE = (9.0, 5.5)
DPI = 120


def require_extra(module: str) -> None:
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module} is not installed; orionlite plot needs it for this file type.",
            hint=INSTALL_HINT,
        ) from exc


def new_figure() -> Any:
    """A matplotlib Figure with its own Agg canvas: no pyplot, no global state or GUI."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGSIZE, layout="constrained")
    FigureCanvasAgg(figure)
    return figure
