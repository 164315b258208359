"""Issue 17 point 2 through the installed `maorders`: `watch` loses nothing. A first start whose
pop-up cannot be shown says why (the missing package by name) and remembers nothing, so the next
start still shows the backlog that needs a person: how many, and the newest few."""

from __future__ import annotations

import json
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
