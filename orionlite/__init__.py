"""orionlite: masterless hyperparameter tuning synchronised through a database.

Only light names are imported eagerly: trial scripts call ``report_objective`` and
should not pay for SQLAlchemy or numpy.
"""

from __future__ import annotations

from orionlite.results import report_objective, report_results

__all__ = ["report_objective", "report_results"]
