"""Numeric libraries' threads while a worker suggests.

OpenBLAS and OpenMP start one thread per core in every process. Several workers on one
machine then each run that many threads through every Gaussian-process fit, and they
fight over the cores: with 4 bayes workers on 2 cores, suggestions took 25 s at the 90th
percentile instead of well under one (docs/decisions/0031-worker-threads.md). Model
fits of a few hundred points gain little from more threads, so suggestions run with one
thread per library, unless the user chose a number with one of the usual variables,
which then stands. Only the suggestion is limited: the user's own code (a trial run by
``workon`` in the worker's process) keeps every thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

#: Any of these set (to anything) means the user chose, and orionlite leaves them alone.
USER_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

# Per process: (pid, controller). Building a controller scans the loaded libraries (10 ms);
# reusing it makes a limit cost 0.06 ms. Forked workers build their own.
_controller: tuple[int, Any] | None = None
_announced: set[int] = set()


def user_choice() -> str | None:
    """``NAME=value`` of the first thread variable the user set, or None."""
    for name in USER_VARIABLES:
        if os.environ.get(name):
            return f"{name}={os.environ[name]}"
    return None


@contextlib.contextmanager
def limited_threads() -> Iterator[None]:
    """Run the block with one thread per numeric library, unless the user set one."""
    global _controller
    choice = user_choice()
    if choice is not None:
        _announce(f"left as set by the user ({choice})")
        yield
        return
    pid = os.getpid()
    if _controller is None or _controller[0] != pid:
        # The libraries a suggestion uses are loaded first, so that the controller sees them.
        import numpy  # noqa: F401
        import scipy.linalg  # noqa: F401
        import sklearn  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _controller = (pid, ThreadpoolController())
    with _controller[1].limit(limits=1):
        _announce(_describe(_controller[1]))
        yield


def _describe(controller: Any) -> str:
    pools = ", ".join(
        f"{pool.internal_api}={pool.num_threads}" for pool in controller.lib_controllers
    )
    return f"limited to {pools or 'no library'}"


def _announce(what: str) -> None:
    """Say once per process how the threads are set (with --verbose)."""
    pid = os.getpid()
    if pid in _announced:
        return
    _announced.add(pid)
    log.debug(
        "numeric library threads during suggestions: %s",
        what,
        extra={"action": "numeric_threads"},
    )
