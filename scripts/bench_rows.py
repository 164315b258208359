"""What every scripts/bench_*.py shares: its rows as a markdown table, and running it alone."""

from __future__ import annotations

import sys
from pathlib import Path
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


def clean_environment(workdir: Path, journal: Path | None = None) -> dict[str, str]:
    """What a benchmark's `maorders` runs with: no settings from this machine, an empty env
    file, the journal and logs in `workdir` (or beside `journal`); the caller adds its own."""
    import os

    journal = journal or workdir / "journal.db"
    (workdir / "none.env").write_text("", encoding="utf-8")
    keep = {k: v for k, v in os.environ.items()
            if k in ("PATH", "SYSTEMROOT", "HOME", "TMPDIR", "TEMP", "TMP", "LANG", "LC_ALL")}
    return {**keep, "PYTHONIOENCODING": "utf-8", "MAORDERS_ENV_FILE": str(workdir / "none.env"),
            "MAORDERS_JOURNAL": str(journal), "MAORDERS_LOG_DIR": str(journal.parent / "logs")}
