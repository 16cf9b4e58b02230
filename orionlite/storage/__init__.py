"""Persistence of experiments and trials in SQLite or PostgreSQL."""

from __future__ import annotations

from orionlite.storage.database import CreateRefusal, Storage

__all__ = ["CreateRefusal", "Storage"]
