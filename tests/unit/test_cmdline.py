from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from orionlite.cmdline import (
    TEMPLATE_NAMES,
    CommandTemplate,
    PriorMarker,
    format_value,
    parse_command,
)
from orionlite.errors import CommandError, PriorError, SpaceError
from orionlite.space import Choices, LogUniform, Space, Uniform

ARGV = [
    "python",
    "train.py",
    "--lr~loguniform(1e-5, 1)",
    "-x~uniform(0, 1)",
    "--model.layers~choices([1, 2, 3])",
    "--epochs",
    "10",
]
CONTEXT = {
    "trial.id": "17",
    "trial.working_dir": "/runs/exp/17",
    "trial.hash_params": "abc123",
    "exp.name": "exp",
    "exp.version": "2",
    "exp.working_dir": "/runs/exp",
}


def test_parse_splits_priors_from_pass_through_arguments() -> None:
    template = parse_command(ARGV)
    assert template.parts == (
        "python",
        "train.py",
        PriorMarker("--lr", "lr"),
        PriorMarker("-x", "x"),
        PriorMarker("--model.layers", "model.layers"),
        "--epochs",
        "10",
    )
    assert template.priors == {
        "lr": "loguniform(1e-5, 1)",
        "x": "uniform(0, 1)",
        "model.layers": "choices([1, 2, 3])",
    }
    assert list(template.priors) == ["lr", "x", "model.layers"]
    assert template.argv == tuple(ARGV)


def test_space_of_the_command() -> None:
    space = parse_command(ARGV).space()
    assert space == Space(
        {"lr": LogUniform(1e-5, 1), "x": Uniform(0, 1), "model.layers": Choices((1, 2, 3))}
    )
    assert list(space) == ["lr", "x", "model.layers"]


def test_space_of_a_command_without_priors_is_an_error() -> None:
    template = parse_command(["python", "train.py", "--lr", "0.1"])
    assert template.priors == {}
    with pytest.raises(SpaceError, match="The command defines no dimension"):
        template.space()


def test_render_long_and_short_flags() -> None:
    template = parse_command(ARGV)
    argv = template.render({"lr": 0.001, "x": 0.25, "model.layers": 2}, CONTEXT)
    assert argv == [
        "python",
        "train.py",
        "--lr=0.001",
        "-x",
        "0.25",
        "--model.layers=2",
        "--epochs",
        "10",
    ]


def test_render_negative_values_stay_attached_to_long_flags() -> None:
    template = parse_command(["prog", "--shift~normal(0, 1)", "-s~normal(0, 1)"])
    assert template.render({"shift": -0.5, "s": -2.0}, {}) == ["prog", "--shift=-0.5", "-s", "-2.0"]


def test_render_ignores_parameters_the_command_does_not_use() -> None:
    template = parse_command(["prog", "--a~uniform(0, 1)"])
    assert template.render({"a": 0.5, "/config/b": 3}, {}) == ["prog", "--a=0.5"]


def test_render_without_a_value_is_an_error() -> None:
    template = parse_command(["prog", "--a~uniform(0, 1)"])
    with pytest.raises(CommandError, match="No value for dimension 'a'"):
        template.render({}, {})


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (-7, "-7"),
        (0.1, "0.1"),
        (1e-05, "1e-05"),
        (2.0, "2.0"),
        (1 / 3, "0.3333333333333333"),
        (True, "True"),
        (False, "False"),
        ("adam", "adam"),
        ("with space", "with space"),
        (None, "None"),
        (np.float64(0.25), "0.25"),
        (np.float64(1e-05), "1e-05"),
        (np.float32(0.1), "0.1"),
        (np.int64(4), "4"),
    ],
)
def test_format_value(value: Any, text: str) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize("value", [0.1, 1 / 3, 1e-300, 123456789.123, -2.5e-7])
def test_formatted_floats_parse_back_exactly(value: float) -> None:
    assert float(format_value(value)) == value


@pytest.mark.parametrize(
    ("argument", "expanded"),
    [
        ("{trial.id}", "17"),
        ("--out={trial.working_dir}/model.pt", "--out=/runs/exp/17/model.pt"),
        ("{exp.name}-v{exp.version}-{trial.hash_params}", "exp-v2-abc123"),
        ("{exp.working_dir}", "/runs/exp"),
        ('{"a": 1, "b": [2]}', '{"a": 1, "b": [2]}'),
        ("{trial.params}", "{trial.params}"),
        ("{0}{}", "{0}{}"),
        ("{{trial.id}}", "{17}"),
        ("{ trial.id }", "{ trial.id }"),
    ],
)
def test_templates_expand_only_known_names(argument: str, expanded: str) -> None:
    template = parse_command(["prog", argument, "--a~uniform(0, 1)"])
    assert template.render({"a": 0.5}, CONTEXT) == ["prog", expanded, "--a=0.5"]


def test_every_template_name_is_expanded() -> None:
    argv = ["prog", *(f"{{{name}}}" for name in TEMPLATE_NAMES)]
    rendered = parse_command(argv).render({}, CONTEXT)
    assert rendered == ["prog", *(CONTEXT[name] for name in TEMPLATE_NAMES)]


def test_template_without_context_is_an_error() -> None:
    template = parse_command(["prog", "--out={trial.working_dir}"])
    with pytest.raises(CommandError, match=r"No value for template \{trial.working_dir\}"):
        template.render({}, {"trial.id": "1"})


def test_empty_command() -> None:
    with pytest.raises(CommandError) as info:
        parse_command([])
    assert info.value.message == "No command given after --."
    assert info.value.hint is not None and "hunt -n exp -- python train.py" in info.value.hint


def test_duplicate_dimension() -> None:
    argv = ["prog", "--lr~uniform(0, 1)", "-lr~uniform(0, 2)"]
    with pytest.raises(CommandError) as info:
        parse_command(argv)
    assert info.value.message == (
        "Dimension 'lr' is defined twice: '--lr~uniform(0, 1)' and '-lr~uniform(0, 2)'."
    )


def test_prior_separated_from_its_flag() -> None:
    with pytest.raises(CommandError) as info:
        parse_command(["prog", "--lr", "~loguniform(1e-5, 1)"])
    assert "'~loguniform(1e-5, 1)' starts with '~'" in info.value.message
    assert info.value.hint is not None and "--lr~'loguniform(1e-5, 1)'" in info.value.hint


def test_prior_as_the_program_is_an_error() -> None:
    with pytest.raises(CommandError, match="the program to run comes first"):
        parse_command(["--lr~uniform(0, 1)", "train.py"])


def test_bad_prior_quotes_the_argument() -> None:
    with pytest.raises(PriorError) as info:
        parse_command(["prog", "--lr~uniform(1,0)"])
    message = info.value.message
    assert message.startswith("Argument '--lr~uniform(1,0)': Invalid prior 'uniform(1,0)'")
    assert "low (1) must be less than high (0)" in message
    assert info.value.hint is not None


def test_flag_with_an_empty_prior_is_an_error() -> None:
    with pytest.raises(PriorError, match="it is empty"):
        parse_command(["prog", "--lr~"])


@pytest.mark.parametrize(
    "argument",
    ["~/data/train.csv", "a~b", "--path=~/x", "--exclude=*~", "-", "--", "--=x", '{"a": "~"}'],
)
def test_other_tildes_pass_through(argument: str) -> None:
    template = parse_command(["prog", argument])
    assert template.parts == ("prog", argument)
    assert template.render({}, {}) == ["prog", argument]


def test_json_round_trip() -> None:
    template = parse_command(ARGV)
    stored = json.loads(json.dumps(template.to_json()))
    assert stored == ARGV
    assert CommandTemplate.from_json(stored) == template


@pytest.mark.parametrize("data", ["python train.py", ["python", 3], {"argv": []}])
def test_from_json_rejects_what_is_not_an_argv(data: Any) -> None:
    with pytest.raises(CommandError, match="is not a list of strings"):
        CommandTemplate.from_json(data)


@pytest.mark.parametrize("argument", ["--lr~'uniform(0, 1)'", '--lr~"uniform(0, 1)"'])
def test_quotes_left_around_a_prior_are_dropped(argument: str) -> None:
    template = parse_command(["prog", argument])
    assert template.priors == {"lr": "uniform(0, 1)"}
    assert template.to_json() == ["prog", argument]
