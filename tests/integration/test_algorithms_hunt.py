"""Each algorithm through the real ``hunt`` command, on SQLite and PostgreSQL.

Trials are a tiny Python script, so these runs take a second or two each. What they
prove end to end: the algorithm's options flow from the command line (or a config file)
into the stored experiment, its proposals reach the command line as the trial's
arguments, promotions are stored with their parent, exhausting a grid or the hyperband
brackets ends ``hunt`` with exit 0, a bad option stops ``hunt`` before anything runs,
and a later ``hunt`` continues from the stored history.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from typing import Any

from orionlite.errors import ConfigError
from orionlite.records import TrialRecord, TrialStatus
from orionlite.space import hash_params
from orionlite.storage import Storage

TRIAL = textwrap.dedent(
    """
    import argparse
    from orionlite import report_objective
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float)
    parser.add_argument("--opt", default="adam")
    parser.add_argument("--epochs", type=float, default=1)
    args = parser.parse_args()
    penalty = {"adam": 0.0, "sgd": 0.5}[args.opt]
    report_objective((args.x - 0.3) ** 2 + penalty + 1.0 / args.epochs)
    """
)


def stored_trials(url: str, name: str = "exp") -> tuple[dict[str, Any], list[TrialRecord]]:
    storage = Storage(url)
    try:
        record = storage.get_experiment(name)
        assert record is not None
        return record.algorithm, storage.trials(record.id)
    finally:
        storage.close()


def hunt(cli: Any, *options: str, priors: tuple[str, ...] = ("--x~uniform(0, 1)",)) -> Any:
    (cli.cwd / "trial.py").write_text(TRIAL)
    return cli.run("hunt", "-n", "exp", *options, "--", cli.python, "trial.py", *priors)


def assert_trials_received_their_parameters(trials: list[TrialRecord]) -> None:
    for trial in trials:
        assert trial.status is TrialStatus.COMPLETED
        assert trial.params_hash == hash_params(trial.params)
        penalty = 0.5 if trial.params.get("opt") == "sgd" else 0.0
        expected = (trial.params["x"] - 0.3) ** 2 + penalty + 1.0 / trial.params.get("epochs", 1)
        assert trial.objective == expected, "the script got exactly the stored values"
    assert len({t.params_hash for t in trials}) == len(trials)


def test_grid_is_exhausted_and_hunt_exits_0(cli: Any) -> None:
    result = hunt(
        cli,
        "--algorithm",
        "grid",
        "--algorithm-config",
        '{"n_values": 3}',
        priors=("--x~uniform(0, 1)", "--opt~choices(['adam', 'sgd'])"),
    )
    assert result.returncode == 0, result.stderr
    assert "exhausted" in result.stderr
    algorithm, trials = stored_trials(cli.storage)
    assert algorithm == {"grid": {"seed": None, "n_values": 3}}
    assert sorted((t.params["x"], t.params["opt"]) for t in trials) == sorted(
        (x, opt) for x in (0.0, 0.5, 1.0) for opt in ("adam", "sgd")
    )
    assert_trials_received_their_parameters(trials)


def test_bayes_runs_with_options_from_the_command_line(cli: Any) -> None:
    config = json.dumps({"n_initial_points": 3, "liar": "cl_mean"})
    result = hunt(
        cli,
        "--algorithm",
        "bayes",
        "--algorithm-config",
        config,
        "--seed",
        "2",
        "--max-trials",
        "6",
    )
    assert result.returncode == 0, result.stderr
    algorithm, trials = stored_trials(cli.storage)
    assert algorithm["bayes"]["n_initial_points"] == 3
    assert algorithm["bayes"]["liar"] == "cl_mean"
    assert algorithm["bayes"]["seed"] == 2
    assert len(trials) == 6
    assert_trials_received_their_parameters(trials)


def test_asha_promotes_with_a_link_to_the_parent(cli: Any) -> None:
    result = hunt(
        cli,
        "--algorithm",
        "asha",
        "--seed",
        "1",
        "--max-trials",
        "8",
        priors=("--x~uniform(0, 1)", "--epochs~fidelity(1, 4)"),
    )
    assert result.returncode == 0, result.stderr
    _, trials = stored_trials(cli.storage)
    assert len(trials) == 8
    assert_trials_received_their_parameters(trials)
    by_id = {t.id: t for t in trials}
    promotions = [t for t in trials if t.parent_trial_id is not None]
    assert promotions, "some trial was promoted"
    for child in promotions:
        parent = by_id[child.parent_trial_id]
        assert child.params["x"] == parent.params["x"]
        assert child.params["epochs"] == 2 * parent.params["epochs"]
        assert child.id > parent.id


def test_hyperband_runs_its_brackets_then_exits_0(cli: Any) -> None:
    result = hunt(
        cli,
        "--algorithm",
        "hyperband",
        "--seed",
        "3",
        priors=("--x~uniform(0, 1)", "--epochs~fidelity(1, 4)"),
    )
    assert result.returncode == 0, result.stderr
    assert "exhausted" in result.stderr
    _, trials = stored_trials(cli.storage)
    assert_trials_received_their_parameters(trials)
    assert len(trials) == 14
    assert Counter(t.params["epochs"] for t in trials) == {1: 4, 2: 5, 4: 5}


def test_a_bad_option_stops_hunt_before_any_trial(sqlite_cli: Any) -> None:
    result = hunt(
        sqlite_cli, "--algorithm", "bayes", "--algorithm-config", '{"base_estimator": "GBRT"}'
    )
    # Bad configuration is bad input: the CLI's exit code for it, before any trial.
    assert result.returncode == ConfigError.exit_code != 0
    assert "base_estimator 'GBRT' is not offered" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (sqlite_cli.cwd / "orionlite-runs").exists(), "no trial ran"

    result = hunt(sqlite_cli, "--algorithm", "grid", "--algorithm-config", '{"n_value": 2}')
    assert result.returncode == ConfigError.exit_code
    assert "Algorithm 'grid' has no option 'n_value'" in result.stderr
    assert "n_values" in result.stderr, "the hint lists the known options"


def test_algorithm_from_a_config_file(sqlite_cli: Any) -> None:
    config = sqlite_cli.cwd / "hunt.yaml"
    config.write_text("algorithm:\n  grid:\n    n_values: 2\n    seed: 4\n")
    result = hunt(sqlite_cli, "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "exhausted" in result.stderr
    algorithm, trials = stored_trials(sqlite_cli.storage)
    assert algorithm == {"grid": {"seed": 4, "n_values": 2}}
    assert sorted(t.params["x"] for t in trials) == [0.0, 1.0]


def test_a_later_hunt_continues_the_stored_search(cli: Any) -> None:
    priors = ("--x~uniform(0, 1)", "--epochs~fidelity(1, 4)")
    first = hunt(cli, "--algorithm", "asha", "--seed", "0", "--max-trials", "2", priors=priors)
    assert first.returncode == 0, first.stderr
    _, before = stored_trials(cli.storage)
    assert [t.parent_trial_id for t in before] == [None, None]

    # A new process, later: the rung of the first run is where the search goes on.
    second = hunt(cli, "--max-trials", "3", priors=priors)
    assert second.returncode == 0, second.stderr
    _, after = stored_trials(cli.storage)
    assert len(after) == 3
    best = min(before, key=lambda t: t.objective or 0.0)
    assert after[2].parent_trial_id == best.id
    assert after[2].params == {"x": best.params["x"], "epochs": 2}
