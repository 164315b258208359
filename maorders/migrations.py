"""The kernel's tables in the journal (runs, cursors, outbox, attempts, notifications),
created and changed only here, in order. Each connector has its own set the same way.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

kernel = Migrations("maorders")


@kernel()
def m001_shared_tables(db: Database) -> None:
    db.execute("""CREATE TABLE runs (
        id INTEGER PRIMARY KEY, command TEXT NOT NULL, started_at TEXT NOT NULL,
        finished_at TEXT, exit_code INTEGER, summary TEXT)""")
    db.execute("""CREATE TABLE cursors (
        connector TEXT NOT NULL, feed TEXT NOT NULL, value TEXT NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (connector, feed))""")
    db.execute("""CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, connector TEXT NOT NULL, kind TEXT NOT NULL,
        business_key TEXT NOT NULL, payload TEXT NOT NULL, idempotency_key TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT, last_error TEXT, created_at TEXT NOT NULL, sent_at TEXT,
        UNIQUE (connector, kind, business_key))""")
    db.execute("CREATE INDEX outbox_due ON outbox (connector, state, next_attempt_at)")
    db.execute("""CREATE TABLE attempts (
        id INTEGER PRIMARY KEY, outbox_id INTEGER NOT NULL REFERENCES outbox(id),
        at TEXT NOT NULL, attempt INTEGER NOT NULL, http_code INTEGER, result TEXT NOT NULL,
        message TEXT)""")
    db.execute("CREATE INDEX attempts_outbox ON attempts (outbox_id)")
    db.execute("""CREATE TABLE notifications (
        id INTEGER PRIMARY KEY, connector TEXT NOT NULL, subject TEXT NOT NULL,
        kind TEXT NOT NULL, message TEXT NOT NULL, created_at TEXT NOT NULL,
        seen_at TEXT, UNIQUE (connector, subject, kind))""")
    db.execute("CREATE INDEX notifications_unseen ON notifications (seen_at)")


@kernel()
def m002_notifications_that_need_a_person(db: Database) -> None:
    # 1: a problem a person must act on; 0: news (a new order, a booking made) — MAORDERS_ALERT_LEVEL
    db.execute("ALTER TABLE notifications ADD COLUMN problem INTEGER NOT NULL DEFAULT 1")


@kernel()
def m003_attended_runs(db: Database) -> None:
    # a run a person watched (a till's sale): its 65 was that person's input, nobody's job later
    db.execute("ALTER TABLE runs ADD COLUMN attended INTEGER NOT NULL DEFAULT 0")


@kernel()
def m004_migration_sources(db: Database) -> None:
    # each migration module's source as the journal last applied it: while none has changed,
    # opening the journal needs no migration check (nor sqlite-utils' 70 ms import): a till waits
    db.execute("""CREATE TABLE migration_sources (
        migrations TEXT PRIMARY KEY, source_crc INTEGER NOT NULL, checked_at TEXT NOT NULL)""")


# a stamp of a journal made before stamps were UTC: the local time with its offset
_LOCAL_STAMP = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9][+-][0-9][0-9]:[0-9][0-9]"


@kernel()
def m005_stamps_in_utc(db: Database) -> None:
    # every table's stamps (the connectors' too) to UTC, so that comparing them as text holds;
    # SQLite's own date functions read the offset. A stamp already in UTC is left as it is.
    for table in db.table_names():
        for column in (c.name for c in db[table].columns if c.type.upper() in ("TEXT", "")):
            db.execute(f"""UPDATE [{table}] SET [{column}] = strftime('%Y-%m-%dT%H:%M:%S+00:00', [{column}])
                           WHERE [{column}] GLOB '{_LOCAL_STAMP}' AND [{column}] NOT LIKE '%+00:00'""")
