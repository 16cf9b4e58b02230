"""Fixtures of the fault tests (helpers live in faultlab.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faultlab import Lab


@pytest.fixture
def lab(db_url: str, tmp_path: Path, bin_path: Path) -> Iterator[Lab]:
    """An experiment database plus a folder; every process started in it dies with it."""
    lab = Lab(db_url, tmp_path, bin_path)
    yield lab
    lab.close()
