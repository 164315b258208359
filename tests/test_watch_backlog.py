"""Issue 17 point 2 through the installed `maorders`: `watch` loses nothing. A first start whose
pop-up cannot be shown says why (the missing package by name) and remembers nothing, so the next
start still shows the backlog that needs a person: how many, and the newest few."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from test_alerts_failures import Receiver  # noqa: F401 - the `popups` fixture's receiver
from test_alerts_failures import popups  # noqa: F401 - fixture


def test_point2_watch_after_a_failed_first_popup_still_shows_the_backlog(cli, popups, tmp_path):
    assert cli.run("export-stock").returncode == 0
    assert cli.run("pull-orders", MEGAPTEKA_SECRET="not-the-secret").returncode == 69
    assert cli.run("push-statuses", MEGAPTEKA_SECRET="not-the-secret").returncode == 69
    assert cli.run("export-stock", MEGAPTEKA_STOCK_FILE=str(tmp_path / "missing.csv")).returncode == 65
    assert cli.run("expire-bookings", MEGAPTEKA_DEPARTMENT="").returncode == 78
    state = tmp_path / "watch.json"
    watch = ("--json", "--journal", str(cli.journal), "watch", "--once", "--state-file", str(state))

    failed = cli.run(*watch, "--target", "dbus://")  # no D-Bus bindings in this Python
    assert failed.returncode == 75
    result = json.loads(failed.stdout)
    assert "dbus-python" in result["reason"] and result["failed"] == 1
    assert not state.exists() or str(cli.journal.resolve()) not in json.loads(state.read_text())

    shown = cli.run(*watch, "--target", popups.url)
    assert shown.returncode == 0, shown.stderr
    messages = [p["message"] for p in popups.accepted]
    assert messages[0].startswith("4 notifications need a person")
    assert len(messages) == 4 and all("What to do" in m for m in messages[1:])
    assert any("expire-bookings failed (exit 78)" in m for m in messages[1:])

    again = cli.run(*watch, "--target", popups.url)
    assert json.loads(again.stdout)["shown"] == 0 and len(popups.accepted) == 4


def test_point2_watch_says_why_a_desktop_popup_cannot_be_shown(cli, tmp_path):
    assert cli.run("pull-orders", MEGAPTEKA_SECRET="not-the-secret").returncode == 69
    done = cli.run("--journal", str(cli.journal), "watch", "--once", "--target", "dbus://",
                   "--state-file", str(tmp_path / "w.json"))
    assert done.returncode == 75
    assert "dbus-python" in done.stderr and Path(tmp_path / "w.json").exists() is False


def test_popups_and_alerts_show_the_time_in_the_staff_zone_and_language(cli, popups, tmp_path):
    """Issue 18 point 2: a pop-up says when in the staff's zone (`TZ=Europe/Moscow`: UTC+3), as
    people write it, not the journal's ISO UTC; its title is in their language."""
    assert cli.run("pull-orders", MEGAPTEKA_SECRET="not-the-secret").returncode == 69
    with sqlite3.connect(cli.journal) as db:
        db.execute("UPDATE notifications SET created_at = '2026-12-06T08:41:06+00:00'")
    done = cli.run("--journal", str(cli.journal), "watch", "--once", "--target", popups.url,
                   "--state-file", str(tmp_path / "w.json"), MAORDERS_LANG="en", TZ="Europe/Moscow")
    assert done.returncode == 0, done.stderr
    shown = [p["message"] for p in popups.accepted if "#" in p["message"]]
    assert shown and all("06/12/2026 11:41" in m and "2026-12-06T" not in m for m in shown), shown
    assert all(p["title"].endswith("needs a person") for p in popups.accepted)


def test_watch_help_names_task_files_that_exist():
    """Issue 18 point 3: the files `watch --help` tells a technician to use are in the repository."""
    import re

    from maorders.operations_cli import WATCH_HELP

    root = Path(__file__).resolve().parents[1]
    named = re.findall(r"scripts/[\w/.-]+\.(?:xml|desktop)", WATCH_HELP)
    assert named and all((root / path).is_file() for path in named), named
