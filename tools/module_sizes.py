"""Print the module-size table of docs/design.md ("Module sizes"): every module of the
package with its line count, largest first.

    .venv/bin/python tools/module_sizes.py
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Modules are split by job at about this size (docs/design.md, "Layers").
LIMIT = 500


def main() -> None:
    sizes = sorted(
        (
            (len(path.read_text().splitlines()), path.relative_to(ROOT).as_posix())
            for path in (ROOT / "orionlite").rglob("*.py")
        ),
        key=lambda item: (-item[0], item[1]),
    )
    print("| module | lines |")
    print("|---|---:|")
    for lines, name in sizes:
        mark = " (over the limit)" if lines > LIMIT else ""
        print(f"| `{name}` | {lines}{mark} |")


if __name__ == "__main__":
    main()
