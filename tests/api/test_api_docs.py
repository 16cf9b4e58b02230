"""docs/api.md: every Python example marked runnable runs, as a script of its own.

An example is marked by an HTML comment ``<!-- runnable -->`` on the line before its
fenced ``python`` block. Each runs in an empty temporary folder, with
``$ORIONLITE_STORAGE`` pointing at a SQLite file there, and must exit 0.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from api_helpers import TIMEOUT_S, python_env

API_DOC = Path(__file__).parents[2] / "docs" / "api.md"
_RUNNABLE = re.compile(r"<!-- runnable -->\s*\n```python\n(.*?)\n```", re.DOTALL)
_HEADING = re.compile(r"^#+ (.+)$", re.MULTILINE)


def _examples() -> list[tuple[str, str]]:
    text = API_DOC.read_text()
    examples = []
    for match in _RUNNABLE.finditer(text):
        headings = _HEADING.findall(text, 0, match.start())
        title = re.sub(r"[^a-z0-9]+", "-", headings[-1].lower()).strip("-")
        examples.append((f"{len(examples) + 1}-{title}", match.group(1)))
    return examples


EXAMPLES = _examples()


def test_the_page_has_its_runnable_examples() -> None:
    # A broken marker would silently drop examples from the test below.
    assert len(EXAMPLES) == 8, [name for name, _ in EXAMPLES]


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_runnable_example(name: str, code: str, tmp_path: Path) -> None:
    if "pandas" in code or "to_pandas" in code:
        pytest.importorskip("pandas", reason="the example needs the pandas extra")
    if "dask" in code:
        pytest.importorskip("distributed", reason="the example needs the dask extra")
    script = tmp_path / "example.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=python_env(f"sqlite:///{tmp_path / 'default.db'}"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
