"""The algorithms by name: the one list that the registry (orionlite.algorithms), the
``hunt --algorithm`` help and the errors read. Kept free of imports, so that the command
line's help does not load numpy."""

from __future__ import annotations

#: name -> "module:Class", imported only when chosen.
ALGORITHMS: dict[str, str] = {
    "random": "orionlite.algorithms.random_search:RandomSearch",
    "grid": "orionlite.algorithms.grid:GridSearch",
    "bayes": "orionlite.algorithms.bayes:BayesianOptimizer",
    "tpe": "orionlite.algorithms.tpe:TPE",
    "nsga2": "orionlite.algorithms.nsga2:NSGA2",
    "asha": "orionlite.algorithms.asha:ASHA",
    "hyperband": "orionlite.algorithms.hyperband:Hyperband",
}
DEFAULT_ALGORITHM = "random"


def algorithm_help() -> str:
    """``random (default), grid, bayes, ...`` for help texts."""
    names = [f"{name} (default)" if name == DEFAULT_ALGORITHM else name for name in ALGORITHMS]
    return ", ".join(names) + "."
