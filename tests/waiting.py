"""Waiting, in a test, for something another process or thread does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

TIMEOUT_S = 60.0


def wait_for(
    condition: Callable[[], Any], what: str, timeout_s: float = TIMEOUT_S, poll_s: float = 0.02
) -> Any:
    """Poll until ``condition()`` is truthy and return it; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)
