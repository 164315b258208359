"""Machine forms keep one clock: the journal, `--json` and the log lines carry ISO-8601 UTC
whatever the machine's zone; people read their own zone (brief: "machine forms (--json, journal,
log fields) stay English keys, ISO UTC"; issue 18 point 1)."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta, timezone

from conftest import order_line

MOSCOW = {"TZ": "Europe/Moscow", "MAORDERS_TZ": "Europe/Moscow"}
UTC_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")


def _stamps(journal, table: str, column: str) -> list[str]:
    with sqlite3.connect(journal) as db:
        return [row[0] for row in db.execute(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")]


def test_a_pass_in_moscow_writes_utc_to_the_journal_json_and_log_and_shows_moscow_time(cli, megapteka):
    _server, site = megapteka
    site.add_order([order_line("A-1001", "4601234567890", 1)])
    assert cli.run("export-stock", **MOSCOW).returncode == 0
    done = cli.run("pull-orders", **MOSCOW)
    assert done.returncode == 0, done.stderr

    written = (_stamps(cli.journal, "runs", "started_at") + _stamps(cli.journal, "notifications", "created_at")
               + _stamps(cli.journal, "mp_orders", "updated_at") + _stamps(cli.journal, "outbox", "created_at"))
    assert written and all(UTC_STAMP.match(s) for s in written), written

    _code, status, _err = cli.json("status", **MOSCOW)
    created = status["notifications"][0]["created_at"]
    assert UTC_STAMP.match(created), created
    log_line = (cli.journal.parent / "logs" / "pull-orders.log").read_text(encoding="utf-8").splitlines()[-1]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", log_line), log_line

    moscow = datetime.fromisoformat(created).astimezone(timezone(timedelta(hours=3)))
    shown = cli.run("status", MAORDERS_LANG="ru", **MOSCOW).stdout
    assert moscow.strftime("%d.%m.%Y %H:%M") in shown and "+00:00" not in shown, shown


def test_a_journal_written_in_local_time_is_moved_to_utc_once(cli, megapteka):
    """A journal from before (stamps with the machine's offset) is rewritten to UTC when opened, so
    that comparing stamps as text (what is due, what expired) holds; nothing else changes."""
    _server, site = megapteka
    site.add_order([order_line("A-1001", "4601234567890", 1)])
    assert cli.run("export-stock").returncode == 0
    assert cli.run("pull-orders").returncode == 0
    with sqlite3.connect(cli.journal) as db:  # as the version before wrote it under TZ=Europe/Moscow
        db.execute("UPDATE notifications SET created_at = '2026-12-06T11:41:06+03:00', message = "
                   "'kept 2026-12-06T11:41:06+03:00'")
        db.execute("UPDATE mp_orders SET booked_at = '2026-12-06T11:41:06+03:00'")
        db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_stamps_in_utc'")
        db.execute("DELETE FROM migration_sources")
    assert cli.run("status").returncode == 0
    assert set(_stamps(cli.journal, "notifications", "created_at")) == {"2026-12-06T08:41:06+00:00"}
    assert set(_stamps(cli.journal, "mp_orders", "booked_at")) == {"2026-12-06T08:41:06+00:00"}
    assert set(_stamps(cli.journal, "notifications", "message")) == {"kept 2026-12-06T11:41:06+03:00"}
