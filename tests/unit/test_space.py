from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orionlite.errors import ConfigError, PriorError, SpaceError
from orionlite.space import (
    Choices,
    Fidelity,
    LogUniform,
    Normal,
    Prior,
    Space,
    Uniform,
    hash_params,
    parse_prior,
    prior_from_json,
)

ROOT = Path(__file__).resolve().parents[2]

PARSED = [
    ("uniform(0, 1)", Uniform(0, 1)),
    ("uniform(-1.5, 2.5e3)", Uniform(-1.5, 2500.0)),
    ("uniform(1, 10, discrete=True)", Uniform(1, 10, discrete=True)),
    ("uniform(0, 1, precision=2)", Uniform(0, 1, precision=2)),
    ("uniform(0, 1, precision=None)", Uniform(0, 1, precision=None)),
    ("uniform(0, 1, default_value=0.5)", Uniform(0, 1, default_value=0.5)),
    ("uniform(low=0, high=1)", Uniform(0, 1)),
    ("loguniform(1e-5, 1)", LogUniform(1e-5, 1)),
    ("loguniform(1, 1024, discrete=True, default_value=32)", LogUniform(1, 1024, True, 4, 32)),
    ("loguniform(1e-3, 1, precision=3)", LogUniform(0.001, 1, precision=3)),
    ("normal(0, 1)", Normal(0, 1)),
    ("normal(-3, 0.5, discrete=True)", Normal(-3, 0.5, discrete=True)),
    ("normal(0, 1, precision=6, default_value=-0.2)", Normal(0, 1, False, 6, -0.2)),
    ("choices(['a', 'b', 3])", Choices(("a", "b", 3))),
    ("choices(('x',))", Choices(("x",))),
    ("choices([True, None, 2.5])", Choices((True, None, 2.5))),
    ("choices({'a': 0.7, 'b': 0.3})", Choices(("a", "b"), (0.7, 0.3))),
    ("choices(['a', 'b'], default_value='b')", Choices(("a", "b"), default_value="b")),
    ("fidelity(1, 100)", Fidelity(1, 100)),
    ("fidelity(1, 81, base=3)", Fidelity(1, 81, 3)),
    ("orionlite~uniform(0, 1)", Uniform(0, 1)),
    ("  orionlite~ loguniform(1e-5, 1)  ", LogUniform(1e-5, 1)),
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_parse_prior(text: str, expected: Prior) -> None:
    prior = parse_prior(text)
    assert prior == expected
    assert type(prior) is type(expected)


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_text_and_json_round_trips(text: str, expected: Prior) -> None:
    prior = parse_prior(text)
    assert parse_prior(str(prior)) == prior
    stored = json.loads(json.dumps(prior.to_json()))
    assert prior_from_json(stored) == prior
    assert stored == prior.to_json()


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("uniform(0,1)", "uniform(0, 1)"),
        ("uniform( 1 , 10 , discrete = True )", "uniform(1, 10, discrete=True)"),
        ("loguniform(1e-5, 1, precision=None)", "loguniform(1e-05, 1, precision=None)"),
        ("normal(0, 1, default_value=0.5)", "normal(0, 1, default_value=0.5)"),
        ("choices({'a': 1, 'b': 3})", "choices({'a': 0.25, 'b': 0.75})"),
        ("fidelity(1, 27, base=3)", "fidelity(1, 27, base=3)"),
        ("fidelity(1, 16, base=2)", "fidelity(1, 16)"),
    ],
)
def test_str_is_canonical(text: str, canonical: str) -> None:
    assert str(parse_prior(text)) == canonical


def test_choices_weights_are_normalised_and_stable() -> None:
    prior = parse_prior("choices({'a': 1, 'b': 1, 'c': 2})")
    assert isinstance(prior, Choices)
    assert prior.weights == (0.25, 0.25, 0.5)
    # Weights whose normalised values do not sum to exactly 1.0 in floating point: dividing
    # them again by their sum would change their last digits and break round trips.
    odd = Choices(("a", "b", "c"), (0.762280082457942, 0.0021060533511106927, 0.4453871940548014))
    assert odd.weights is not None and math.fsum(odd.weights) != 1.0
    assert math.isclose(math.fsum(odd.weights), 1.0)
    assert Choices(odd.options, odd.weights) == odd
    assert parse_prior(str(odd)) == odd


def test_choices_accepts_lists_and_stores_tuples() -> None:
    prior = Choices(["a", "b"], [1, 3])  # type: ignore[arg-type]
    assert prior.options == ("a", "b")
    assert prior.weights == (0.25, 0.75)
    assert prior.to_json() == {
        "type": "choices",
        "options": ["a", "b"],
        "weights": [0.25, 0.75],
        "default_value": None,
    }


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("", "it is empty"),
        ("uniform(0, 1", "not valid syntax"),
        ("1.5", "a prior is a call to one of choices, fidelity, loguniform, normal, uniform"),
        ("uniform", "a prior is a call"),
        ("gaussian(0, 1)", "unknown prior 'gaussian'; known priors: choices, fidelity,"),
        ("unifrom(0, 1)", "did you mean 'uniform'?"),
        ("uniform(0)", "uniform() is missing high"),
        ("uniform()", "uniform() is missing low, high"),
        ("uniform(0, 1, True)", "uniform() takes 2 positional arguments (low, high) but 3"),
        ("choices('a', 'b')", "choices() takes 1 positional argument (options) but 2"),
        ("uniform(0, 1, discrete=True, log=True)", "unknown keyword 'log'"),
        ("uniform(0, 1, low=0)", "got two values for 'low'"),
        ("uniform(0, 1, **{'discrete': True})", "** unpacking is not allowed"),
        ("uniform(0, x)", "argument 'x' is not a literal"),
        ("uniform(0, 2 ** 3)", "argument '2 ** 3' is not a literal"),
        ("uniform(1, 0)", "low (1) must be less than high (0)"),
        ("uniform(1, 1)", "low (1) must be less than high (1)"),
        ("uniform('a', 1)", "low and high must be finite numbers"),
        ("uniform(0, 1e999)", "low and high must be finite numbers"),
        ("uniform(0, True)", "low and high must be finite numbers"),
        ("uniform(0.2, 0.8, discrete=True)", "no integer lies between 0.2 and 0.8"),
        ("uniform(0, 1, discrete='yes')", "discrete must be True or False"),
        ("uniform(0, 1, precision=0)", "precision must be a whole number >= 1"),
        ("uniform(0, 1, precision=2.5)", "precision must be a whole number >= 1"),
        ("uniform(0, 1, default_value=2)", "default_value 2 is outside the prior"),
        ("uniform(0, 5, discrete=True, default_value=2.5)", "default_value 2.5 is not an integer"),
        ("loguniform(0, 1)", "low (0) must be > 0 on a log scale"),
        ("loguniform(-1, 1)", "low (-1) must be > 0 on a log scale"),
        ("loguniform(1e-5, 1, default_value=2)", "default_value 2 is outside the prior"),
        ("normal(0, 0)", "sigma must be a number > 0, got 0"),
        ("normal(0, -1)", "sigma must be a number > 0, got -1"),
        ("normal('a', 1)", "mu must be a finite number"),
        ("normal(0, 1, default_value='x')", "default_value 'x' is outside the prior"),
        ("choices([])", "choices needs at least one option"),
        ("choices({})", "choices needs at least one option"),
        ("choices('abc')", "options must be a list or a dict of option: weight"),
        ("choices([1, True])", "option True appears twice"),
        ("choices(['a', 'a'])", "option 'a' appears twice"),
        ("choices([[1, 2]])", "option [1, 2] is not a string, a finite number"),
        ("choices({'a': 0, 'b': 1})", "the weight of option 'a' must be a number > 0, got 0"),
        ("choices({'a': -1})", "the weight of option 'a' must be a number > 0"),
        ("choices({'a': 'x'})", "the weight of option 'a' must be a number > 0"),
        ("choices(['a'], default_value='b')", "default_value 'b' is not one of the options"),
        ("choices(['a'], weights=[1])", "unknown keyword 'weights'"),
        ("fidelity(0, 10)", "low (0) must be > 0"),
        ("fidelity(10, 10)", "high (10) must be greater than low (10)"),
        ("fidelity(1, 10, base=1)", "base must be a whole number >= 2, got 1"),
        ("fidelity(1, 10, base=2.5)", "base must be a whole number >= 2"),
        ("fidelity(1, 10, default_value=5)", "fidelity() takes no default_value"),
    ],
)
def test_parse_errors_quote_the_text_and_say_what_is_wrong(text: str, phrase: str) -> None:
    with pytest.raises(PriorError) as info:
        parse_prior(text)
    message = info.value.message
    assert message.startswith(f"Invalid prior {text!r}: ")
    assert phrase in message
    assert info.value.hint is not None and info.value.hint.startswith("Example: ")


def test_hint_shows_an_example_of_the_same_prior() -> None:
    with pytest.raises(PriorError) as info:
        parse_prior("loguniform(0, 1)")
    assert info.value.hint == f"Example: {LogUniform.example}"
    assert parse_prior(LogUniform.example.split(" or ")[0]) == LogUniform(1e-5, 1)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch pwned')",
        "uniform.__class__",
        "uniform(0, 1).__class__",
        "uniform(0, __import__('os').system('x'))",
        "uniform(0, 1, default_value=open('x'))",
        "(lambda: uniform(0, 1))()",
        "[uniform][0](0, 1)",
        "{'u': uniform}['u'](0, 1)",
        "getattr(uniform, 'x')(0, 1)",
        "eval('uniform(0, 1)')",
        "uniform(*[0, 1])",
        "uniform(0, 1) if True else 0",
        "uniform(0, 1); import os",
        "uniform(0, [x for x in ()])",
        "uniform(0, (yield))",
    ],
)
def test_code_is_never_run(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(os, "system", lambda *args: calls.append(args))
    with pytest.raises(PriorError, match="Invalid prior"):
        parse_prior(text)
    assert calls == []


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(
        PriorError, match=r"Invalid prior 'uniform\(1, 0\)': low \(1\) must be less"
    ):
        Uniform(1, 0)
    with pytest.raises(PriorError, match="must be > 0 on a log scale"):
        LogUniform(0, 1)
    with pytest.raises(PriorError, match="give one weight per option"):
        Choices(("a", "b"), (1.0,))


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        ({"type": "gaussian", "mu": 0}, "Not a stored prior"),
        ({"low": 0, "high": 1}, "Not a stored prior"),
        ({"type": "uniform", "low": 0}, "has wrong fields"),
        ({"type": "uniform", "low": 0, "high": 1, "log": True}, "has wrong fields"),
        ({"type": "uniform", "low": 1, "high": 0}, "must be less than high"),
    ],
)
def test_prior_from_json_rejects_bad_data(data: dict[str, Any], phrase: str) -> None:
    with pytest.raises(PriorError, match=phrase):
        prior_from_json(data)


def test_prior_equality_distinguishes_kinds() -> None:
    assert Uniform(1, 10) != LogUniform(1, 10)
    assert Uniform(0, 1) != Uniform(0, 1, precision=3)
    assert Choices(("a", "b")) != Choices(("a", "b"), (0.5, 0.5))


SAMPLED = [
    "uniform(-2, 3)",
    "uniform(1, 3, discrete=True)",
    "uniform(0.5, 3.5, discrete=True)",
    "uniform(0, 1, precision=None)",
    "loguniform(1e-5, 1)",
    "loguniform(1, 100, discrete=True)",
    "loguniform(1.5, 3.9, discrete=True)",
    "normal(5, 2)",
    "normal(0, 3, discrete=True)",
    "choices(['a', 2, 3.5, None, False])",
    "choices({'x': 0.9, 'y': 0.1})",
    "fidelity(1, 64)",
]


@pytest.mark.parametrize("text", SAMPLED)
def test_samples_are_plain_python_values_inside_the_prior(text: str) -> None:
    prior = parse_prior(text)
    rng = np.random.default_rng(1)
    for _ in range(500):
        value = prior.sample(rng)
        assert prior.contains(value), value
        assert type(value).__module__ == "builtins"
        if getattr(prior, "discrete", False):
            assert type(value) is int


@pytest.mark.parametrize("text", SAMPLED)
def test_sampling_is_reproducible_with_a_seed(text: str) -> None:
    prior = parse_prior(text)
    first = [prior.sample(np.random.default_rng(7)) for _ in range(3)]
    again = [prior.sample(np.random.default_rng(7)) for _ in range(3)]
    assert first == again


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("uniform(0, 1)", 4),
        ("uniform(0, 1, precision=2)", 2),
        ("loguniform(1e-5, 1e-2)", 4),
        ("normal(0, 1, precision=3)", 3),
    ],
)
def test_precision_keeps_significant_digits(text: str, digits: int) -> None:
    prior = parse_prior(text)
    rng = np.random.default_rng(2)
    values = [prior.sample(rng) for _ in range(300)]
    assert all(float(f"{value:.{digits}g}") == value for value in values)
    assert any(float(f"{value:.{digits - 1}g}") != value for value in values)


def test_precision_none_keeps_every_digit() -> None:
    prior = Uniform(0, 1, precision=None)
    rng = np.random.default_rng(3)
    values = [prior.sample(rng) for _ in range(20)]
    assert any(float(f"{value:.10g}") != value for value in values)


class _FixedRng:
    """Stands in for a Generator whose next uniform draw is known."""

    def __init__(self, value: float) -> None:
        self.value = value

    def uniform(self, low: float, high: float) -> float:
        return self.value


def test_rounding_never_steps_over_a_bound() -> None:
    prior = Uniform(0, 0.99999)
    value = prior.sample(_FixedRng(0.999995))  # type: ignore[arg-type]
    assert value == 0.99999
    assert prior.contains(value)
    assert Uniform(0.12345, 1).sample(_FixedRng(0.123451)) == 0.1235  # type: ignore[arg-type]
    assert Uniform(0.12341, 1).sample(_FixedRng(0.12342)) == 0.12341  # type: ignore[arg-type]


def test_discrete_uniform_includes_both_bounds_evenly() -> None:
    rng = np.random.default_rng(4)
    prior = Uniform(1, 3, discrete=True)
    draws = [prior.sample(rng) for _ in range(3000)]
    assert set(draws) == {1, 2, 3}
    for value in (1, 2, 3):
        assert abs(draws.count(value) / 3000 - 1 / 3) < 0.05


def test_loguniform_is_uniform_in_log_space() -> None:
    rng = np.random.default_rng(5)
    prior = LogUniform(1e-5, 1e-1, precision=None)
    draws = [prior.sample(rng) for _ in range(4000)]
    below_middle = sum(value < 1e-3 for value in draws) / len(draws)
    assert abs(below_middle - 0.5) < 0.05
    in_first_decade = sum(value < 1e-4 for value in draws) / len(draws)
    assert abs(in_first_decade - 0.25) < 0.05


def test_discrete_loguniform_draws_integers_within_bounds() -> None:
    rng = np.random.default_rng(6)
    draws = [LogUniform(1, 1000, discrete=True).sample(rng) for _ in range(3000)]
    assert min(draws) >= 1 and max(draws) <= 1000
    assert sum(value <= 31 for value in draws) / 3000 == pytest.approx(0.5, abs=0.05)


def test_normal_matches_mu_and_sigma() -> None:
    rng = np.random.default_rng(8)
    draws = [Normal(5, 2).sample(rng) for _ in range(4000)]
    assert float(np.mean(draws)) == pytest.approx(5, abs=0.15)
    assert float(np.std(draws)) == pytest.approx(2, abs=0.15)


def test_choices_follow_their_weights() -> None:
    rng = np.random.default_rng(9)
    prior = parse_prior("choices({'a': 0.7, 'b': 0.2, 'c': 0.1})")
    draws = [prior.sample(rng) for _ in range(4000)]
    assert draws.count("a") / 4000 == pytest.approx(0.7, abs=0.05)
    assert draws.count("c") / 4000 == pytest.approx(0.1, abs=0.03)


def test_unweighted_choices_are_uniform() -> None:
    rng = np.random.default_rng(10)
    draws = [Choices(("a", "b")).sample(rng) for _ in range(4000)]
    assert draws.count("a") / 4000 == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(
    ("prior", "value", "expected"),
    [
        (Uniform(0, 1), 0.5, True),
        (Uniform(0, 1), 0, True),
        (Uniform(0, 1), 1.0, True),
        (Uniform(0, 1), 1.01, False),
        (Uniform(0, 1), -0.1, False),
        (Uniform(0, 1), True, False),
        (Uniform(0, 1), "0.5", False),
        (Uniform(0, 1), math.nan, False),
        (Uniform(1, 5, discrete=True), 3, True),
        (Uniform(1, 5, discrete=True), 3.0, False),
        (Uniform(1, 5, discrete=True), 6, False),
        (LogUniform(1e-3, 1), 1e-4, False),
        (LogUniform(1e-3, 1), 0.01, True),
        (Normal(0, 1), 100.0, True),
        (Normal(0, 1), math.inf, False),
        (Normal(0, 1, discrete=True), 2, True),
        (Normal(0, 1, discrete=True), 2.5, False),
        (Choices(("a", 1)), "a", True),
        (Choices(("a", 1)), 1, True),
        (Choices(("a", 1)), True, False),
        (Choices(("a", 1)), 1.0, False),
        (Choices(("a", 1)), "b", False),
        (Fidelity(1, 100), 100, True),
        (Fidelity(1, 100), 0.5, False),
    ],
)
def test_contains(prior: Prior, value: Any, expected: bool) -> None:
    assert prior.contains(value) is expected


@pytest.mark.parametrize(
    ("text", "n_values", "expected"),
    [
        ("uniform(0, 1)", 3, [0.0, 0.5, 1.0]),
        ("uniform(0, 1)", 4, [0.0, 0.3333, 0.6667, 1.0]),
        ("uniform(-1, 1)", 1, [-1.0]),
        ("uniform(1, 3, discrete=True)", 10, [1, 2, 3]),
        ("uniform(0, 100, discrete=True)", 3, [0, 50, 100]),
        ("loguniform(1e-4, 1)", 5, [1e-4, 1e-3, 1e-2, 0.1, 1.0]),
        ("loguniform(1, 1000, discrete=True)", 4, [1, 10, 100, 1000]),
        ("loguniform(1, 4, discrete=True)", 10, [1, 2, 3, 4]),
        ("normal(0, 1)", 1, [0.0]),
        ("normal(0, 1)", 2, [-0.6745, 0.6745]),
        ("normal(10, 2, discrete=True)", 3, [8, 10, 12]),
        ("choices(['a', 'b', 3])", 1, ["a", "b", 3]),
        ("fidelity(1, 64)", 5, [64]),
    ],
)
def test_grid(text: str, n_values: int, expected: list[Any]) -> None:
    values = parse_prior(text).grid(n_values)
    assert values == expected
    assert [type(value) for value in values] == [type(value) for value in expected]


@pytest.mark.parametrize("n_values", [0, -1, 2.5, True])
def test_grid_needs_a_positive_count(n_values: Any) -> None:
    with pytest.raises(ConfigError, match="n_values must be a whole number >= 1"):
        Uniform(0, 1).grid(n_values)


def test_space_keeps_order_and_parses_strings() -> None:
    space = Space.from_priors({"lr": "loguniform(1e-5, 1)", "opt": Choices(("a", "b"))})
    assert list(space) == ["lr", "opt"]
    assert space["lr"] == LogUniform(1e-5, 1)
    assert len(space) == 2
    assert "opt" in space
    assert repr(space) == "Space({'lr': 'loguniform(1e-05, 1)', 'opt': \"choices(['a', 'b'])\"})"


def test_space_json_round_trip() -> None:
    space = Space.from_priors(
        {"b": "uniform(0, 1)", "a": "choices({'x': 0.5, 'y': 0.5})", "e": "fidelity(1, 9)"}
    )
    stored = json.loads(json.dumps(space.to_json()))
    again = Space.from_json(stored)
    assert again == space
    assert list(again) == ["b", "a", "e"]


def test_space_errors() -> None:
    with pytest.raises(SpaceError, match="The search space is empty"):
        Space.from_priors({})
    with pytest.raises(SpaceError, match="Only one fidelity dimension is allowed, got e1, e2"):
        Space.from_priors({"e1": "fidelity(1, 9)", "e2": "fidelity(1, 3)"})
    with pytest.raises(SpaceError, match="is not a prior"):
        Space({"lr": "uniform(0, 1)"})  # type: ignore[dict-item]
    with pytest.raises(PriorError, match=r"^Dimension 'lr': Invalid prior 'uniform\(1, 0\)'"):
        Space.from_priors({"lr": "uniform(1, 0)"})


def test_space_sample_contains_and_fidelity() -> None:
    space = Space.from_priors(
        {"lr": "loguniform(1e-5, 1)", "n": "uniform(1, 4, discrete=True)", "ep": "fidelity(1, 8)"}
    )
    rng = np.random.default_rng(11)
    for _ in range(50):
        params = space.sample(rng)
        assert list(params) == ["lr", "n", "ep"]
        assert params["ep"] == 8
        assert space.contains(params)
    assert space.fidelity == ("ep", Fidelity(1, 8))
    assert Space.from_priors({"x": "uniform(0, 1)"}).fidelity is None
    assert not space.contains({"lr": 0.1, "n": 2})
    assert not space.contains({"lr": 0.1, "n": 2, "ep": 8, "other": 1})
    assert not space.contains({"lr": 0.1, "n": 5, "ep": 8})


def test_space_defaults() -> None:
    space = Space.from_priors(
        {
            "lr": "loguniform(1e-5, 1, default_value=0.001)",
            "x": "uniform(0, 1)",
            "opt": "choices(['a', 'b'], default_value='b')",
            "ep": "fidelity(1, 8)",
        }
    )
    assert space.defaults() == {"lr": 0.001, "opt": "b", "ep": 8}


def test_hash_params_is_canonical_json_sha256() -> None:
    expected = hashlib.sha256(b'{"a":1,"b":0.5,"c":"x"}').hexdigest()
    assert hash_params({"c": "x", "b": 0.5, "a": 1}) == expected
    assert hash_params({"a": 1, "b": 0.5, "c": "x"}) == expected


def test_hash_params_tells_ints_from_floats() -> None:
    assert hash_params({"a": 1}) != hash_params({"a": 1.0})
    assert hash_params({"a": 1}) != hash_params({"a": True})
    assert hash_params({"a": 0.1}) != hash_params({"a": 0.1000001})


def test_hash_params_rejects_nan() -> None:
    with pytest.raises(ValueError):
        hash_params({"a": math.nan})


def test_hash_params_is_stable_across_processes() -> None:
    params = {"lr": 0.001, "opt": "adam", "layers": 3, "flag": None}
    code = (
        "import json, sys; from orionlite.space import hash_params; "
        "print(hash_params(json.loads(sys.argv[1])))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    output = subprocess.run(
        [sys.executable, "-c", code, json.dumps(params)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert output == hash_params(params)
