"""A failing pass is a notification that needs a person (issue 17), as Alertmanager groups,
repeats and resolves an alert.

After each pass the runner calls `record`: per connector that ran, and for the whole pass
("maorders": a setting missing, the log folder unwritable), a failure opens or continues
one row of `failures`; a success closes it. A row becomes a notification (and so an alert
through MAORDERS_ALERT_URLS, a `watch` pop-up, a `status --check` reason):
- at once for 65, 69, 78 and any other code; for 75 once the pass has failed for
  MAORDERS_ALERT_AFTER minutes (a network blip is no one's job);
- once per distinct failure (exit code and reason), again at most every
  MAORDERS_ALERT_REPEAT hours while it lasts and is not acknowledged (`status --ack`);
- and a "back to normal" notice when the same pass next succeeds after an alert.

Everything is written with `Journal.recording()`: a failure is the outcome of the run, and
a pass that failed because its budget was spent must still say so.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from sqlite3 import Connection
from typing import TYPE_CHECKING, Any

from maorders.clock import now, stamp
from maorders.i18n import _
from maorders.journal import ALERT
from maorders.redact import redact

if TYPE_CHECKING:
    from maorders.journal import Journal

MIGRATIONS = "maorders.failure_migrations:failures"
WHOLE_PASS = "maorders"  # the scope of a failure before or outside any connector
TEMPFAIL = 75


@dataclass(frozen=True)
class Policy:
    after: timedelta = timedelta(minutes=60)  # MAORDERS_ALERT_AFTER: how long a 75 may last unannounced
    repeat: timedelta = timedelta(hours=24)  # MAORDERS_ALERT_REPEAT: how often an unacknowledged one is repeated


def policy(values: dict[str, str]) -> Policy:
    """From the raw settings; an unusable value keeps the default (doctor names it)."""
    return Policy(timedelta(minutes=_number(values.get("MAORDERS_ALERT_AFTER"), 60.0)),
                  timedelta(hours=_number(values.get("MAORDERS_ALERT_REPEAT"), 24.0, minimum=0.01)))


def _number(raw: str | None, default: float, minimum: float = 0.0) -> float:
    try:
        value = float((raw or "").strip().replace(",", ".") or default)
    except ValueError:
        return default
    return value if minimum <= value <= 1e6 else default


def outcomes(summary: dict[str, Any], code: int) -> dict[str, tuple[int, str]]:
    """scope -> (exit code, reason) of this run: each connector that ran, and the whole pass."""
    found = {name: (result["exit_code"], (result.get("errors") or [""])[0])
             for name, result in summary.get("connectors", {}).items()}
    if summary.get("error"):
        found[WHOLE_PASS] = (code, summary["error"])
    elif found or summary.get("reached"):  # the pass reached its connectors: what stopped it before is over
        found[WHOLE_PASS] = (0, "")
    return found


def record(journal: "Journal", command: str, code: int, summary: dict[str, Any], rules: Policy,
           attended: bool = False) -> list[dict[str, Any]]:
    """Open, continue or close the failures of this run; returns the notifications made."""
    made: list[dict[str, Any]] = []
    open_rows = {row["scope"]: row for row in journal.rows("SELECT * FROM failures WHERE command = ?", (command,))}
    for scope, (scope_code, reason) in outcomes(summary, code).items():
        if scope_code == 0 and scope not in open_rows:
            continue  # the usual case: nothing to write
        if attended and scope_code == 65:
            continue  # a cashier's own input, answered at once: nobody's job later
        with journal.recording() as db:
            if scope_code == 0:
                note = _resolve(journal, db, open_rows[scope])
            else:
                note = _fail(journal, db, open_rows.get(scope), scope, command, scope_code, reason, rules)
        if note:
            made.append(note)
    return made


def fingerprint(code: int, reason: str) -> str:
    """One distinct failure: its code, and its reason with numbers and masked parts set aside
    (a port, a count or a time does not make a failure new); every 75 is one failure."""
    text = "" if code == TEMPFAIL else re.sub(r"\d+", "#", redact(reason)).lower()
    return hashlib.sha256(f"{code}|{text}".encode("utf-8")).hexdigest()[:16]


def _fail(journal: "Journal", db: Connection, row: dict[str, Any] | None, scope: str, command: str, code: int,
          reason: str, rules: Policy) -> dict[str, Any] | None:
    moment, reason = now(), redact(reason)[:500]
    mark = fingerprint(code, reason)
    if row is None or row["fingerprint"] != mark:  # a new failure (the streak's start is kept for a 75)
        since = row["since"] if row else stamp(moment)
        db.execute("""INSERT INTO failures (scope, command, exit_code, reason, fingerprint, since, last_at)
                      VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scope, command) DO UPDATE SET
                      exit_code = excluded.exit_code, reason = excluded.reason, fingerprint = excluded.fingerprint,
                      last_at = excluded.last_at, alerted_at = NULL, acknowledged_at = NULL""",
                   (scope, command, code, reason, mark, since, stamp(moment)))
        row = {**(row or {}), "since": since, "alerted_at": None, "acknowledged_at": None,
               "notification": (row or {}).get("notification")}
    else:
        db.execute("UPDATE failures SET last_at = ?, reason = ? WHERE scope = ? AND command = ?",
                   (stamp(moment), reason, scope, command))
    if not _due(row, code, moment, rules):
        return None
    text = failure_text(scope, command, code, reason, row["since"])
    note = _notify(journal, db, scope, command, "pass-failed", text, problem=True)
    if row.get("notification"):  # the newest notice stands for the failure; older ones are seen
        db.execute("UPDATE notifications SET seen_at = ? WHERE id = ? AND seen_at IS NULL",
                   (stamp(moment), row["notification"]))
    db.execute("UPDATE failures SET alerted_at = ?, notification = ? WHERE scope = ? AND command = ?",
               (stamp(moment), note["id"], scope, command))
    return note


def _due(row: dict[str, Any], code: int, moment: datetime, rules: Policy) -> bool:
    if code == TEMPFAIL and moment - _time(row["since"], moment) < rules.after:
        return False
    if row.get("alerted_at") is None:
        return True
    return row.get("acknowledged_at") is None and moment - _time(row["alerted_at"], moment) >= rules.repeat


def _resolve(journal: "Journal", db: Connection, row: dict[str, Any]) -> dict[str, Any] | None:
    db.execute("DELETE FROM failures WHERE scope = ? AND command = ?", (row["scope"], row["command"]))
    if not row["notification"]:
        return None  # never announced (a short 75): nothing to take back
    db.execute("UPDATE notifications SET seen_at = ? WHERE id = ? AND seen_at IS NULL", (stamp(), row["notification"]))
    text = _("Back to normal: {command} ({scope}) succeeded again; it failed from {since} (exit {code}: "
             "{reason}).").format(command=row["command"], scope=row["scope"], since=_local(row["since"]),
                                  code=row["exit_code"], reason=row["reason"])
    return _notify(journal, db, row["scope"], row["command"], "pass-recovered", text, problem=False)


def _notify(journal: "Journal", db: Connection, scope: str, command: str, kind: str, text: str,
            problem: bool) -> dict[str, Any]:
    """A notification of its own (the subject carries the time: a repeat is a new one), and its
    alert whenever alerts are set up: the "back to normal" follows the alert it takes back."""
    subject = f"{command} {stamp()}"
    cursor = db.execute("""INSERT OR IGNORE INTO notifications (connector, subject, kind, message, created_at,
                           problem) VALUES (?, ?, ?, ?, ?, ?)""", (scope, subject, kind, text, stamp(), int(problem)))
    note_id = cursor.lastrowid if cursor.rowcount == 1 else db.execute(
        "SELECT id FROM notifications WHERE connector = ? AND subject = ? AND kind = ?",
        (scope, subject, kind)).fetchone()[0]
    if journal.alert_level:
        journal.enqueue(db, *ALERT, str(note_id), {"notification": note_id})
    return {"id": note_id, "connector": scope, "kind": kind, "message": text}


def failure_text(scope: str, command: str, code: int, reason: str, since: str) -> str:
    """One line: which pass, which connector, why, and what to do."""
    where = command if scope == WHOLE_PASS else f"{command} ({scope})"
    first = _("{where} failed (exit {code}): {reason}").format(where=where, code=code, reason=reason or "-")
    if code == TEMPFAIL:
        first += " " + _("(failing since {since})").format(since=_local(since))
    return f"{first}. {_('What to do')}: {hint(code)}"


def _local(moment: str) -> str:
    """A journal time as the staff read it (`06.12.2026 11:41`, their zone): alerts go out as written."""
    from maorders.i18n import local_time

    return local_time(moment)


def hint(code: int) -> str:
    return {
        65: _("correct the input it names (the file, line and field); the next pass takes it"),
        69: _("the service refused us: check the credentials or account it names, then `maorders doctor`"),
        73: _("a file or folder cannot be written: give the user running maorders write access to it"),
        75: _("the service or the network is down: check the connection (`maorders doctor`); "
              "the passes go on by themselves once it is back"),
        78: _("set or correct the setting it names in the settings file, then run `maorders doctor`"),
    }.get(code, _("send the log (maorders' log folder) to support; the passes go on every 10 minutes"))


def _time(value: str | None, default: datetime) -> datetime:
    try:
        return datetime.fromisoformat(value) if value else default
    except ValueError:
        return default


# -- status and acknowledging ---------------------------------------------------------------------
def open_failures(journal: "Journal") -> list[dict[str, Any]]:
    """Every pass failing now, acknowledged or not, newest first."""
    try:
        return journal.rows("SELECT * FROM failures ORDER BY last_at DESC")
    except Exception:  # noqa: BLE001 - a journal opened without this set (read-only views)
        return []


def acknowledge(db: Connection) -> int:
    """A person knows: `status --check` goes quiet and no repeat is sent until it changes."""
    return db.execute("UPDATE failures SET acknowledged_at = ? WHERE acknowledged_at IS NULL", (stamp(),)).rowcount


# -- a pass stopped before its journal ------------------------------------------------------------
def record_early(basics: Any, rules: Policy, command: str, code: int, reason: str, errors_log: Any) -> None:
    """A pass stopped before or outside its journal (a setting missing or wrong, the log folder
    unwritable; the runner wrote its errors.log line): a notification, and its alerts, when the
    journal and MAORDERS_ALERT_URLS can be read; straight to the alert URLs when only they can.
    `basics`: the runner's `Basics` (journal, alert URLs as written)."""
    if basics.journal.is_file():
        _into_journal(basics, command, code, reason, rules)
    elif basics.alert_urls and errors_log is not None:
        _straight(basics.alert_urls, errors_log.with_name("early-alerts.json"), command, code, reason, rules)


def _into_journal(basics: Any, command: str, code: int, reason: str, rules: Policy) -> None:
    from maorders.journal import Journal

    journal = Journal.open(basics.journal, [MIGRATIONS], basics.busy_timeout)
    journal.alert_level = basics.alert_level if basics.alert_urls else None
    try:
        record(journal, command, code, {"error": reason, "connectors": {}}, rules)
        if basics.alert_urls:
            from maorders import alerts

            alerts.deliver(journal, basics.alert_urls)
    finally:
        journal.close()


def _straight(urls: tuple[str, ...], state: Any, command: str, code: int, reason: str, rules: Policy) -> None:
    """No journal to queue it in: sent now, once per distinct failure and repeat period, as a small
    file beside errors.log remembers."""
    import json

    from maorders import alerts

    mark, moment = f"{command}|{fingerprint(code, reason)}", now()
    try:
        sent = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        sent = {}
    if mark in sent and moment - _time(sent[mark], moment) < rules.repeat:
        return
    text = failure_text(WHOLE_PASS, command, code, redact(reason), stamp(moment))
    import socket

    title = _("[{host}] {connector}: {what}").format(host=socket.gethostname(), connector=WHOLE_PASS,
                                                    what=_("needs a person"))
    if any(r["ok"] for r in alerts.send_now(urls, title, text)):
        state.write_text(json.dumps({**sent, mark: stamp(moment)}), encoding="utf-8")
