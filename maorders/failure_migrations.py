"""The tables of failing passes and operator actions (issue 17), a migration set of their own
beside the kernel's (`maorders.migrations`), applied whenever the runner opens the journal."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

failures = Migrations("maorders.failures")


@failures()
def m001_failures_and_audit(db: Database) -> None:
    # one row per (scope, pass) while that pass fails: scope is a connector or "maorders" (the
    # whole pass, e.g. a setting missing); gone once the pass succeeds again
    db.execute("""CREATE TABLE failures (
        scope TEXT NOT NULL, command TEXT NOT NULL, exit_code INTEGER NOT NULL, reason TEXT NOT NULL,
        fingerprint TEXT NOT NULL, since TEXT NOT NULL, last_at TEXT NOT NULL, alerted_at TEXT,
        notification INTEGER, acknowledged_at TEXT, PRIMARY KEY (scope, command))""")
    # who did what by hand, when, with which arguments (masked)
    db.execute("""CREATE TABLE audit (
        id INTEGER PRIMARY KEY, at TEXT NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL,
        arguments TEXT NOT NULL, exit_code INTEGER)""")
