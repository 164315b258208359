"""Issue 17 point 7 through the installed `maorders`: `status` shows only the configured connectors;
with no settings at all it says so and creates no folders; a pass running now shows as running."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from werkzeug import Request, Response

from conftest import Cli, base_env


def test_point7_status_shows_only_configured_connectors(courier_cli):
    assert courier_cli.run("pull-orders").returncode == 0
    code, result, _ = courier_cli.json("status")
    assert code == 0 and list(result["connectors"]) == ["courier"]


def test_point7_status_without_any_settings_says_so_and_creates_nothing(tmp_path):
    (tmp_path / "none.env").write_text("", encoding="utf-8")
    env = base_env(tmp_path) | {"MAORDERS_JOURNAL": str(tmp_path / "data" / "journal.db"),
                                "MAORDERS_LOG_DIR": str(tmp_path / "data" / "logs")}
    done = Cli(tmp_path, env).run("status", MAORDERS_LANG="en")
    assert done.returncode == 78
    assert "nothing is configured" in done.stderr
    assert not (tmp_path / "data").exists()


def test_point7_a_pass_running_now_shows_as_running(cli, httpserver):
    release, arrived = threading.Event(), threading.Event()

    def hanging(request: Request) -> Response:  # the service holds the pass until told
        arrived.set()
        release.wait(30)
        return Response("{}", status=503)

    httpserver.expect_request("/v1/auth/token", method="POST").respond_with_handler(hanging)
    cli.run("pull-orders")  # the journal exists, and a finished run of the pass
    running = cli.popen("pull-orders", MEGAPTEKA_URL=httpserver.url_for("/v1"), MAORDERS_HTTP_RETRIES="0")
    try:
        assert arrived.wait(30), "the pass never called the service"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            code, result, _ = cli.json("status")
            run = next(r for r in result["last_runs"] if r["command"] == "pull-orders")
            if run["finished_at"] is None:
                break
        assert run["finished_at"] is None and run["running"] is True
        assert "running" in cli.run("status", MAORDERS_LANG="en").stdout  # a result: on stdout
    finally:
        release.set()
        running.communicate(timeout=60)
    code, result, _ = cli.json("status")
    run = next(r for r in result["last_runs"] if r["command"] == "pull-orders")
    assert run["finished_at"] is not None and "running" not in run


def test_acknowledge_given_notifications_marks_only_those_seen(tmp_path):
    """The desk's "done" on one item: only that notification is seen; refused sends, failing passes
    and the other notifications still need a person. Without ids, everything is acknowledged."""
    from maorders import connectors, failures, health
    from maorders.journal import Journal

    journal = Journal.open(tmp_path / "journal.db", [failures.MIGRATIONS, *connectors.migrations()])
    try:
        with journal.write() as db:
            for subject in ("A-1", "A-2", "A-3"):
                journal.notify(db, "megapteka", subject, "new_order", f"order {subject}")
            journal.enqueue(db, "megapteka", "status", "B-1", {"status": 5})
            db.execute("UPDATE outbox SET state = 'failed'")
        first, second, third = sorted(n["id"] for n in journal.notifications())
        assert health.acknowledge(journal, [second]) == 0
        assert sorted(n["id"] for n in journal.notifications()) == [first, third]
        assert journal.value("SELECT COUNT(*) FROM outbox WHERE state = 'failed'") == 1
        assert health.acknowledge(journal) == 1
        assert journal.notifications() == []
        assert journal.value("SELECT COUNT(*) FROM outbox WHERE state = 'failed'") == 0
    finally:
        journal.close()


def test_doctor_ok_column_reads_yes_and_no_in_the_staff_language(cli):
    """Issue 18 point 1: doctor's table is in Russian by default, «да»/«нет» in its ok column."""
    russian = cli.run("doctor", MAORDERS_LANG="ru", MEGAPTEKA_SECRET="")
    english = cli.run("doctor", MAORDERS_LANG="en", MEGAPTEKA_SECRET="")
    rows = [line.split("\t") for line in russian.stdout.splitlines()[2:]]
    assert {row[1] for row in rows} >= {"да", "нет"}, russian.stdout
    assert {line.split("\t")[1] for line in english.stdout.splitlines()[2:]} >= {"yes", "no"}, english.stdout
    assert "\tNO\t" not in russian.stdout + english.stdout


def test_status_shows_times_in_the_staff_zone_and_form(cli):
    """Issue 18 point 2: `status` under TZ=Europe/Moscow shows a run that started 08:41 UTC as
    `06.12.2026 11:41` (Russian, the default), never the journal's ISO UTC; --json keeps ISO UTC."""
    import sqlite3

    assert cli.run("export-stock").returncode == 0
    with sqlite3.connect(cli.journal) as db:
        db.execute("UPDATE runs SET started_at = '2026-12-06T08:41:06+00:00'")
    shown = cli.run("status", TZ="Europe/Moscow", MAORDERS_LANG="ru")
    assert shown.returncode == 0, shown.stderr
    assert "06.12.2026 11:41" in shown.stdout and "2026-12-06T08:41" not in shown.stdout, shown.stdout
    _code, result, _err = cli.json("status", TZ="Europe/Moscow")
    assert any(r["started_at"] == "2026-12-06T08:41:06+00:00" for r in result["last_runs"] if r)


def test_status_shows_the_outbox_and_the_activity_in_the_staffs_words(cli, megapteka):
    """Issue 18 point 1: an outbox item's state and a pass in the recent activity read in Russian
    (`в очереди`, `(проход)`), while --json keeps the journal's `pending` and no user for a pass."""
    from conftest import order_line

    _server, site = megapteka
    site.add_order([order_line("A-1001", "4601234567890", 1)])
    assert cli.run("export-stock").returncode == 0
    assert cli.run("pull-orders").returncode == 0  # status 1 queued, not sent yet
    shown = cli.run("status", MAORDERS_LANG="ru").stdout
    assert "\tв очереди\t" in shown and "pending" not in shown, shown
    assert "\t(проход)\tpull-orders\t" in shown and "(pass)" not in shown, shown
    _code, result, _err = cli.json("status")
    assert {"connector": "megapteka", "kind": "status", "state": "pending", "n": 1} in result["outbox"]
    assert {(a["user"], a["action"]) for a in result["activity"]} >= {(None, "pull-orders")}
