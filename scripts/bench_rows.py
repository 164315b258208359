"""What every scripts/bench_*.py shares: its rows as a markdown table, and running it alone."""

from __future__ import annotations

import sys
from typing import Any, Callable

COLUMNS = ("metric", "maorders", "baseline", "ratio", "limit")


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| metric | maorders | baseline | ratio | limit | ok |", "|---|---:|---:|---:|---:|---|"]
    for row in rows:
        cells = ["" if row[k] is None else str(row[k]) for k in COLUMNS]
        ok = {True: "yes", False: "NO", None: "info"}[row["ok"]]
        lines.append("| " + " | ".join(cells) + f" | {ok} |")
    return "\n".join(lines)


def run_alone(benchmark: Callable[[bool], list[dict[str, Any]]]) -> int:
    """`python scripts/bench_x.py [--small]`: the table; exit 1 when a limit failed."""
    rows = benchmark("--small" in sys.argv[1:])
    print(markdown(rows))
    return 1 if any(row["ok"] is False for row in rows) else 0
