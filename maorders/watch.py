"""`maorders watch`: the seed's pop-ups for a logged-on user.

Runs in the staff's own desktop session (Task Scheduler "at log on", XDG autostart),
follows the journal's notifications and shows each new one as a desktop notification
through Apprise (`windows://`, `macosx://`, `dbus://`/`glib://`; any Apprise URL with
`--target`).

Safe beside the scheduled passes: the journal is opened read-only (`mode=ro`), no pass
lock is taken, nothing in the journal changes. What was shown is remembered in a small
state file in the user's own state folder (platformdirs `user_state_dir`), per journal.
Only what was shown is remembered: a pop-up that could not be shown (its reason is said:
the missing package by name) is shown at the next check; a watcher killed between showing
and remembering shows that one notification again. A first start shows the backlog that
needs a person: how many, and the newest few.
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
from pathlib import Path
from typing import Any, Callable

from maorders.i18n import _
from maorders.redact import redact

PER_CHECK = 10  # pop-ups at once; a burst beyond that becomes one "and N more" pop-up
FIRST_FEW = 3  # a first start: a count of what needs a person, and the newest few of them


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
        self.problem: str | None = None  # why the last pop-up could not be shown

    def check(self, show: Callable[[str, str, bool], bool] | None = None) -> dict[str, Any]:
        """Show what is new since the last check: {"shown", "more", "failed"} (and "why" when a pop-up
        could not be shown). Only what was shown is remembered as seen (issue 17)."""
        show = show or self.show
        if not self.journal.is_file():
            return {"shown": 0, "more": 0, "failed": 0}
        state = load_state(self.state_path)
        if self.key not in state:
            return self._first_look(state, show)
        last = state[self.key]
        notes, total = self.new_notifications(last)
        counts: dict[str, Any] = {"shown": 0, "more": max(0, total - len(notes)), "failed": 0}
        for note in notes:
            if not show(*title_body(note), bool(note["problem"])):
                return self._failed(counts)  # the rest waits for the next check, in order
            state[self.key] = note["id"]
            save_state(self.state_path, state)
            counts["shown"] += 1
        if counts["more"]:
            if not show("maorders", _("… and {count} more: run maorders status").format(count=counts["more"]), True):
                return self._failed(counts)
            state[self.key] = self.newest_id()  # told as a count: the person looks at `status`
            save_state(self.state_path, state)
        return counts

    def _first_look(self, state: dict[str, int], show: Callable[[str, str, bool], bool]) -> dict[str, Any]:
        """A first start: the backlog that needs a person, as a count and the newest few; remembered
        only once shown, so a desktop not ready yet shows it at the next check."""
        newest = self.newest_id()
        backlog, total = self.backlog()
        counts: dict[str, Any] = {"shown": 0, "more": max(0, total - len(backlog)), "failed": 0}
        if total > len(backlog):
            if not show("maorders", _("{count} notifications need a person: run maorders status").format(
                    count=total), True):
                return self._failed(counts)
        for note in reversed(backlog):  # oldest of the few first, as they happened
            if not show(*title_body(note), True):
                return self._failed(counts)
            counts["shown"] += 1
        state[self.key] = newest
        save_state(self.state_path, state)
        return counts

    def _failed(self, counts: dict[str, Any]) -> dict[str, Any]:
        counts["failed"] = 1
        counts["why"] = self.problem or _("the pop-up was not accepted")
        return counts

    def backlog(self) -> tuple[list[dict[str, Any]], int]:
        """(the newest few unseen notifications that need a person, how many there are in all)."""
        with _open(self.journal) as conn:
            total = conn.execute("SELECT COUNT(*) FROM notifications WHERE seen_at IS NULL AND problem = 1"
                                 ).fetchone()[0]
            rows = conn.execute("""SELECT * FROM notifications WHERE seen_at IS NULL AND problem = 1
                                   ORDER BY id DESC LIMIT ?""", (FIRST_FEW,)).fetchall()
        return [dict(r) for r in rows], total

    def new_notifications(self, last: int) -> tuple[list[dict[str, Any]], int]:
        """(the next notifications to show, how many are waiting in all)."""
        only = "AND problem = 1" if self.problems_only else ""
        with _open(self.journal) as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM notifications WHERE id > ? {only}", [last]).fetchone()[0]
            rows = conn.execute(f"SELECT * FROM notifications WHERE id > ? {only} ORDER BY id LIMIT ?",
                                [last, PER_CHECK]).fetchall()
        return [dict(r) for r in rows], total

    def newest_id(self) -> int:
        with _open(self.journal) as conn:
            return conn.execute("SELECT COALESCE(MAX(id), 0) FROM notifications").fetchone()[0]

    def show(self, title: str, body: str, problem: bool) -> bool:
        import apprise

        if self._server is None:
            from maorders.alerts import protect

            protect([self.target])
            self.problem = unusable(self.target)
            with apprise.LogCapture(level=40):
                self._server = apprise.Apprise.instantiate(self.target) or False
        if not self._server:
            return False
        kind = apprise.NotifyType.WARNING if problem else apprise.NotifyType.INFO
        with apprise.LogCapture(level=30) as captured:
            try:
                if self._server.notify(body=body, title=title, notify_type=kind):
                    return True
            except Exception as exc:  # noqa: BLE001 - a desktop that went away is retried next check
                captured.write(f"x - x - {type(exc).__name__}: {exc}\n")
        lines = [line.split(" - ", 2)[-1] for line in captured.getvalue().splitlines() if line.strip()]
        self.problem = redact("; ".join(lines[-2:]) or _("{target} did not accept it").format(target=self.target))
        return False


def unusable(target: str) -> str | None:
    """Why Apprise cannot use `target` here (the missing package by name), or None when it can."""
    import apprise

    with apprise.LogCapture(level=40) as captured:
        server = apprise.Apprise.instantiate(target)
    if server is not None:
        return None
    scheme = target.partition("://")[0].lower()
    said = "; ".join(line.split(" - ", 2)[-1] for line in captured.getvalue().splitlines() if line.strip())
    from maorders.alerts import NEEDS

    if scheme in NEEDS:
        return _("{target} cannot show pop-ups here: it needs {package}").format(target=target,
                                                                               package=NEEDS[scheme])
    return redact(said or _("{target} is not an Apprise URL").format(target=target))


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
    from maorders.i18n import local_time

    title = (_("maorders: {connector} — needs a person") if note.get("problem", 1)
             else _("maorders: {connector}")).format(connector=note["connector"])
    return redact(title), redact(f"{note['message']}\n#{note['id']} · {local_time(note['created_at'])}")


def follow(watcher: Watcher, interval: float, report: Callable[[dict[str, int]], None]) -> None:
    """Check every `interval` seconds until interrupted; a journal error waits for the next check."""
    while True:
        try:
            report(watcher.check())
        except sqlite3.Error as exc:
            report({"error": 1, "detail": str(exc)})  # type: ignore[dict-item]
        time.sleep(interval)
