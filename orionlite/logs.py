"""The log lines of the command line and of worker processes: plain, timestamped, on
stderr."""

from __future__ import annotations

import logging
import sys
from datetime import datetime

_LOGGERS = ("orionlite",)


class _LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        return f"[{stamp}] {record.getMessage()}"


def configure_logging(*, verbose: bool, quiet: bool) -> None:
    """Plain timestamped lines on stderr: trial starts and ends, outages, warnings."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LineFormatter())
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
