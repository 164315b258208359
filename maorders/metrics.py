"""The Prometheus textfile (MAORDERS_METRICS_FILE), for node_exporter's or windows_exporter's
textfile collector, written atomically by prometheus-client after every pass.

Every value is read back from the journal (the `runs` table, the outbox, the
notifications), never from the previous file: passes run in separate processes, and the
last one to finish writes what the journal says about all of them.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

PENDING = ("pending", "retry", "unknown")
REFUSED = ("failed",)


def read_only(path: Path) -> sqlite3.Connection:
    """The journal opened read-only (`mode=ro`): a reader never blocks or changes a pass."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2.0)
    conn.row_factory = sqlite3.Row
    return conn


def seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def last_runs(conn: sqlite3.Connection, commands: list[str]) -> dict[str, dict[str, Any]]:
    """Per pass: the start of its latest run, and the end and exit code of its latest finished one.

    Per command, newest first by id: SQLite walks back from the end of `runs` and stops at the
    first match, so a long history costs nothing."""
    found: dict[str, dict[str, Any]] = {}
    for command in commands:
        latest = conn.execute("SELECT started_at FROM runs WHERE command = ? ORDER BY id DESC LIMIT 1",
                              (command,)).fetchone()
        if latest is None:
            continue
        done = conn.execute("""SELECT started_at, finished_at, exit_code FROM runs
                               WHERE command = ? AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1""",
                            (command,)).fetchone()
        found[command] = {"start": seconds(latest["started_at"]),
                          "finished_start": seconds(done["started_at"]) if done else None,
                          "end": seconds(done["finished_at"]) if done else None,
                          "exit_code": done["exit_code"] if done else None}
    return found


def outbox_counts(conn: sqlite3.Connection, connectors: list[str]) -> dict[str, dict[str, int]]:
    """Per connector: items still to send and items refused for good (index lookups per connector)."""
    counts: dict[str, dict[str, int]] = {}
    for name in connectors:
        states = dict(conn.execute(f"""SELECT state, COUNT(*) FROM outbox WHERE connector = ?
                                       AND state IN ({','.join('?' * len(PENDING + REFUSED))})
                                       GROUP BY state""", (name, *PENDING, *REFUSED)).fetchall())
        counts[name] = {"pending": sum(states.get(s, 0) for s in PENDING),
                        "refused": sum(states.get(s, 0) for s in REFUSED)}
    return counts


def need_person(conn: sqlite3.Connection) -> dict[str, int]:
    """Unseen notifications about problems (not news), per connector."""
    return dict(conn.execute("""SELECT connector, COUNT(*) FROM notifications
                                WHERE seen_at IS NULL AND problem = 1 GROUP BY connector""").fetchall())


def write(path: Path, conn: sqlite3.Connection | None, command: str, code: int,
          summary: dict[str, Any], commands: list[str], connectors: list[str], in_journal: bool,
          journal: str = "") -> None:
    """Build the registry from the journal (and this pass's summary when it never reached the
    journal) and write it atomically (prometheus-client writes a temporary file, then renames).

    Every series carries `journal` (the journal's path): one server running several installs
    (a journal per account) writes several textfiles, and node_exporter refuses the same series
    twice."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    runs = last_runs(conn, commands) if conn is not None else {}
    if not in_journal or command not in runs:  # never reached the journal (75 busy, 78): its summary says
        runs[command] = _from_summary(summary, code)
    registry = CollectorRegistry()
    gauges = {name: Gauge(f"maorders_pass_{name}", text, ["journal", "pass"], registry=registry) for name, text in (
        ("last_start_timestamp_seconds", "When the latest run of the pass started."),
        ("last_end_timestamp_seconds", "When the latest finished run of the pass ended."),
        ("last_duration_seconds", "How long the latest finished run of the pass took."),
        ("last_exit_code", "Exit code of the latest finished run (0 ok, 75 run again later, ...)."))}
    for name, run in sorted(runs.items()):
        if run["start"] is not None:
            gauges["last_start_timestamp_seconds"].labels(journal, name).set(run["start"])
        if run["end"] is not None:
            gauges["last_end_timestamp_seconds"].labels(journal, name).set(run["end"])
            if run["finished_start"] is not None:
                gauges["last_duration_seconds"].labels(journal, name).set(max(0.0, run["end"] - run["finished_start"]))
        if run["exit_code"] is not None:
            gauges["last_exit_code"].labels(journal, name).set(run["exit_code"])
    if conn is not None:
        _journal_gauges(registry, conn, connectors, journal)
    Gauge("maorders_metrics_written_timestamp_seconds", "When this file was written.", ["journal"],
          registry=registry).labels(journal).set_to_current_time()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
    with suppress(OSError):  # the exporter runs as its own user; the file holds no personal data
        os.chmod(path, 0o644)


def _journal_gauges(registry: Any, conn: sqlite3.Connection, connectors: list[str], journal: str) -> None:
    from prometheus_client import Gauge

    pending = Gauge("maorders_outbox_pending_items", "Effects queued and not yet accepted by the remote.",
                    ["journal", "connector"], registry=registry)
    refused = Gauge("maorders_outbox_refused_items", "Effects refused for good, not yet acknowledged.",
                    ["journal", "connector"], registry=registry)
    for name, counts in outbox_counts(conn, connectors).items():
        pending.labels(journal, name).set(counts["pending"])
        refused.labels(journal, name).set(counts["refused"])
    person = Gauge("maorders_notifications_need_person", "Unseen notifications about problems.",
                   ["journal", "connector"], registry=registry)
    needing = need_person(conn)
    for name in sorted(set(connectors) | set(needing)):
        person.labels(journal, name).set(needing.get(name, 0))


def _from_summary(summary: dict[str, Any], code: int) -> dict[str, Any]:
    start, end = seconds(summary.get("started_at")), seconds(summary.get("finished_at"))
    return {"start": start, "finished_start": start, "end": end, "exit_code": code}
