"""Issue 17 point 1 through the installed `maorders`: a failing pass is a notification that needs a
person. A wrong secret (69), a missing setting (78), a missing stock file (65) and a service down past
MAORDERS_ALERT_AFTER (75) each make exactly one alert at a `json://` webhook on 127.0.0.1, repeated at
most once per MAORDERS_ALERT_REPEAT (the journal's times shifted, no sleeping), a "back to normal"
after the fix, a `watch --once` pop-up, and `status --check` exit 1 until the pass succeeds.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

from conftest import Cli


class Receiver:
    """A `json://` endpoint (pytest-httpserver) recording what Apprise posts to `path`."""

    def __init__(self, server: Any, path: str):
        self.server, self.path = server, path
        self.accepted: list[dict[str, Any]] = []
        server.expect_request(path, method="POST").respond_with_handler(self.handle)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.port}{self.path}"

    def handle(self, request: Request) -> Response:
        self.accepted.append(json.loads(request.get_data()))
        return Response("{}", status=200, content_type="application/json")

    def failures(self) -> list[str]:
        return [a["message"] for a in self.accepted if "failed (exit" in a["message"]]

    def recoveries(self) -> list[str]:
        return [a["message"] for a in self.accepted if "Back to normal" in a["message"]]


@pytest.fixture
def hook(httpserver) -> Receiver:
    return Receiver(httpserver, "/hook")


@pytest.fixture
def popups(httpserver) -> Receiver:
    return Receiver(httpserver, "/popups")


def shift(cli: Cli, column: str, delta: timedelta) -> None:
    """Move a failure's time back, as if that long had passed."""
    with sqlite3.connect(cli.journal) as db:
        for rowid, value in db.execute(f"SELECT rowid, {column} FROM failures WHERE {column} IS NOT NULL").fetchall():
            moved = (datetime.fromisoformat(value) - delta).isoformat(timespec="seconds")
            db.execute(f"UPDATE failures SET {column} = ? WHERE rowid = ?", (moved, rowid))


def check(cli: Cli) -> tuple[int, list[str]]:
    code, result, _ = cli.json("status", "--check")
    return code, result.get("needs_attention", [])


def runs(cli: Cli, times: int, *args: str, **env: str) -> list[int]:
    return [cli.run(*args, **env).returncode for _ in range(times)]


def test_point1_wrong_secret_alerts_once_repeats_once_per_period_and_says_back_to_normal(cli, hook, popups, tmp_path):
    cli.env["MAORDERS_ALERT_URLS"] = hook.url
    assert runs(cli, 3, "pull-orders", MEGAPTEKA_SECRET="not-the-secret") == [69, 69, 69]

    [alert] = hook.failures()
    assert "pull-orders (megapteka) failed (exit 69)" in alert and "What to do" in alert
    assert "not-the-secret" not in alert
    code, reasons = check(cli)
    assert code == 1 and "last pull-orders exited 69" in reasons

    watched = cli.run("watch", "--once", "--target", popups.url, "--state-file", str(tmp_path / "w.json"))
    assert watched.returncode == 0, watched.stderr
    assert any("failed (exit 69)" in p["message"] for p in popups.accepted)

    shift(cli, "alerted_at", timedelta(hours=23))  # not yet a day: no repeat
    assert runs(cli, 1, "pull-orders", MEGAPTEKA_SECRET="not-the-secret") == [69]
    assert len(hook.failures()) == 1
    shift(cli, "alerted_at", timedelta(hours=2))  # now past MAORDERS_ALERT_REPEAT (24 h): one repeat
    assert runs(cli, 2, "pull-orders", MEGAPTEKA_SECRET="not-the-secret") == [69, 69]
    assert len(hook.failures()) == 2

    assert runs(cli, 2, "pull-orders") == [0, 0]
    [back] = hook.recoveries()
    assert "pull-orders (megapteka)" in back
    assert check(cli)[0] == 0
    assert len(hook.failures()) == 2


def test_point1_missing_setting_is_logged_alerted_once_and_shown_by_status(cli, hook):
    cli.env["MAORDERS_ALERT_URLS"] = hook.url
    assert runs(cli, 1, "pull-orders") == [0]
    assert runs(cli, 2, "pull-orders", MEGAPTEKA_DEPARTMENT="") == [78, 78]

    [alert] = hook.failures()
    assert "MEGAPTEKA_DEPARTMENT" in alert and "exit 78" in alert
    errors_log = Path(cli.env["MAORDERS_LOG_DIR"]) / "errors.log"
    assert "pull-orders exit 78; reason: MEGAPTEKA_DEPARTMENT" in errors_log.read_text(encoding="utf-8")
    code, status = cli.json("status", "--check", MEGAPTEKA_DEPARTMENT="")[:2]
    assert code == 1 and "last pull-orders exited 78" in status["needs_attention"]
    assert any("MEGAPTEKA_DEPARTMENT" in f["reason"] for f in status["failing"])

    assert runs(cli, 1, "pull-orders") == [0]
    assert len(hook.recoveries()) == 1 and check(cli)[0] == 0


def test_point1_a_78_before_any_journal_goes_to_errors_log_and_straight_to_the_alert_urls(cli, hook):
    cli.env["MAORDERS_ALERT_URLS"] = hook.url
    assert runs(cli, 2, "export-stock", MEGAPTEKA_DEPARTMENT="") == [78, 78]

    assert not cli.journal.exists()
    [alert] = hook.failures()
    assert "MEGAPTEKA_DEPARTMENT" in alert
    text = (Path(cli.env["MAORDERS_LOG_DIR"]) / "errors.log").read_text(encoding="utf-8")
    assert text.count("export-stock exit 78") == 2 and " ERROR " in text


def test_point1_missing_stock_file_alerts_once_then_back_to_normal(cli, hook):
    cli.env["MAORDERS_ALERT_URLS"] = hook.url
    missing = str(cli.workdir / "missing.csv")
    assert runs(cli, 2, "export-stock", MEGAPTEKA_STOCK_FILE=missing) == [65, 65]
    [alert] = hook.failures()
    assert "export-stock (megapteka) failed (exit 65)" in alert and "missing.csv" in alert
    assert check(cli)[0] == 1
    assert runs(cli, 1, "export-stock") == [0]
    assert len(hook.recoveries()) == 1 and check(cli)[0] == 0


def test_point1_service_down_alerts_only_past_the_threshold(cli, hook):
    from test_cli_contract import closed_port_url

    cli.env["MAORDERS_ALERT_URLS"] = hook.url
    down = {"MEGAPTEKA_URL": closed_port_url(), "MAORDERS_HTTP_RETRIES": "0"}
    assert runs(cli, 2, "pull-orders", **down) == [75, 75]
    assert hook.failures() == []  # a blip is nobody's job yet
    assert check(cli)[0] == 1  # but status --check tells whoever looks

    shift(cli, "since", timedelta(minutes=61))  # MAORDERS_ALERT_AFTER defaults to 60
    assert runs(cli, 2, "pull-orders", **down) == [75, 75]
    [alert] = hook.failures()
    assert "exit 75" in alert and "failing since" in alert

    assert runs(cli, 1, "pull-orders") == [0]
    assert len(hook.recoveries()) == 1


def test_point1_alert_after_zero_alerts_a_75_at_once_and_ack_silences_status(cli, hook):
    from test_cli_contract import closed_port_url

    cli.env |= {"MAORDERS_ALERT_URLS": hook.url, "MAORDERS_ALERT_AFTER": "0"}
    assert runs(cli, 1, "pull-orders", MEGAPTEKA_URL=closed_port_url(), MAORDERS_HTTP_RETRIES="0") == [75]
    assert len(hook.failures()) == 1
    assert check(cli)[0] == 1
    assert cli.run("status", "--ack").returncode == 0
    assert check(cli)[0] == 0
    shift(cli, "alerted_at", timedelta(hours=25))  # acknowledged: no repeat, however long it lasts
    assert runs(cli, 1, "pull-orders", MEGAPTEKA_URL=closed_port_url(), MAORDERS_HTTP_RETRIES="0") == [75]
    assert len(hook.failures()) == 1 and check(cli)[0] == 0
    assert runs(cli, 1, "pull-orders", MEGAPTEKA_SECRET="not-the-secret") == [69]  # a new, different failure
    assert len(hook.failures()) == 2 and check(cli)[0] == 1


def test_point1_the_health_ping_carries_the_reason(cli, httpserver):
    bodies: list[str] = []

    def handle(request: Request) -> Response:
        bodies.append(request.get_data(as_text=True))
        return Response("OK")

    httpserver.expect_request("/ping/key-123456789012/pull-orders/69", method="POST").respond_with_handler(handle)
    httpserver.expect_request("/ping/key-123456789012/pull-orders/start", method="POST").respond_with_data("OK")
    url = httpserver.url_for("/ping/key-123456789012/{pass}").replace("%7B", "{").replace("%7D", "}")
    assert runs(cli, 1, "pull-orders", MEGAPTEKA_SECRET="not-the-secret", MAORDERS_HEALTHCHECK_URL=url) == [69]
    [body] = bodies
    assert body.startswith("pull-orders exit 69; reason: megapteka:") and "nothing to do" not in body


def test_point1_an_unreadable_settings_file_still_reaches_errors_log_and_the_alert_urls(cli, hook):
    folder = cli.workdir / "settings-folder"
    folder.mkdir()
    cli.env["MAORDERS_ALERT_URLS"] = hook.url  # in the real environment: readable without the file
    done = cli.run("--env-file", str(folder), "pull-orders")
    assert done.returncode == 78, done.stderr
    assert len(hook.failures()) == 1
    text = (Path(cli.env["MAORDERS_LOG_DIR"]) / "errors.log").read_text(encoding="utf-8")
    assert "pull-orders exit 78; reason: env file" in text
