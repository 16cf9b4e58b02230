"""Every trial outcome of SPEC §1 through the real ``hunt`` command, on both backends."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from orionlite.records import TrialStatus
from orionlite.storage import Storage


def _script(folder: Path, body: str) -> str:
    path = folder / "trial.py"
    path.write_text(textwrap.dedent(body))
    return path.name


def _trials(url: str) -> list:
    storage = Storage(url)
    record = storage.get_experiment("exp")
    assert record is not None
    trials = storage.trials(record.id)
    storage.close()
    return trials


def test_completed_trial_stores_objective_and_all_results(cli) -> None:
    script = _script(
        cli.cwd,
        """
        import sys
        from orionlite import report_results
        x = float(sys.argv[1].split("=")[1])
        report_results([
            {"name": "loss", "type": "objective", "value": x ** 2},
            {"name": "acc", "type": "statistic", "value": 1 - x},
        ])
        """,
    )
    result = cli.run(
        "hunt", "-n", "exp", "--max-trials", "2", "--", cli.python, script, "--x~uniform(0, 1)"
    )
    assert result.returncode == 0, result.stderr
    assert "is done: 2 of 2 trials completed" in result.stderr
    trials = _trials(cli.storage)
    assert [t.status for t in trials] == [TrialStatus.COMPLETED] * 2
    for trial in trials:
        assert trial.objective == pytest.approx(trial.params["x"] ** 2)
        assert [r["name"] for r in trial.results] == ["loss", "acc"]


def test_nonzero_exit_is_broken_with_exit_code_and_stderr_tail(cli) -> None:
    script = _script(
        cli.cwd,
        """
        import sys
        print("line before the failure", file=sys.stderr)
        print("CUDA out of memory", file=sys.stderr)
        sys.exit(3)
        """,
    )
    result = cli.run(
        "hunt", "-n", "exp", "--max-broken", "2", "--", cli.python, script, "--x~uniform(0, 1)"
    )
    assert result.returncode == 1
    assert "2 trials broke (--max-broken 2)" in result.stderr
    assert "CUDA out of memory" in result.stderr
    assert "Traceback" not in result.stderr
    trials = _trials(cli.storage)
    assert [t.status for t in trials] == [TrialStatus.BROKEN] * 2
    assert all(t.exit_code == 3 for t in trials)
    assert all("CUDA out of memory" in t.error for t in trials)


def test_exit_zero_without_results_is_broken_and_names_the_fix(cli) -> None:
    script = _script(cli.cwd, "print('trained, but forgot to report')\n")
    result = cli.run(
        "hunt", "-n", "exp", "--max-broken", "1", "--", cli.python, script, "--x~uniform(0, 1)"
    )
    assert result.returncode == 1
    (trial,) = _trials(cli.storage)
    assert trial.status is TrialStatus.BROKEN
    assert "results-attempt1.json" in trial.error
    assert "report_objective" in trial.error
    assert (cli.cwd / "orionlite-runs" / "exp-v1" / str(trial.id) / "stdout.log").read_text() == (
        "trained, but forgot to report\n"
    )


def test_nan_objective_is_broken_with_a_message(cli) -> None:
    script = _script(
        cli.cwd, "from orionlite import report_objective\nreport_objective(float('nan'))\n"
    )
    result = cli.run(
        "hunt", "-n", "exp", "--max-broken", "1", "--", cli.python, script, "--x~uniform(0, 1)"
    )
    assert result.returncode == 1
    (trial,) = _trials(cli.storage)
    assert trial.status is TrialStatus.BROKEN
    assert "nan" in trial.error.lower()


def test_exit_code_130_marks_the_trial_interrupted(cli) -> None:
    script = _script(cli.cwd, "import sys\nsys.exit(130)\n")
    result = cli.run("hunt", "-n", "exp", "--", cli.python, script, "--x~uniform(0, 1)")
    assert result.returncode == 130
    assert "went back to the pool" in result.stderr
    (trial,) = _trials(cli.storage)
    assert trial.status is TrialStatus.INTERRUPTED


def test_bash_trial_writes_its_own_results(cli) -> None:
    script = cli.cwd / "train.sh"
    script.write_text(
        "#!/bin/bash\n"
        "# called as: train.sh --width=VALUE -d VALUE\n"
        'width="${1#--width=}"; depth="$3"\n'
        'echo "[{\\"name\\": \\"cost\\", \\"type\\": \\"objective\\", \\"value\\": '
        '$((width * depth))}]" > "$ORIONLITE_RESULTS_PATH"\n'
    )
    script.chmod(0o755)
    result = cli.run(
        "hunt",
        "-n",
        "exp",
        "--max-trials",
        "3",
        "--",
        "./train.sh",
        "--width~uniform(1, 9, discrete=True)",
        "-d~choices([2, 3])",
    )
    assert result.returncode == 0, result.stderr
    trials = _trials(cli.storage)
    assert len(trials) == 3
    for trial in trials:
        assert trial.status is TrialStatus.COMPLETED
        assert trial.objective == trial.params["width"] * trial.params["d"]


def test_trial_sees_its_folder_environment_and_templates(cli) -> None:
    script = _script(
        cli.cwd,
        """
        import json, os, sys
        from orionlite import report_objective
        keys = ["ORIONLITE_EXPERIMENT_NAME", "ORIONLITE_EXPERIMENT_VERSION",
                "ORIONLITE_TRIAL_ID", "ORIONLITE_WORKING_DIR", "ORIONLITE_TRIAL_PARAMS",
                "ORIONLITE_STORAGE"]
        seen = {k: os.environ[k] for k in keys}
        seen["cwd"] = os.getcwd()
        seen["argv"] = sys.argv[1:]
        with open("seen.json", "w") as f:
            json.dump(seen, f)
        report_objective(1.0)
        """,
    )
    result = cli.run(
        "hunt",
        "-n",
        "exp",
        "--max-trials",
        "1",
        "--",
        cli.python,
        script,
        "--lr~loguniform(1e-5, 1)",
        "--out={trial.working_dir}/model.pt",
        "--tag={exp.name}-{exp.version}-{trial.id}",
        '{"json": "untouched"}',
    )
    assert result.returncode == 0, result.stderr
    (trial,) = _trials(cli.storage)
    trial_dir = cli.cwd / "orionlite-runs" / "exp-v1" / str(trial.id)
    seen = json.loads((trial_dir / "seen.json").read_text())
    assert seen["cwd"] == str(trial_dir)
    assert seen["ORIONLITE_WORKING_DIR"] == str(trial_dir)
    assert seen["ORIONLITE_TRIAL_ID"] == str(trial.id)
    assert (seen["ORIONLITE_EXPERIMENT_NAME"], seen["ORIONLITE_EXPERIMENT_VERSION"]) == ("exp", "1")
    assert json.loads(seen["ORIONLITE_TRIAL_PARAMS"]) == trial.params
    assert seen["ORIONLITE_STORAGE"].endswith(cli.storage.split("://", 1)[1])
    assert seen["argv"] == [
        f"--lr={trial.params['lr']!r}",
        f"--out={trial_dir}/model.pt",
        f"--tag=exp-1-{trial.id}",
        '{"json": "untouched"}',
    ]


def test_non_finite_statistic_is_stored_as_null_and_the_trial_completes(cli) -> None:
    script = _script(
        cli.cwd,
        """
        from orionlite import report_results
        report_results([
            {"name": "loss", "type": "objective", "value": 0.5},
            {"name": "grad_norm", "type": "statistic", "value": float("inf")},
        ])
        """,
    )
    result = cli.run(
        "hunt", "-n", "exp", "--max-trials", "1", "--", cli.python, script, "--x~uniform(0, 1)"
    )
    assert result.returncode == 0, result.stderr
    (trial,) = _trials(cli.storage)
    assert trial.status is TrialStatus.COMPLETED
    assert trial.results[1] == {"name": "grad_norm", "type": "statistic", "value": None}
