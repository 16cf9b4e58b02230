"""Priors in the user's own YAML/JSON config file (SPEC §1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from orionlite.cmdline import parse_command
from orionlite.configfile import command_space, fill, find_config_files, find_priors
from orionlite.errors import PriorError, SpaceError
from orionlite.space import Choices, LogUniform

NESTED = {
    "model": {
        "layers": [
            32,
            "orionlite~choices([64, 128])",
            {"act": "orionlite~choices(['relu', 'tanh'])"},
        ],
        "lr": "orionlite~loguniform(1e-4, 1e-1)",
    },
    "data/set": {"name": "digits", "split": "orionlite~uniform(0.1, 0.3)"},
    "epochs": 3,
}


def test_priors_are_named_by_their_path() -> None:
    assert find_priors(NESTED) == {
        "/model/layers/1": "choices([64, 128])",
        "/model/layers/2/act": "choices(['relu', 'tanh'])",
        "/model/lr": "loguniform(1e-4, 1e-1)",
        "/data~1set/split": "uniform(0.1, 0.3)",  # a '/' inside a key is escaped
    }


def test_fill_replaces_only_the_priors() -> None:
    params = {
        "/model/layers/1": 128,
        "/model/layers/2/act": "tanh",
        "/model/lr": 0.01,
        "/data~1set/split": 0.2,
    }
    assert fill(NESTED, params) == {
        "model": {"layers": [32, 128, {"act": "tanh"}], "lr": 0.01},
        "data/set": {"name": "digits", "split": 0.2},
        "epochs": 3,
    }


def test_a_bad_prior_names_its_path_and_file(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("model:\n  lr: 'orionlite~loguniform(0, 1)'\n")
    with pytest.raises(PriorError, match=r"c\.yaml: Config value at '/model/lr'.*> 0"):
        find_config_files(["python", "t.py", "--config", "c.yaml"], tmp_path)


def test_space_joins_command_line_and_file_priors(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(json.dumps({"opt": {"lr": "orionlite~loguniform(1e-4, 1)"}}))
    (tmp_path / "plain.yaml").write_text("a: 1\n")  # no priors: left alone
    template = parse_command(
        ["python", "t.py", "--cfg=c.json", "--other", "plain.yaml", "--x~uniform(0, 1)"]
    )
    space = command_space(template, tmp_path)
    assert list(space) == ["x", "/opt/lr"]
    assert space["/opt/lr"] == LogUniform(1e-4, 1.0)
    files = find_config_files(template.argv, tmp_path)
    assert [(f.argument, f.prefix) for f in files] == [("--cfg=c.json", "--cfg=")]


def test_two_files_defining_one_path_is_an_error(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text("lr: 'orionlite~uniform(0, 1)'\n")
    template = parse_command(["python", "t.py", "a.yaml", "b.yaml"])
    with pytest.raises(SpaceError, match="both define /lr"):
        command_space(template, tmp_path)


TRAIN = """\
import json, os, sys
import yaml
from orionlite import report_objective

path = sys.argv[sys.argv.index("--config") + 1]
config = yaml.safe_load(open(path))
with open("seen.json", "w") as handle:
    json.dump({"path": path, "config": config}, handle)
model = config["model"]
report_objective(model["lr"] * model["layers"][1] / 100 + len(model["layers"][2]["act"]))
"""


def test_hunt_gives_each_trial_a_filled_copy(sqlite_cli: Any) -> None:
    cli = sqlite_cli
    (cli.cwd / "train.py").write_text(TRAIN)
    (cli.cwd / "model.yaml").write_text(yaml.safe_dump(NESTED))
    result = cli.run(
        "hunt",
        "-n",
        "cfg",
        "--max-trials",
        "3",
        "--",
        cli.python,
        "train.py",
        "--config",
        "model.yaml",
    )
    assert result.returncode == 0, result.stderr
    runs = sorted((cli.cwd / "orionlite-runs" / "cfg-v1").iterdir())
    assert len(runs) == 3
    for folder in runs:
        seen = json.loads((folder / "seen.json").read_text())
        assert seen["path"] == str(folder / "model.yaml"), "the command points to the copy"
        model = seen["config"]["model"]
        assert model["layers"][0] == 32 and model["layers"][1] in (64, 128)
        assert model["layers"][2]["act"] in ("relu", "tanh")
        assert 1e-4 <= model["lr"] <= 0.1
        assert seen["config"]["data/set"]["name"] == "digits"
        assert 0.1 <= seen["config"]["data/set"]["split"] <= 0.3
    original = yaml.safe_load((cli.cwd / "model.yaml").read_text())
    assert original == NESTED, "the user's file is never modified"
    info = json.loads(cli.run("orionlite", "info", "-n", "cfg", "--json").stdout)
    assert info["space"]["/model/layers/1"] == str(Choices((64, 128)))


def test_hunt_config_option_with_priors_is_passed_to_the_script(sqlite_cli: Any) -> None:
    """``hunt --config FILE`` holding priors: settings are read from it, and the script
    gets a filled copy as ``--config COPY``."""
    cli = sqlite_cli
    (cli.cwd / "train.py").write_text(TRAIN)
    content = {"name": "both", "max_trials": 2, **NESTED}
    (cli.cwd / "exp.yaml").write_text(yaml.safe_dump(content))
    result = cli.run(
        "hunt",
        "--config",
        "exp.yaml",
        "--",
        cli.python,
        "train.py",
    )
    assert result.returncode == 0, result.stderr
    assert "'both' v1 is done: 2 of 2" in result.stderr
    runs = sorted((cli.cwd / "orionlite-runs" / "both-v1").iterdir())
    seen = json.loads((runs[0] / "seen.json").read_text())
    assert seen["path"] == str(runs[0] / "exp.yaml")
    assert seen["config"]["model"]["layers"][1] in (64, 128)
