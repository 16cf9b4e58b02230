from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orionlite.errors import ResultsError
from orionlite.results import (
    RESULTS_PATH_ENV,
    normalize_results,
    objective_of,
    read_results,
    report_objective,
    report_results,
)

VALID = [
    {"name": "loss", "type": "objective", "value": 0.25},
    {"name": "acc", "type": "statistic", "value": 0.9},
    {"name": "memory", "type": "constraint", "value": 3},
]


def _write(path: Path, content: Any) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_read_valid_results(tmp_path: Path) -> None:
    results = read_results(_write(tmp_path / "results.json", VALID))
    assert results == VALID
    assert objective_of(results) == 0.25


def test_extra_keys_are_kept(tmp_path: Path) -> None:
    item = {"name": "loss", "type": "objective", "value": 1, "unit": "nats"}
    assert read_results(_write(tmp_path / "r.json", [item])) == [item]


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        ("", "is empty"),
        ("  \n", "is empty"),
        ("loss: 0.1", "is not valid JSON"),
        ('[{"name": "loss"', "is not valid JSON"),
        ({"name": "loss", "type": "objective", "value": 1}, "expected a list of objects, got {"),
        (0.1, "expected a list of objects, got 0.1"),
        ([0.1], "item 1 is 0.1, not an object"),
        ([{"type": "objective", "value": 1}], "item 1 lacks 'name'"),
        ([{"name": "loss", "value": 1}], "item 1 lacks 'type'"),
        ([{"name": "loss", "type": "objective"}], "item 1 lacks 'value'"),
        ([{}], "item 1 lacks 'name', 'type', 'value'"),
        ([{"name": "", "type": "objective", "value": 1}], "item 1 has name ''"),
        ([{"name": 3, "type": "objective", "value": 1}], "item 1 has name 3"),
        (
            [{"name": "loss", "type": "objectiv", "value": 1}],
            "'loss' has type 'objectiv'; use one of objective, constraint, statistic",
        ),
        ([{"name": "loss", "type": "objective", "value": "0.1"}], "'loss' has value '0.1', which"),
        ([{"name": "loss", "type": "objective", "value": True}], "has value True, which is not"),
        ([{"name": "loss", "type": "objective", "value": None}], "has value None, which is not"),
        ([{"name": "loss", "type": "objective", "value": [1]}], "has value [1], which is not"),
        ([], "at least one item must have type 'objective', found none"),
        ([{"name": "acc", "type": "statistic", "value": 1}], "found none"),
        (
            [
                {"name": "a", "type": "objective", "value": 1},
                {"name": "a", "type": "objective", "value": 2},
            ],
            "objective 'a' is reported more than once",
        ),
    ],
)
def test_invalid_file_names_the_file_and_the_fix(tmp_path: Path, content: Any, phrase: str) -> None:
    path = _write(tmp_path / "results.json", content)
    with pytest.raises(ResultsError) as info:
        read_results(path)
    assert str(path) in info.value.message
    assert phrase in info.value.message
    assert info.value.hint is not None
    assert "orionlite.report_objective(value)" in info.value.hint
    assert '[{"name": "loss", "type": "objective", "value": 0.1}]' in info.value.hint
    assert "$ORIONLITE_RESULTS_PATH" in info.value.hint


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    with pytest.raises(ResultsError) as info:
        read_results(path)
    assert info.value.message == (
        f"No results file {path}: the trial exited 0 without reporting results."
    )
    assert info.value.hint is not None and "report_objective" in info.value.hint


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="could not be read"):
        read_results(tmp_path)  # a directory
    (tmp_path / "latin1.json").write_bytes(b"\xff\xfe[]")
    with pytest.raises(ResultsError, match="could not be read"):
        read_results(tmp_path / "latin1.json")


@pytest.mark.parametrize(
    ("text", "shown"), [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf")]
)
def test_non_finite_objective_is_an_error(tmp_path: Path, text: str, shown: str) -> None:
    path = _write(
        tmp_path / "r.json", f'[{{"name": "loss", "type": "objective", "value": {text}}}]'
    )
    results = read_results(path)  # the file itself is valid: what was reported is kept
    assert math.isnan(results[0]["value"]) or math.isinf(results[0]["value"])
    with pytest.raises(ResultsError) as info:
        objective_of(results)
    assert info.value.message.startswith(f"objective is {shown}: ")
    assert f"'loss' = {shown}" in info.value.message


def test_non_finite_statistic_is_fine() -> None:
    results = [
        {"name": "loss", "type": "objective", "value": 1.5},
        {"name": "grad", "type": "statistic", "value": math.inf},
    ]
    assert objective_of(results) == 1.5


def test_objective_of_validates() -> None:
    with pytest.raises(ResultsError, match="found none"):
        objective_of([{"name": "acc", "type": "statistic", "value": 1}])


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.5, 0.5), (3, 3.0), (-1e-9, -1e-9), (np.float32(0.5), 0.5), (np.int64(2), 2.0)],
)
def test_normalize_bare_number(value: Any, expected: float) -> None:
    results = normalize_results(value)
    assert results == [{"name": "objective", "type": "objective", "value": expected}]
    assert type(results[0]["value"]) is float


def test_normalize_list_converts_numpy_values() -> None:
    results = normalize_results(
        [
            {"name": "loss", "type": "objective", "value": np.float32(0.5)},
            {"name": "steps", "type": "statistic", "value": np.int64(10)},
        ]
    )
    assert [type(item["value"]) for item in results] == [float, int]
    assert json.loads(json.dumps(results)) == results


def test_normalize_does_not_change_its_input() -> None:
    given = [{"name": "loss", "type": "objective", "value": np.float64(0.5)}]
    normalize_results(given)
    assert type(given[0]["value"]) is np.float64


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        (True, "expected a list of objects, got True"),
        ("0.1", "expected a list of objects, got '0.1'"),
        ([{"name": "loss", "type": "objective"}], "item 1 lacks 'value'"),
        ([{"name": "a", "type": "statistic", "value": 1}], "found none"),
    ],
)
def test_normalize_rejects_bad_values(value: Any, phrase: str) -> None:
    with pytest.raises(ResultsError) as info:
        normalize_results(value)
    assert info.value.message.startswith("Invalid results: ")
    assert phrase in info.value.message


def test_report_objective_writes_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "results.json"
    monkeypatch.setenv(RESULTS_PATH_ENV, str(path))
    report_objective(0.12)
    assert json.loads(path.read_text()) == [
        {"name": "objective", "type": "objective", "value": 0.12}
    ]
    report_objective(np.float64(0.5), name="loss")
    assert read_results(path) == [{"name": "loss", "type": "objective", "value": 0.5}]
    assert os.listdir(tmp_path) == ["results.json"]


def test_report_results_replaces_an_earlier_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "results.json"
    monkeypatch.setenv(RESULTS_PATH_ENV, str(path))
    report_results([{"name": "loss", "type": "objective", "value": 9.0}])
    report_results(VALID)
    assert read_results(path) == VALID
    assert os.listdir(tmp_path) == ["results.json"]


def test_report_nan_is_written_and_refused_by_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "results.json"
    monkeypatch.setenv(RESULTS_PATH_ENV, str(path))
    report_objective(math.nan)
    with pytest.raises(ResultsError, match="objective is nan"):
        objective_of(read_results(path))


def test_report_validates_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "results.json"
    monkeypatch.setenv(RESULTS_PATH_ENV, str(path))
    with pytest.raises(ResultsError, match="which is not a number"):
        report_objective("0.1")  # type: ignore[arg-type]
    with pytest.raises(ResultsError, match="found none"):
        report_results([{"name": "acc", "type": "statistic", "value": 1.0}])
    assert not path.exists()


def test_failed_write_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "results.json"
    monkeypatch.setenv(RESULTS_PATH_ENV, str(path))
    report_objective(1.0)

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        report_objective(2.0)
    assert objective_of(read_results(path)) == 1.0
    assert os.listdir(tmp_path) == ["results.json"]


@pytest.mark.parametrize("setting", [None, ""])
def test_report_without_orionlite_warns_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None
) -> None:
    monkeypatch.chdir(tmp_path)
    if setting is None:
        monkeypatch.delenv(RESULTS_PATH_ENV, raising=False)
    else:
        monkeypatch.setenv(RESULTS_PATH_ENV, setting)
    with pytest.warns(UserWarning, match="not run by orionlite") as record:
        report_objective(0.1)
    assert len(record) == 1
    assert record[0].filename == __file__  # points at the user's call
    assert f"${RESULTS_PATH_ENV} is not set" in str(record[0].message)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report_results(VALID)
    assert len(caught) == 1 and caught[0].filename == __file__
    assert os.listdir(tmp_path) == []
