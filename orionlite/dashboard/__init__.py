"""``orionlite dashboard``: a live, read-only web view of a database's experiments.

Needs the ``dashboard`` extra (``pip install 'orionlite[dashboard]'``): Starlette, uvicorn,
Jinja2 and plotly (for the plotly.js file it ships). Nothing here writes to the database;
see ``orionlite.storage.readonly``.
"""

from __future__ import annotations

INSTALL_HINT = "Install the dashboard extra: pip install 'orionlite[dashboard]'"
