"""The worker's reading of a progress file: complete lines only, warnings by line number."""

from __future__ import annotations

import math
from pathlib import Path

from orionlite.progress_file import ProgressFile


def test_complete_lines_are_read_as_they_arrive(tmp_path: Path) -> None:
    path = tmp_path / "progress.jsonl"
    follower = ProgressFile(path)
    assert follower.read().points == []  # no file yet: nothing, no warning
    path.write_text('{"step": 0, "value": 1.5}\n{"step": 1, "val')
    first = follower.read()
    assert (first.points, first.warnings) == ([(0, 1.5)], [])
    with path.open("a") as handle:
        handle.write('ue": 1.25}\n{"step": 2, "value": 1}')
    assert follower.read().points == [(1, 1.25)]  # the last line has no newline yet
    assert follower.read(final=True).points == [(2, 1.0)]  # the trial exited


def test_malformed_lines_are_warnings_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "progress.jsonl"
    path.write_text(
        "\n".join(
            [
                '{"step": 1, "value": 0.5}',
                "epoch 2 loss 0.4",
                '{"step": 1, "value": 0.3}',
                '{"step": 3, "value": "low"}',
                '{"step": -1, "value": 0.1}',
                '{"step": 4, "value": NaN}',
                '{"step": 5, "value": "inf"}',
                "[1, 2]",
                "",
                '{"step": 6, "value": 0.2}',
            ]
        )
        + "\n"
    )
    read = ProgressFile(path).read()
    assert read.points == [(1, 0.5), (6, 0.2)]
    assert [w.split(":")[0] for w in read.warnings] == [
        "line 2",
        "line 3",
        "line 4",
        "line 5",
        "line 6",
        "line 7",
        "line 8",
    ]
    assert "does not increase (the last one was 1)" in read.warnings[1]
    assert "'low' is not a number" in read.warnings[2]
    assert "not finite" in read.warnings[4] and math.isnan(float("nan"))
    assert read.non_finite == [6, 7]
