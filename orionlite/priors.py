"""The prior language (``loguniform(1e-5, 1)``): frozen value objects, parsed from user
text and rebuilt from stored JSON.

Every worker rebuilds priors from the JSON stored with the experiment, and joining an
experiment compares them with ``==``. User text is parsed with :mod:`ast` and a whitelist
of prior names and is never evaluated, because a command line or a config file is
untrusted input that ends up in every worker process.
"""

from __future__ import annotations

import abc
import ast
import difflib
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from orionlite.errors import ConfigError, PriorError

CONFIG_PREFIX = "orionlite~"
"""Marks a prior among a config file's string values: ``'orionlite~uniform(0, 1)'``."""

_GENERIC_EXAMPLE = "loguniform(1e-5, 1), uniform(1, 10, discrete=True) or choices(['a', 'b'])"


def _message(text: str, problem: str) -> str:
    return f"Invalid prior {text!r}: {problem}."


class _PriorProblem(PriorError):
    """A prior's own check failed. It keeps the bare problem and example so that
    :func:`parse_prior` can say them again around the text the user typed."""

    problem = ""
    example = _GENERIC_EXAMPLE


def _is_number(value: Any) -> bool:
    """A finite int or float; bool is an int to Python but never a sensible number here."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_n_values(n_values: int) -> None:
    if not _is_int(n_values) or n_values < 1:
        raise ConfigError(
            f"n_values must be a whole number >= 1, got {n_values!r}.",
            hint="Example: --algorithm grid --algorithm-config '{\"n_values\": 5}'",
        )


class Prior(abc.ABC):
    """A distribution over one dimension's values.

    Subclasses are frozen dataclasses whose fields are the arguments of the prior's text;
    ``__post_init__`` checks them so that no invalid prior exists, however it was built
    (text, JSON from the database, or Python).
    """

    kind: ClassVar[str]
    example: ClassVar[str]

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem is not None:
            error = _PriorProblem(_message(str(self), problem), hint=f"Example: {self.example}")
            error.problem, error.example = problem, self.example
            raise error

    @abc.abstractmethod
    def _problem(self) -> str | None:
        """Why these fields make no valid prior, or None."""

    @abc.abstractmethod
    def _arguments(self) -> tuple[list[Any], dict[str, Any]]:
        """Positional arguments and non-default keywords of the canonical text."""

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """Draw one value, as a plain Python scalar so that it serialises to JSON as is."""

    @abc.abstractmethod
    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a value this prior can produce (type and bounds)."""

    @abc.abstractmethod
    def grid(self, n_values: int) -> list[Any]:
        """Evenly spread values for grid search, each once (rounding can merge points)."""

    @property
    def default(self) -> Any:
        """The value to use when none is chosen (``default_value``), or None."""
        return vars(self).get("default_value")

    def __str__(self) -> str:
        args, keywords = self._arguments()
        parts = [repr(arg) for arg in args] + [f"{key}={val!r}" for key, val in keywords.items()]
        return f"{self.kind}({', '.join(parts)})"

    def to_json(self) -> dict[str, Any]:
        """All fields, tuples as lists; :func:`prior_from_json` gives back an equal prior."""
        data: dict[str, Any] = {"type": self.kind}
        for key, value in vars(self).items():
            data[key] = list(value) if isinstance(value, tuple) else value
        return data


class _Real(Prior):
    """What uniform, loguniform and normal share: ``discrete``, ``precision``, defaults.

    Not a dataclass: each subclass declares these fields after its own two arguments.
    ``precision`` is the number of significant digits kept for real values, as in Oríon
    (0.123456 -> 0.1235 at 4), so stored values and command lines stay readable; None
    keeps every digit, and discrete priors ignore it.
    """

    discrete: bool
    precision: int | None
    default_value: Any

    def _options_problem(self) -> str | None:
        """Run once the subclass's own fields are known good (``contains`` needs them)."""
        if not isinstance(self.discrete, bool):
            return f"discrete must be True or False, got {self.discrete!r}"
        if self.precision is not None and (not _is_int(self.precision) or self.precision < 1):
            return f"precision must be a whole number >= 1 or None, got {self.precision!r}"
        value = self.default_value
        if value is not None and not self.contains(value):
            if self.discrete and not _is_int(value):
                return f"default_value {value!r} is not an integer but the prior is discrete"
            return f"default_value {value!r} is outside the prior"
        return None

    def _keywords(self) -> dict[str, Any]:
        keywords: dict[str, Any] = {"discrete": True} if self.discrete else {}
        if self.precision != 4:
            keywords["precision"] = self.precision
        if self.default_value is not None:
            keywords["default_value"] = self.default_value
        return keywords

    def _finish(self, value: float) -> Any:
        """Turn a raw draw or grid point into a value: an int, or a rounded float."""
        if self.discrete:
            return round(value)
        return value if self.precision is None else float(f"{value:.{self.precision}g}")


@dataclass(frozen=True)
class _Bounded(_Real):
    """Shared by uniform and loguniform: the interval [low, high], or its integers."""

    low: float
    high: float
    discrete: bool = False
    precision: int | None = 4
    default_value: Any = None

    log: ClassVar[bool]

    def _problem(self) -> str | None:
        if not (_is_number(self.low) and _is_number(self.high)):
            return f"low and high must be finite numbers, got {self.low!r} and {self.high!r}"
        if self.low >= self.high:
            return f"low ({self.low!r}) must be less than high ({self.high!r})"
        if self.log and self.low <= 0:
            return f"low ({self.low!r}) must be > 0 on a log scale"
        if self.discrete is True and math.ceil(self.low) > math.floor(self.high):
            return f"no integer lies between {self.low!r} and {self.high!r}"
        return self._options_problem()

    def _arguments(self) -> tuple[list[Any], dict[str, Any]]:
        return [self.low, self.high], self._keywords()

    def contains(self, value: Any) -> bool:
        valid = _is_int(value) if self.discrete else _is_number(value)
        return valid and self.low <= value <= self.high

    def _finish(self, value: float) -> Any:
        """Clip back in after rounding, which may step over a bound."""
        if self.discrete:
            return min(max(round(value), math.ceil(self.low)), math.floor(self.high))
        return float(min(max(super()._finish(value), self.low), self.high))

    def sample(self, rng: np.random.Generator) -> Any:
        if self.log:
            draw = math.exp(float(rng.uniform(math.log(self.low), math.log(self.high))))
            return self._finish(draw)
        if self.discrete:
            low, high = math.ceil(self.low), math.floor(self.high)
            return int(rng.integers(low, high, endpoint=True))
        return self._finish(float(rng.uniform(self.low, self.high)))

    def grid(self, n_values: int) -> list[Any]:
        """``n_values`` points from low to high, both included (log-spaced on a log scale)."""
        _check_n_values(n_values)
        spaced = np.geomspace if self.log else np.linspace
        points = spaced(self.low, self.high, n_values).tolist()
        return list(dict.fromkeys(self._finish(point) for point in points))


@dataclass(frozen=True)
class Uniform(_Bounded):
    """Uniform over [low, high]; with ``discrete=True`` each integer in it, bounds included."""

    kind: ClassVar[str] = "uniform"
    example: ClassVar[str] = (
        "uniform(0, 1), uniform(1, 10, discrete=True) or uniform(0, 1, precision=2)"
    )
    log: ClassVar[bool] = False


@dataclass(frozen=True)
class LogUniform(_Bounded):
    """Uniform in log space, as likely in [1e-5, 1e-4] as in [0.1, 1]; needs low > 0.

    ``discrete=True`` rounds a log-uniform draw to the nearest integer within the bounds.
    """

    kind: ClassVar[str] = "loguniform"
    example: ClassVar[str] = "loguniform(1e-5, 1) or loguniform(1, 1024, discrete=True)"
    log: ClassVar[bool] = True


@dataclass(frozen=True)
class Normal(_Real):
    """Normal(mu, sigma), unbounded; ``discrete=True`` rounds draws to the nearest int."""

    mu: float
    sigma: float
    discrete: bool = False
    precision: int | None = 4
    default_value: Any = None

    kind: ClassVar[str] = "normal"
    example: ClassVar[str] = "normal(0, 1) or normal(10, 3, discrete=True)"

    def _problem(self) -> str | None:
        if not _is_number(self.mu):
            return f"mu must be a finite number, got {self.mu!r}"
        if not _is_number(self.sigma) or self.sigma <= 0:
            return f"sigma must be a number > 0, got {self.sigma!r}"
        return self._options_problem()

    def _arguments(self) -> tuple[list[Any], dict[str, Any]]:
        return [self.mu, self.sigma], self._keywords()

    def contains(self, value: Any) -> bool:
        return _is_int(value) if self.discrete else _is_number(value)

    def sample(self, rng: np.random.Generator) -> Any:
        return self._finish(float(rng.normal(self.mu, self.sigma)))

    def grid(self, n_values: int) -> list[Any]:
        """Quantiles at the centres of ``n_values`` equal-probability slices."""
        _check_n_values(n_values)
        dist = statistics.NormalDist(self.mu, self.sigma)
        points = [dist.inv_cdf((i + 0.5) / n_values) for i in range(n_values)]
        return list(dict.fromkeys(self._finish(point) for point in points))


@dataclass(frozen=True)
class Choices(Prior):
    """One of a fixed set of values, uniformly or with weights.

    Lists given for ``options`` or ``weights`` are stored as tuples. Weights are normalised
    to sum to 1 but left as they are when they already do (within 1e-9), so that text and
    JSON round trips give back an equal prior. Options equal under ``==`` (1, 1.0, True)
    are rejected as duplicates, as a dict literal would silently merge them.
    """

    options: tuple[Any, ...]
    weights: tuple[float, ...] | None = None
    default_value: Any = None

    kind: ClassVar[str] = "choices"
    example: ClassVar[str] = "choices(['adam', 'sgd', 3]) or choices({'adam': 0.7, 'sgd': 0.3})"

    def __post_init__(self) -> None:
        for name in ("options", "weights"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        super().__post_init__()
        if self.weights is not None:
            weights = tuple(float(w) for w in self.weights)
            total = math.fsum(weights)
            if abs(total - 1.0) > 1e-9:
                weights = tuple(w / total for w in weights)
            object.__setattr__(self, "weights", weights)

    def _problem(self) -> str | None:
        if not isinstance(self.options, tuple):
            return f"options must be a list or a dict of option: weight, got {self.options!r}"
        if not self.options:
            return "choices needs at least one option"
        seen: list[Any] = []
        for option in self.options:
            if not (_is_number(option) or isinstance(option, (str, bool, type(None)))):
                return f"option {option!r} is not a string, a finite number, a boolean or None"
            if option in seen:
                return f"option {option!r} appears twice (1, 1.0 and True count as equal)"
            seen.append(option)
        if self.weights is not None:
            if not isinstance(self.weights, tuple) or len(self.weights) != len(self.options):
                return f"give one weight per option, got weights {self.weights!r}"
            for option, weight in zip(self.options, self.weights, strict=True):
                if not _is_number(weight) or weight <= 0:
                    return f"the weight of option {option!r} must be a number > 0, got {weight!r}"
        if self.default_value is not None and not self.contains(self.default_value):
            return f"default_value {self.default_value!r} is not one of the options"
        return None

    def _arguments(self) -> tuple[list[Any], dict[str, Any]]:
        options: Any = self.options
        weights = self.weights
        if isinstance(options, tuple):
            # An invalid prior may be printed (in its own error): then weights may not fit.
            if isinstance(weights, tuple) and len(weights) == len(options):
                options = dict(zip(options, weights, strict=True))
            else:
                options = list(options)
        keywords = {} if self.default_value is None else {"default_value": self.default_value}
        return [options], keywords

    def contains(self, value: Any) -> bool:
        # Compare types too: option 1 must not accept True, nor option 'a' a numpy str.
        return any(type(option) is type(value) and option == value for option in self.options)

    def sample(self, rng: np.random.Generator) -> Any:
        if self.weights is None:
            return self.options[int(rng.integers(len(self.options)))]
        return self.options[int(rng.choice(len(self.options), p=self.weights))]

    def grid(self, n_values: int) -> list[Any]:
        """Every option, whatever ``n_values`` says: there is nothing in between."""
        _check_n_values(n_values)
        return list(self.options)


@dataclass(frozen=True)
class Fidelity(Prior):
    """The budget dimension (epochs, data fraction) that asha and hyperband vary.

    Budgets grow by a factor ``base`` from low to high. Algorithms that are not
    multi-fidelity give every trial the full budget, ``high``, so there is no default_value.
    """

    low: float
    high: float
    base: int = 2

    kind: ClassVar[str] = "fidelity"
    example: ClassVar[str] = "fidelity(1, 100) or fidelity(1, 81, base=3)"

    def _problem(self) -> str | None:
        if not (_is_number(self.low) and _is_number(self.high)):
            return f"low and high must be finite numbers, got {self.low!r} and {self.high!r}"
        if self.low <= 0:
            return f"low ({self.low!r}) must be > 0"
        if self.high <= self.low:
            return f"high ({self.high!r}) must be greater than low ({self.low!r})"
        if not _is_int(self.base) or self.base < 2:
            return f"base must be a whole number >= 2, got {self.base!r}"
        return None

    def _arguments(self) -> tuple[list[Any], dict[str, Any]]:
        return [self.low, self.high], ({} if self.base == 2 else {"base": self.base})

    @property
    def default(self) -> Any:
        return self.high

    def contains(self, value: Any) -> bool:
        return _is_number(value) and self.low <= value <= self.high

    def sample(self, rng: np.random.Generator) -> Any:
        return self.high

    def grid(self, n_values: int) -> list[Any]:
        _check_n_values(n_values)
        return [self.high]


_PRIOR_CLASSES: dict[str, type[Prior]] = {
    cls.kind: cls for cls in (Uniform, LogUniform, Normal, Choices, Fidelity)
}
_REAL_KEYWORDS = ("discrete", "precision", "default_value")
# name -> (arguments that may be positional, arguments that must be keywords)
_SIGNATURES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "uniform": (("low", "high"), _REAL_KEYWORDS),
    "loguniform": (("low", "high"), _REAL_KEYWORDS),
    "normal": (("mu", "sigma"), _REAL_KEYWORDS),
    "choices": (("options",), ("default_value",)),
    "fidelity": (("low", "high"), ("base",)),
}


def parse_prior(text: str) -> Prior:
    """Parse prior text such as ``loguniform(1e-5, 1)``, optionally ``orionlite~``-prefixed.

    The text must be one call to a known prior whose arguments are all literals; anything
    else raises :class:`PriorError` quoting ``text`` and saying what is wrong.
    """
    source = text.strip()
    if source.startswith(CONFIG_PREFIX):
        source = source[len(CONFIG_PREFIX) :].strip()
    known = ", ".join(sorted(_SIGNATURES))

    def fail(problem: str, example: str = _GENERIC_EXAMPLE) -> PriorError:
        return PriorError(_message(text, problem), hint=f"Example: {example}")

    if not source:
        raise fail("it is empty")
    try:
        call = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise fail(f"it is not valid syntax ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(call, ast.Call):
        raise fail(f"a prior is a call to one of {known}")
    if not isinstance(call.func, ast.Name):
        raise fail(f"only {known} can be called, not {ast.unparse(call.func)!r}")
    name = call.func.id
    if name not in _SIGNATURES:
        close = difflib.get_close_matches(name, _SIGNATURES, n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        raise fail(f"unknown prior {name!r}{guess}; known priors: {known}")
    cls = _PRIOR_CLASSES[name]
    positional, keyword_only = _SIGNATURES[name]

    def literal(node: ast.expr) -> Any:
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            segment = ast.get_source_segment(source, node) or ast.unparse(node)
            problem = f"argument {segment!r} is not a literal (a number, string, list or dict)"
            raise fail(problem, cls.example) from None

    if len(call.args) > len(positional):
        count = f"{len(positional)} positional argument{'s' if len(positional) > 1 else ''}"
        raise fail(
            f"{name}() takes {count} ({', '.join(positional)}) but {len(call.args)} were given; "
            "give the others by keyword",
            cls.example,
        )
    values = {key: literal(node) for key, node in zip(positional, call.args, strict=False)}
    for keyword in call.keywords:
        key = keyword.arg
        if key is None:
            raise fail("** unpacking is not allowed", cls.example)
        if key not in positional + keyword_only:
            if name == "fidelity" and key == "default_value":
                problem = "fidelity() takes no default_value: trials not given a budget get high"
                raise fail(problem, cls.example)
            accepted = ", ".join(positional + keyword_only)
            raise fail(f"unknown keyword {key!r}; {name}() accepts {accepted}", cls.example)
        if key in values:
            raise fail(f"{name}() got two values for {key!r}", cls.example)
        values[key] = literal(keyword.value)
    missing = [key for key in positional if key not in values]
    if missing:
        raise fail(f"{name}() is missing {', '.join(missing)}", cls.example)
    if name == "choices" and isinstance(values["options"], dict):
        values["weights"] = tuple(values["options"].values())
        values["options"] = tuple(values["options"])
    try:
        return cls(**values)
    except _PriorProblem as exc:
        raise fail(exc.problem, exc.example) from None


def prior_from_json(data: Mapping[str, Any]) -> Prior:
    """Rebuild a prior from :meth:`Prior.to_json` output (as read back from the database)."""
    kind = data.get("type") if isinstance(data, Mapping) else None
    if kind not in _PRIOR_CLASSES:
        raise PriorError(
            f"Not a stored prior: {data!r}.",
            hint=f"A stored prior is a JSON object whose 'type' is one of {sorted(_PRIOR_CLASSES)}",
        )
    fields = {key: value for key, value in data.items() if key != "type"}
    try:
        return _PRIOR_CLASSES[kind](**fields)
    except TypeError as exc:
        raise PriorError(f"Stored prior {data!r} has wrong fields: {exc}.") from None
