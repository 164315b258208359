"""Staff alerts: every notification, once, through every Apprise URL (MAORDERS_ALERT_URLS).

`Journal.notify` queues one outbox item (`maorders`/`alert`, business key = the notification
id) in the notification's own transaction. After the connectors ran, `deliver` sends what is
due, the way every other effect is sent: `begin_send` (a transaction), the call, then the
result (another transaction). No transaction is held across a call.

Several URLs are several channels. Which channels already have an alert is kept in the
item's payload (`delivered`: a digest of each URL, never the URL), written right after
each channel accepted it, so a channel that fails is retried on the next run without
sending again through the channels that worked.

Apprise has no idempotency key: a pass killed after a channel accepted an alert and
before that was written resends that one alert to that one channel. The window is one
SQLite commit long; every alert carries its notification number (`#42`) so that a person
sees a resend is the same alert.

A channel that fails is not tried again in the same pass (one timeout per channel per
pass at most), and the whole delivery stops after `BUDGET_S`: alerts never hold up a pass.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import urlsplit

from maorders.clock import now
from maorders.i18n import N_, _
from maorders.journal import ALERT
from maorders.redact import redact, register_secret

if TYPE_CHECKING:
    from maorders.journal import Journal, OutboxItem

log = logging.getLogger("maorders.alerts")

CONNECT_TIMEOUT_S = 2.0  # Apprise's own defaults are 4-15 s; a pass must not wait that long
READ_TIMEOUT_S = 3.0
SPACING_S = 1.0  # Apprise waits up to 5.5 s between two messages of a channel; 1 s suits Telegram/Slack
BUDGET_S = 20.0  # all alerts of one pass; the rest go with the next pass
PER_PASS = 200  # alerts looked at per pass: a backlog drains over a few passes
GIVE_UP_AFTER = timedelta(hours=48)  # an alert older than this is news no more: recorded as failed
TEST_TITLE = N_("maorders: test alert")

# what each desktop target needs in maorders' own Python (docs/operations.md)
NEEDS = {
    "dbus": "dbus-python (apt install python3-dbus; pip install dbus-python)",
    "kde": "dbus-python (apt install python3-dbus; pip install dbus-python)",
    "qt": "dbus-python (apt install python3-dbus; pip install dbus-python)",
    "glib": "PyGObject and dbus-python (apt install python3-gi python3-dbus)",
    "gnome": "PyGObject (apt install python3-gi gir1.2-notify-0.7)",
    "windows": "pywin32 (pip install pywin32) on Windows",
    "macosx": "terminal-notifier on macOS (brew install terminal-notifier)",
}


@dataclass
class Channel:
    """One Apprise URL. `label` names it without its tokens (`channel 2 (tgram)`)."""

    number: int
    key: str
    scheme: str
    server: Any | None
    problem: str | None = None  # why it cannot be used this pass
    sent: int = field(default=0)

    @property
    def label(self) -> str:
        return f"channel {self.number} ({self.scheme})"  # a name in doctor's checks and the journal: plain

    def send(self, title: str, body: str, problem: bool) -> tuple[bool, str]:
        """(accepted, why not). Apprise's log lines of this call are the reason, redacted."""
        import apprise

        if self.server is None:
            return False, self.problem or _("not a usable Apprise URL")
        kind = apprise.NotifyType.WARNING if problem else apprise.NotifyType.INFO
        with apprise.LogCapture(level=logging.WARNING) as captured:
            try:
                ok = bool(self.server.notify(body=body, title=title, notify_type=kind))
            except Exception as exc:  # a plugin's bug must not end the pass
                return False, redact(f"{type(exc).__name__}: {exc}")[:300]
        if ok:
            self.sent += 1
            return True, ""
        lines = [line.split(" - ", 2)[-1] for line in captured.getvalue().splitlines() if line.strip()]
        return False, redact("; ".join(lines[-2:]) or _("not accepted"))[:300]


def channel_key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def protect(urls: tuple[str, ...] | list[str]) -> None:
    """Alert URLs carry bot tokens and passwords: mask them and their parts everywhere."""
    for url in urls:
        register_secret(url)
        parts = urlsplit(url)
        register_secret(parts.password)
        for segment in (parts.username or "", *parts.path.split("/")):
            if len(segment) >= 12:  # tokens, webhook ids; short segments are ordinary words
                register_secret(segment)


def channels(urls: tuple[str, ...] | list[str]) -> list[Channel]:
    """One Apprise server per URL, with short timeouts. Imports Apprise only when called."""
    import apprise

    protect(urls)
    found = []
    for number, url in enumerate(urls, 1):
        scheme = urlsplit(url).scheme or "?"
        with apprise.LogCapture(level=logging.ERROR) as captured:
            try:
                server = apprise.Apprise.instantiate(url)
            except Exception:  # noqa: BLE001 - an unparseable URL is reported, not raised
                server = None
        if server is not None:
            for name, cap in (("socket_connect_timeout", CONNECT_TIMEOUT_S), ("socket_read_timeout", READ_TIMEOUT_S),
                              ("request_rate_per_sec", SPACING_S)):
                if isinstance(getattr(server, name, None), (int, float)) and getattr(server, name) > cap:
                    setattr(server, name, cap)
        found.append(Channel(number, channel_key(url), scheme, server,
                             None if server else refusal(url, captured.getvalue())))
    return found


def refusal(url: str, said: str) -> str:
    """Why Apprise cannot use a URL, in its own words (redacted): "Unparseable URL", "… is disabled
    on this system" (with the package it needs), an unknown scheme."""
    scheme = (urlsplit(url).scheme or "").lower()
    named = _("the {scheme} URL").format(scheme=scheme or "?")
    words = "; ".join(line.split(" - ", 2)[-1].replace(url, named) for line in said.splitlines() if line.strip())
    if scheme in NEEDS:
        words += _(" (needs {package})").format(package=NEEDS[scheme])
    return redact(_("Apprise cannot use this URL: {words}").format(
        words=words or _("unknown scheme or missing parts")))[:300]


def alert_text(note: dict[str, Any]) -> tuple[str, str]:
    """(title, body) of one notification in the staff's language and local time; personal data and
    secrets masked. The body ends with `#id kind`: a resent alert reads as the same one."""
    from maorders.i18n import local_time

    host = socket.gethostname()
    what = _("needs a person") if note.get("problem", 1) else _("news")
    title = _("[{host}] {connector}: {what}").format(host=host, connector=note["connector"], what=what)
    body = f"{note['message']}\n\n#{note['id']} {note['kind']} · {local_time(note['created_at'])}"
    return redact(title), redact(body)


def deliver(journal: "Journal", urls: tuple[str, ...]) -> dict[str, int]:
    """Send the due alerts; returns counts (sent, retry, failed). Never raises for a channel."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    if not journal.due(*ALERT, limit=1):
        return counts
    with delivery_lock(journal.path) as mine:
        if mine:  # else another pass is delivering them right now: it sends these too
            _deliver_due(journal, urls, counts)
    return counts


@contextmanager
def delivery_lock(journal_path: Path) -> Iterator[bool]:
    """Every pass delivers alerts, and passes of different kinds run at the same time: one at a
    time, or two would both send an alert they both read as due. Never waits for it."""
    from filelock import FileLock, Timeout

    folder = journal_path.parent / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / f"{journal_path.stem}.alerts.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def _deliver_due(journal: "Journal", urls: tuple[str, ...], counts: dict[str, int]) -> None:
    items = journal.due(*ALERT, limit=PER_PASS)  # read again under the lock: the other one may have sent them
    if not items:
        return
    chans = channels(urls)
    deadline = time.monotonic() + BUDGET_S
    for item in items:
        if time.monotonic() > deadline or all(c.problem for c in chans):
            break  # the rest waits for the next pass, untouched
        outcome = _deliver_one(journal, item, chans)
        if outcome:
            counts[outcome] += 1


def _deliver_one(journal: "Journal", item: "OutboxItem", chans: list[Channel]) -> str | None:
    note = journal.one("SELECT * FROM notifications WHERE id = ?", (item.payload.get("notification"),))
    if note is None:
        journal.finish_send(item, "failed", message="the notification is not in the journal")
        return "failed"
    delivered = set(item.payload.get("delivered", []))
    todo = [c for c in chans if c.key not in delivered]
    if not todo:  # every channel has it: a kill came after the last one was written down
        journal.finish_send(item, "sent")
        return "sent"
    if _too_old(note):
        journal.finish_send(item, "failed", message=f"not delivered within {GIVE_UP_AFTER}; dropped")
        return "failed"
    ready = [c for c in todo if not c.problem]
    if not ready:
        return None  # its channels are down this pass: not an attempt
    title, body = alert_text(note)
    journal.begin_send(item)
    failures = [f"{c.label}: {c.problem}" for c in todo if c.problem]
    for position, channel in enumerate(ready):
        accepted, why = channel.send(title, body, bool(note.get("problem", 1)))
        if not accepted:
            channel.problem = why or "not accepted"
            failures.append(f"{channel.label}: {channel.problem}")
            log.warning("alert #%s not delivered through %s: %s", note["id"], channel.label, channel.problem)
            continue
        delivered.add(channel.key)
        last = position == len(ready) - 1 and not failures
        _written_down(journal, item, delivered, finish=last)
        if last:
            return "sent"
    with journal.recording() as db:  # the try happened: its outcome is written even past the budget
        journal.finish_send(item, "retry", message="; ".join(failures)[:500], retry_in=retry_delay(item.attempts),
                            db=db)
    return "retry"


def _written_down(journal: "Journal", item: "OutboxItem", delivered: set[str], finish: bool) -> None:
    """The channel took it: write that down at once (with the item's end when it was the last), even
    when the pass's budget is spent meanwhile, else the next pass sends it again (issue 16)."""
    item.payload["delivered"] = sorted(delivered)
    with journal.recording() as db:
        db.execute("UPDATE outbox SET payload = ? WHERE id = ?", (json.dumps(item.payload), item.id))
        if finish:
            journal.finish_send(item, "sent", db=db)


def retry_delay(attempts: int) -> timedelta | None:
    """The next run retries the first three failures; then 2, 4, 8 … minutes, at most an hour."""
    if attempts <= 3:
        return None
    return timedelta(minutes=min(60, 2 ** (attempts - 3)))


def _too_old(note: dict[str, Any]) -> bool:
    try:
        return now() - datetime.fromisoformat(note["created_at"]) > GIVE_UP_AFTER
    except (TypeError, ValueError):
        return False


# -- operator views ----------------------------------------------------------------------------
def listing(journal: "Journal", failed_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
    """Alerts newest first: their notification, state, attempts and last error (redacted)."""
    where = "AND o.state IN ('retry', 'failed', 'unknown')" if failed_only else ""
    rows = journal.rows(f"""SELECT o.id, o.state, o.attempts, o.last_error, o.created_at, o.sent_at,
                                   n.id AS notification, n.connector, n.kind, n.message, n.problem
                            FROM outbox o LEFT JOIN notifications n ON n.id = CAST(o.business_key AS INTEGER)
                            WHERE o.connector = ? AND o.kind = ? {where}
                            ORDER BY o.id DESC LIMIT ?""", (*ALERT, limit))
    return [{**row, "message": redact(row["message"] or ""), "last_error": redact(row["last_error"] or "")}
            for row in rows]


def send_test(urls: tuple[str, ...]) -> list[dict[str, Any]]:
    """One test message through every channel, now; the journal is not touched."""
    return send_now(urls, _(TEST_TITLE), _("maorders on {host} can reach you. Nothing needs to be done.").format(
        host=socket.gethostname()), problem=False)


def send_now(urls: tuple[str, ...], title: str, body: str, problem: bool = True) -> list[dict[str, Any]]:
    """One message through every channel now, outside the outbox (a test; a failure with no journal).
    `_unusable`: Apprise cannot use the URL at all (a settings error, not a refusal); not for --json."""
    results = []
    for channel in channels(urls):
        accepted, why = channel.send(redact(title), redact(body), problem=problem)
        results.append({"channel": channel.label, "ok": accepted, "detail": why or _("accepted"),
                        "_unusable": channel.server is None})
    return results
