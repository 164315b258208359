"""The SQLite journal: the single source of truth of every pass.

Shared tables every connector uses: `runs`, `cursors`, `outbox`, `attempts`,
`notifications` (made in `maorders.migrations`). Connector tables are added by each
connector's own `sqlite_utils.Migrations` set, its `migrations.py`. The journal is a plain
`sqlite3.Connection` (`Journal.db`); sqlite-utils is imported only to migrate.

Text that may carry a remote's words (a run's summary, an attempt's message, an item's last
error, a notification) is masked (`maorders.redact`) here, on its way in, so no connector has
to remember: a service that echoes our token in an error never puts it in the journal.

Every write goes through `Journal.write()`: `BEGIN IMMEDIATE` ... `COMMIT`, so a
write never fails half-way on SQLITE_BUSY and a kill leaves the last committed
state. No transaction is ever held across an HTTP call.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
import zlib
from contextlib import contextmanager
from sqlite3 import Connection
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator

from maorders.clock import now, stamp
from maorders.errors import JournalError, TransientError
from maorders.i18n import _
from maorders.redact import masked, redact

BUSY_TIMEOUT_S = 10.0
KERNEL_MIGRATIONS = "maorders.migrations:kernel"


def busy_timeout() -> float:
    """How long a write waits for another program's lock; MAORDERS_BUSY_TIMEOUT (s) for tests."""
    try:
        return max(0.0, float(os.environ.get("MAORDERS_BUSY_TIMEOUT") or BUSY_TIMEOUT_S))
    except ValueError:
        return BUSY_TIMEOUT_S


ALERT = ("maorders", "alert")  # the outbox (connector, kind) of staff alerts, one per notification


@dataclass
class OutboxItem:
    id: int
    connector: str
    kind: str
    business_key: str
    payload: dict[str, Any]
    idempotency_key: str
    state: str
    attempts: int
    last_error: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "OutboxItem":
        return cls(row["id"], row["connector"], row["kind"], row["business_key"],
                   json.loads(row["payload"]), row["idempotency_key"], row["state"],
                   row["attempts"], row["last_error"])


class Journal:
    """One open journal file. Use `Journal.open(path, migrations)`."""

    def __init__(self, db: Connection, path: Path):
        self.db = db
        self.path = path
        self.alert_level: str | None = None  # all | problems when staff alerts are set up
        self.budget: Any = None  # a pass's Budget: waiting for another program's lock counts against it
        self.busy_seconds = busy_timeout()

    # -- opening --------------------------------------------------------
    @classmethod
    def open(cls, path: Path, migrations: Iterable[str] = (), busy_seconds: float | None = None) -> "Journal":
        """`migrations`: the connectors' sets as "module:attr" references; the kernel's comes first."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():  # orders and customers' data: the owner's alone (SQLite copies it to -wal)
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            timeout = busy_timeout() if busy_seconds is None else busy_seconds
            conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            _migrate(conn, (KERNEL_MIGRATIONS, *migrations))
        except sqlite3.OperationalError as exc:
            raise _journal_error(path, exc) from exc
        except sqlite3.DatabaseError as exc:
            raise JournalError(_("journal {path} is not a usable SQLite file: {why}").format(path=path, why=exc)) from exc
        except OSError as exc:
            raise JournalError(_("journal {path} cannot be created: {why}").format(path=path, why=exc.strerror)) from exc
        journal = cls(conn, path)
        journal.busy_seconds = timeout
        return journal

    def close(self) -> None:
        self.db.close()

    # -- transactions -------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction taken up front (BEGIN IMMEDIATE)."""
        if self.budget is not None:
            left = self.budget.left()
            if left <= 0:
                raise TransientError(_("the pass's time budget is spent before writing journal {path}; "
                                       "run again later").format(path=self.path))
            self.db.execute(f"PRAGMA busy_timeout = {int(min(self.busy_seconds, left) * 1000)}")
        try:
            with immediate(self.db):
                yield self.db
        except sqlite3.OperationalError as exc:
            raise _journal_error(self.path, exc) from exc

    @contextmanager
    def recording(self) -> Iterator[Connection]:
        """A write of what a remote already did (an e-mail taken, an SMS id, an alert delivered, a
        confirm applied): made even when the pass's budget is spent. The budget stops new work; it
        never stops the journal from recording an effect that happened, else the next pass repeats it."""
        budget, self.budget = self.budget, None
        # a budgeted write before may have left the busy wait near zero: this one waits its full time
        self.db.execute(f"PRAGMA busy_timeout = {int(self.busy_seconds * 1000)}")
        try:
            with self.write() as db:
                yield db
        finally:
            self.budget = budget

    def rows(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in self.db.execute(sql, params).fetchall()]

    def one(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
        row = self.db.execute(sql, params).fetchone()
        return dict(row) if row else None

    def value(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> Any:
        row = self.db.execute(sql, params).fetchone()
        return row[0] if row else None

    # -- runs -----------------------------------------------------------------
    def start_run(self, command: str, attended: bool = False) -> int:
        with self.write() as db:
            return db.execute("INSERT INTO runs (command, started_at, attended) VALUES (?, ?, ?)",
                              (command, stamp(), int(attended))).lastrowid

    def finish_run(self, run_id: int, exit_code: int, summary: dict[str, Any]) -> None:
        with self.recording() as db:  # the run's record is written even past the budget
            db.execute("UPDATE runs SET finished_at = ?, exit_code = ?, summary = ? WHERE id = ?",
                       (stamp(), exit_code, json.dumps(masked(summary), ensure_ascii=False), run_id))

    # -- cursors (moved in the same transaction as the rows they cover) ------
    def cursor(self, connector: str, feed: str, default: str = "0") -> str:
        value = self.value("SELECT value FROM cursors WHERE connector = ? AND feed = ?", (connector, feed))
        return default if value is None else value

    def set_cursor(self, db: Connection, connector: str, feed: str, value: str) -> None:
        """Call inside `write()`, together with the rows the cursor covers."""
        db.execute("""INSERT INTO cursors (connector, feed, value, updated_at) VALUES (?, ?, ?, ?)
                      ON CONFLICT (connector, feed) DO UPDATE SET value = excluded.value,
                      updated_at = excluded.updated_at""", (connector, feed, str(value), stamp()))

    # -- outbox: intent before effect ------------------------------------------
    def enqueue(self, db: Connection, connector: str, kind: str, business_key: str,
                payload: dict[str, Any], idempotency_key: str | None = None) -> bool:
        """Queue an effect once; its idempotency key is made now and never again.

        Returns False when the business key was queued before (nothing changes).
        Call inside `write()`, with the domain change that caused it.
        """
        cursor = db.execute(
            """INSERT OR IGNORE INTO outbox (connector, kind, business_key, payload,
               idempotency_key, created_at) VALUES (?, ?, ?, ?, ?, ?)""",
            (connector, kind, business_key, json.dumps(payload, ensure_ascii=False),
             idempotency_key or str(uuid.uuid4()), stamp()))
        return cursor.rowcount == 1

    def due(self, connector: str, kind: str | None = None, limit: int | None = None) -> list[OutboxItem]:
        """Pending and retry-due items, oldest first. `unknown` ones (a killed send) too:
        they are re-sent with the same key, which the remote dedupes on."""
        sql = """SELECT * FROM outbox WHERE connector = ? AND state IN ('pending', 'retry', 'unknown')
                 AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"""
        params: list[Any] = [connector, stamp()]
        if kind:
            # `+kind`: not an index term, so SQLite walks outbox_due (the few open items)
            # instead of the UNIQUE (connector, kind, …) index over every item ever sent
            sql += " AND +kind = ?"
            params.append(kind)
        sql += " ORDER BY id" + (f" LIMIT {int(limit)}" if limit else "")
        return [OutboxItem.from_row(row) for row in self.rows(sql, params)]

    def begin_send(self, item: OutboxItem) -> int:
        """Mark an item in flight before the call; a kill leaves it 'unknown'-able."""
        with self.write() as db:
            db.execute("UPDATE outbox SET state = 'unknown', attempts = attempts + 1 WHERE id = ?",
                       (item.id,))
        item.attempts += 1
        return item.attempts

    def finish_send(self, item: OutboxItem, result: str, http_code: int | None = None,
                    message: str | None = None, retry_in: timedelta | None = None,
                    db: Connection | None = None) -> None:
        """Record one attempt and its outcome: sent, failed (for good) or retry."""
        state = {"sent": "sent", "failed": "failed", "retry": "retry"}[result]
        message = None if message is None else redact(message)
        next_at = stamp(now() + retry_in) if retry_in else None

        def record(db: Connection) -> None:
            db.execute("""INSERT INTO attempts (outbox_id, at, attempt, http_code, result, message)
                          VALUES (?, ?, ?, ?, ?, ?)""",
                       (item.id, stamp(), item.attempts, http_code, result, message))
            db.execute("""UPDATE outbox SET state = ?, last_error = ?, next_attempt_at = ?,
                          sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE id = ?""",
                       (state, None if result == "sent" else message, next_at, state, stamp(), item.id))

        if db is not None:
            record(db)
        else:
            with self.write() as db:
                record(db)
        item.state = state

    # -- notifications: what a person must see -----------------------------------
    def notify(self, db: Connection, connector: str, subject: str, kind: str, message: str,
               problem: bool = True) -> None:
        """Once per (subject, kind): a rerun does not pop the same window twice.

        `problem`: a person must act (False for news such as a new order). When staff alerts
        are set up, the alert is queued in this same transaction and sent after it.
        """
        cursor = db.execute("""INSERT OR IGNORE INTO notifications (connector, subject, kind, message,
                               created_at, problem) VALUES (?, ?, ?, ?, ?, ?)""",
                            (connector, subject, kind, redact(message), stamp(), int(problem)))
        if cursor.rowcount == 1 and self.alert_level and (problem or self.alert_level == "all"):
            self.enqueue(db, *ALERT, str(cursor.lastrowid), {"notification": cursor.lastrowid})

    def notifications(self, unseen_only: bool = True, limit: int = 50) -> list[dict[str, Any]]:
        where = "WHERE seen_at IS NULL" if unseen_only else ""
        return self.rows(f"SELECT * FROM notifications {where} ORDER BY id DESC LIMIT ?", (limit,))


@contextmanager
def immediate(db: Connection) -> Iterator[Connection]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    db.execute("COMMIT")


def _migrate(conn: Connection, references: Iterable[str]) -> None:
    """Apply the migration sets whose module differs from the one this journal last applied.

    Unchanged modules are not even imported: sqlite-utils alone costs ~70 ms, and a till's
    cashier waits for scan-qr. A changed file (a new migration, or only a comment) is checked
    by sqlite-utils' `Migrations` as before and its checksum kept in the same transaction.
    """
    seen = _applied_sources(conn)
    for reference in references:
        crc = _source_crc(reference)
        if crc is None or seen.get(reference) != crc:
            _apply(conn, reference, crc)


def _applied_sources(conn: Connection) -> dict[str, int]:
    try:
        return dict(conn.execute("SELECT migrations, source_crc FROM migration_sources").fetchall())
    except sqlite3.OperationalError:  # a journal made before the table (or a new one)
        return {}


def _source_crc(reference: str) -> int | None:
    """The CRC-32 of a migration module's file, found without importing it; None if unreadable."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(reference.partition(":")[0])
        return zlib.crc32(Path(spec.origin).read_bytes()) if spec and spec.origin else None
    except (ImportError, OSError, ValueError):
        return None


def _apply(conn: Connection, reference: str, crc: int | None) -> None:
    from sqlite_utils import Database

    from maorders.connector import load

    db, migrations = Database(conn, execute_plugins=False), load(reference)
    with immediate(conn):  # the tables and the checksum that vouches for them, in one transaction
        migrations.apply(db)
        if crc is not None:
            conn.execute("""INSERT INTO migration_sources (migrations, source_crc, checked_at) VALUES (?, ?, ?)
                            ON CONFLICT (migrations) DO UPDATE SET source_crc = excluded.source_crc,
                            checked_at = excluded.checked_at""", (reference, crc, stamp()))


def _journal_error(path: Path, exc: sqlite3.OperationalError) -> Exception:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return TransientError(_("journal {path} is locked by another program; run again later").format(path=path))
    return JournalError(_("journal {path} cannot be written: {why}").format(path=path, why=text))
