"""`maorders watch`: the seed's pop-ups for a logged-on user.

Runs in the staff's own desktop session (Task Scheduler "at log on", XDG autostart),
follows the journal's notifications and shows each new one as a desktop notification
through Apprise (`windows://`, `macosx://`, `dbus://`/`glib://`; any Apprise URL with
`--target`).

Safe beside the scheduled passes: the journal is opened read-only (`mode=ro`), no pass
lock is taken, nothing in the journal changes. What was shown is remembered in a small
state file in the user's own state folder (platformdirs `user_state_dir`), per journal.
A pop-up that could not be shown is shown at the next check; a watcher killed between
showing and remembering shows that one notification again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from maorders.clock import now, stamp
from maorders.redact import redact

PER_CHECK = 10  # pop-ups at once; a burst beyond that becomes one "and N more" pop-up
FIRST_LOOK = timedelta(hours=24)  # a first start shows the unseen notifications of the last day


def default_target() -> str:
    """The platform's desktop notification target in Apprise."""
    if sys.platform == "win32":
        return "windows://"
    if sys.platform == "darwin":
        return "macosx://"
    import apprise

    for url in ("dbus://", "glib://", "gnome://", "kde://"):
        if apprise.Apprise.instantiate(url) is not None:
            return url
    return "dbus://"


def state_file() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir("maorders", appauthor=False)) / "watch.json"


def load_state(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)} \
        if isinstance(data, dict) else {}


def save_state(path: Path, state: dict[str, int]) -> None:
    """Atomically (a temporary file renamed over it), readable by this user only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".watch-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(state, out)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise


@dataclass
class Watcher:
    journal: Path
    target: str
    problems_only: bool = False
    state_path: Path | None = None

    def __post_init__(self) -> None:
        self.state_path = self.state_path or state_file()
        self.key = str(self.journal.resolve())
        self._server: Any = None

    def check(self, show: Callable[[str, str, bool], bool] | None = None) -> dict[str, int]:
        """Show what is new since the last check: {"shown", "more", "failed"}."""
        show = show or self.show
        if not self.journal.is_file():
            return {"shown": 0, "more": 0, "failed": 0}
        state = load_state(self.state_path)
        last = state.get(self.key)
        notes, total = self.new_notifications(last)
        counts = {"shown": 0, "more": max(0, total - len(notes)), "failed": 0}
        for note in notes:
            if not show(*title_body(note), bool(note["problem"])):
                counts["failed"] += 1
                break  # the desktop is not there: the rest waits for the next check, in order
            state[self.key] = last = note["id"]
            save_state(self.state_path, state)
            counts["shown"] += 1
        if not counts["failed"] and counts["more"]:
            if show("maorders", f"… and {counts['more']} more: run maorders status", True):
                state[self.key] = last = self.newest_id()
                save_state(self.state_path, state)
        if self.key not in state:  # nothing to show on a first start: begin from here
            state[self.key] = self.newest_id()
            save_state(self.state_path, state)
        return counts

    def new_notifications(self, last: int | None) -> tuple[list[dict[str, Any]], int]:
        """(the next notifications to show, how many are waiting in all)."""
        only = "AND problem = 1" if self.problems_only else ""
        with _open(self.journal) as conn:
            if last is None:  # first start: the unseen ones of the last day, not the whole history
                where, params = f"seen_at IS NULL AND created_at >= ? {only}", [stamp(now() - FIRST_LOOK)]
            else:
                where, params = f"id > ? {only}", [last]
            total = conn.execute(f"SELECT COUNT(*) FROM notifications WHERE {where}", params).fetchone()[0]
            rows = conn.execute(f"SELECT * FROM notifications WHERE {where} ORDER BY id LIMIT ?",
                                [*params, PER_CHECK]).fetchall()
        return [dict(r) for r in rows], total

    def newest_id(self) -> int:
        with _open(self.journal) as conn:
            return conn.execute("SELECT COALESCE(MAX(id), 0) FROM notifications").fetchone()[0]

    def show(self, title: str, body: str, problem: bool) -> bool:
        import apprise

        if self._server is None:
            from maorders.alerts import protect

            protect([self.target])
            with apprise.LogCapture(level=40):
                self._server = apprise.Apprise.instantiate(self.target) or False
        if not self._server:
            return False
        kind = apprise.NotifyType.WARNING if problem else apprise.NotifyType.INFO
        with apprise.LogCapture(level=30):
            try:
                return bool(self._server.notify(body=body, title=title, notify_type=kind))
            except Exception:  # noqa: BLE001 - a desktop that went away is retried next check
                return False


class _open:
    """The journal, read-only, closed after each check (never held between checks)."""

    def __init__(self, path: Path):
        from maorders.metrics import read_only

        self.conn = read_only(path)

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: Any) -> None:
        self.conn.close()


def title_body(note: dict[str, Any]) -> tuple[str, str]:
    """What the pop-up says: the connector and the message, as the seed's window did."""
    title = f"maorders: {note['connector']}" + (" — needs a person" if note.get("problem", 1) else "")
    return redact(title), redact(f"{note['message']}\n#{note['id']} · {note['created_at']}")


def follow(watcher: Watcher, interval: float, report: Callable[[dict[str, int]], None]) -> None:
    """Check every `interval` seconds until interrupted; a journal error waits for the next check."""
    while True:
        try:
            report(watcher.check())
        except sqlite3.Error as exc:
            report({"error": 1, "detail": str(exc)})  # type: ignore[dict-item]
        time.sleep(interval)
