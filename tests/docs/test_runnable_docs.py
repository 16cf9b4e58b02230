"""Every code block marked ``<!-- runnable -->`` in the docs (and the README) runs.

```bash blocks run with bash; ```python blocks with the installed Python, except in
docs/api.md, whose Python examples tests/api/test_api_docs.py runs each on its own.
The blocks of one page run in order, in one fresh folder (so a later block can use a file
an earlier one wrote), with the installed ``hunt``/``orionlite``/``python`` first on PATH, no
``ORIONLITE_*`` settings (the default SQLite file in that folder) and ``examples/`` linked
in. A block fails the test when it exits non-zero (it runs under ``set -euo pipefail``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- runnable -->"
_BLOCK = re.compile(re.escape(MARKER) + r"\s*\n```(bash|python)\n(.*?)\n```", re.DOTALL)
# Pages whose Python examples another test runs.
_PYTHON_TESTED_ELSEWHERE = {"api.md"}


def runnable_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of each marked block, in page order."""
    return _BLOCK.findall(text)


def _pages() -> list[Path]:
    pages = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    return [page for page in pages if page.exists() and MARKER in page.read_text()]


def _pages_to_run() -> list[Path]:
    def has_work(page: Path) -> bool:
        blocks = runnable_blocks(page.read_text())
        if page.name in _PYTHON_TESTED_ELSEWHERE:
            return any(language == "bash" for language, _ in blocks)
        return bool(blocks)

    return [page for page in _pages() if has_work(page)]


def test_markers_are_found_and_each_precedes_a_bash_block() -> None:
    pages = _pages()
    assert {page.name for page in pages} >= {
        "quickstart.md",
        "priors.md",
        "results-protocol.md",
        "many-workers.md",
        "experiments.md",
    }
    for page in pages:
        text = page.read_text()
        assert len(runnable_blocks(text)) == text.count(MARKER), (
            f"{page.name}: a {MARKER} marker is not directly followed by a ```bash or "
            "```python block"
        )


@pytest.mark.parametrize("page", _pages_to_run(), ids=lambda page: page.name)
def test_runnable_blocks(page: Path, tmp_path: Path) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORIONLITE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "120"
    blocks = runnable_blocks(page.read_text())
    if page.name in _PYTHON_TESTED_ELSEWHERE:
        blocks = [(language, code) for language, code in blocks if language == "bash"]
    for number, (language, block) in enumerate(blocks, 1):
        command = (
            ["bash", "-euo", "pipefail", "-c", block]
            if language == "bash"
            else [sys.executable, "-c", block]
        )
        result = subprocess.run(
            command,
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (
            f"{page.name}, runnable {language} block {number} exited {result.returncode}:\n"
            f"{block}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
