"""Problems of the search benchmark (benchmarks/search.py): single objective, several
objectives, a constrained one, each with its orionlite space and its Optuna twin."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from _functions import branin, hartmann6

Params = dict[str, Any]


@dataclass(frozen=True)
class Single:
    """One objective to minimise, with its known minimum (regret = best - minimum)."""

    name: str
    priors: dict[str, str]
    function: Callable[[Params], float]
    minimum: float


def _levy(params: Params) -> float:
    """Levy on [-10, 10]^10, minimum 0 at x = 1."""
    x = np.array([params[f"x{i + 1}"] for i in range(10)], dtype=float)
    w = 1 + (x - 1) / 4
    head = math.sin(math.pi * w[0]) ** 2
    middle = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return float(head + middle + tail)


_OPT_PENALTY = {"adam": 0.0, "sgd": 0.4, "rmsprop": 0.15}
_ACT_PENALTY = {"relu": 0.0, "tanh": 0.2}


def _mixed(params: Params) -> float:
    """Two categorical (opt, act), one integer (layers in 1..8), three continuous
    (x1..x3 in [0, 1]); minimum 0 at adam, relu, 3 layers, x = (0.2, 0.7, 0.5). The
    continuous part interacts (a product term) so that dimensions are not separable."""
    x1, x2, x3 = params["x1"], params["x2"], params["x3"]
    return (
        _OPT_PENALTY[params["opt"]]
        + _ACT_PENALTY[params["act"]]
        + 0.05 * (params["layers"] - 3) ** 2
        + (x1 - 0.2) ** 2
        + (x2 - 0.7) ** 2
        + (x3 - 0.5) ** 2
        + 2.0 * ((x1 - 0.2) * (x3 - 0.5)) ** 2
    )


def _uniform(names: list[str], low: float, high: float) -> dict[str, str]:
    return {name: f"uniform({low}, {high})" for name in names}


SINGLE = {
    "branin": Single(
        "Branin",
        {"x1": "uniform(-5, 10)", "x2": "uniform(0, 15)"},
        lambda p: branin([p["x1"], p["x2"]]),
        0.397887357729739,
    ),
    "hartmann6": Single(
        "Hartmann6",
        _uniform([f"x{i + 1}" for i in range(6)], 0, 1),
        lambda p: hartmann6([p[f"x{i + 1}"] for i in range(6)]),
        -3.32236801141551,
    ),
    "levy10": Single("Levy 10-d", _uniform([f"x{i + 1}" for i in range(10)], -10, 10), _levy, 0.0),
    "mixed": Single(
        "mixed (2 cat, 1 int, 3 real)",
        {
            "opt": "choices(['adam', 'sgd', 'rmsprop'])",
            "act": "choices(['relu', 'tanh'])",
            "layers": "uniform(1, 8, discrete=True)",
            **_uniform(["x1", "x2", "x3"], 0, 1),
        },
        _mixed,
        0.0,
    ),
}


@dataclass(frozen=True)
class Several:
    """Several objectives to minimise and the reference point of the hypervolume."""

    name: str
    priors: dict[str, str]
    function: Callable[[Params], list[float]]
    reference: tuple[float, ...]


def _zdt(params: Params, squared: bool) -> list[float]:
    x = np.array([params[f"x{i + 1}"] for i in range(30)], dtype=float)
    f1 = float(x[0])
    g = 1 + 9 * float(np.mean(x[1:]))
    ratio = f1 / g
    return [f1, g * (1 - (ratio**2 if squared else math.sqrt(ratio)))]


def _dtlz2(params: Params) -> list[float]:
    x = np.array([params[f"x{i + 1}"] for i in range(12)], dtype=float)
    g = float(np.sum((x[2:] - 0.5) ** 2))
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    return [
        (1 + g) * math.cos(a) * math.cos(b),
        (1 + g) * math.cos(a) * math.sin(b),
        (1 + g) * math.sin(a),
    ]


SEVERAL = {
    "zdt1": Several(
        "ZDT1 (30-d)",
        _uniform([f"x{i + 1}" for i in range(30)], 0, 1),
        lambda p: _zdt(p, False),
        (1.1, 11.0),
    ),
    "zdt2": Several(
        "ZDT2 (30-d)",
        _uniform([f"x{i + 1}" for i in range(30)], 0, 1),
        lambda p: _zdt(p, True),
        (1.1, 11.0),
    ),
    "dtlz2": Several(
        "DTLZ2 (3 obj, 12-d)",
        _uniform([f"x{i + 1}" for i in range(12)], 0, 1),
        _dtlz2,
        (2.0, 2.0, 2.0),
    ),
}

# Constrained Branin: feasible inside the disk of radius sqrt(20) around (2.5, 7.5),
# which holds none of Branin's three global minima.
DISK_CENTER, DISK_R2 = (2.5, 7.5), 20.0


def disk_constraint(params: Params) -> float:
    """<= 0 inside the disk (feasible)."""
    return (params["x1"] - DISK_CENTER[0]) ** 2 + (params["x2"] - DISK_CENTER[1]) ** 2 - DISK_R2


def constrained_minimum() -> float:
    """Branin's minimum inside the disk, on a fine grid (to 4 significant digits, like
    the priors' precision)."""
    r = math.sqrt(DISK_R2)
    x1 = np.linspace(DISK_CENTER[0] - r, DISK_CENTER[0] + r, 1201)
    x2 = np.linspace(DISK_CENTER[1] - r, DISK_CENTER[1] + r, 1201)
    a, b = np.meshgrid(x1, x2)
    inside = (a - DISK_CENTER[0]) ** 2 + (b - DISK_CENTER[1]) ** 2 <= DISK_R2
    c1, c2, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    values = (b - c1 * a**2 + c2 * a - 6) ** 2 + 10 * (1 - t) * np.cos(a) + 10
    return float(values[inside].min())


def suggest_optuna(trial: Any, priors: dict[str, str]) -> Params:
    """The Optuna twin of an orionlite space (uniform, discrete uniform, choices)."""
    import ast

    params: Params = {}
    for name, prior in priors.items():
        kind, _, rest = prior.partition("(")
        body = rest[:-1]
        if kind == "choices":
            params[name] = trial.suggest_categorical(name, ast.literal_eval(body))
            continue
        low, high = (float(part) for part in body.split(",")[:2])
        if "discrete=True" in prior:
            params[name] = trial.suggest_int(name, int(low), int(high))
        else:
            params[name] = trial.suggest_float(name, low, high)
    return params
