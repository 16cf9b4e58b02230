"""Algorithm registry: name -> "module:Class", imported only when chosen.

``make_algorithm`` accepts what users write: ``"random"``, ``{"bayes": {"seed": 1}}``, or
``{"name": "bayes", "seed": 1}``; experiments store the canonical ``{name: options}``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from orionlite.algorithm_names import ALGORITHMS, DEFAULT_ALGORITHM
from orionlite.algorithms.base import check_options
from orionlite.errors import ConfigError

if TYPE_CHECKING:
    from orionlite.algorithms.base import Algorithm
    from orionlite.space import Space


def normalize_algorithm(spec: str | dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """(name, options) from any accepted form."""
    if spec is None:
        return DEFAULT_ALGORITHM, {}
    if isinstance(spec, str):
        name, options = spec, {}
    elif isinstance(spec, dict) and "name" in spec:
        options = {k: v for k, v in spec.items() if k != "name"}
        name = spec["name"]
    elif isinstance(spec, dict) and len(spec) == 1:
        ((name, options),) = spec.items()
        options = dict(options or {})
    else:
        raise ConfigError(
            f"Cannot read the algorithm configuration {spec!r}.",
            hint='Write it as {"bayes": {"seed": 1}} or "random".',
        )
    if not isinstance(options, dict):
        raise ConfigError(
            f"The options of algorithm {name!r} must be a mapping, not {options!r}.",
            hint='Example: {"bayes": {"n_initial_points": 10}}',
        )
    if name not in ALGORITHMS:
        raise ConfigError(
            f"Unknown algorithm {name!r}.",
            hint=f"Choose one of: {', '.join(ALGORITHMS)}.",
        )
    return name, options


def make_algorithm(spec: str | dict[str, Any] | None, space: Space) -> Algorithm:
    name, options = normalize_algorithm(spec)
    module_name, class_name = ALGORITHMS[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    # Name the unknown option and list the known ones, rather than echo a TypeError.
    check_options(name, options, _option_names(cls))
    try:
        return cls(space, **options)
    except TypeError as exc:
        raise ConfigError(
            f"Invalid options for algorithm {name!r}: {exc}.",
            hint="See docs/algorithms.md for each algorithm's options.",
        ) from exc


def _option_names(cls: type[Algorithm]) -> list[str]:
    """The keyword-only constructor arguments: an algorithm's options."""
    import inspect

    parameters = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def algorithm_spec(algorithm: Algorithm) -> dict[str, Any]:
    """The canonical form stored with the experiment."""
    return {algorithm.name: algorithm.configuration()}
