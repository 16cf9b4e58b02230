from __future__ import annotations

from orionlite.cli import main

main()
