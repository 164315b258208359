"""Issue 9 through the installed `maorders`: staff alerts (a local webhook and a local SMTP
server), the desktop watcher (to a `json://` target), health pings and the metrics file.

A new order on the MegApteka emulator makes a notification; everything else is the real
CLI as a subprocess against real local servers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
from email import message_from_bytes
from email.policy import default as email_policy
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

from conftest import Cli, order_line, wait_dead

PHONE, EMAIL = "+7 999 000-11-22", "a.ivanova@example.com"


# -- local receivers ----------------------------------------------------------------------------
class Hook:
    """A `json://` webhook (pytest-httpserver): records accepted alerts; can fail or kill the CLI."""

    def __init__(self, server: Any):
        self.server = server
        self.accepted: list[dict[str, Any]] = []
        self.refusing = False
        self.kill_pid: int | None = None  # SIGKILL this process on the next request, not accepting it
        server.expect_request("/hook", method="POST").respond_with_handler(self.handle)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.port}/hook"

    def handle(self, request: Request) -> Response:
        if self.kill_pid is not None:
            pid, self.kill_pid = self.kill_pid, None
            os.kill(pid, signal.SIGKILL)
            wait_dead(pid)
            return Response("killed", status=500)
        if self.refusing:
            return Response("down for maintenance", status=503)
        self.accepted.append(json.loads(request.get_data()))
        return Response("{}", status=200, content_type="application/json")

    def numbers(self) -> list[str]:
        """The notification number (#N) of every accepted alert, in order."""
        return [_number(item["message"]) for item in self.accepted]


class Mailbox:
    """A local SMTP server (aiosmtpd) for `mailto://`."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.messages.append(message_from_bytes(envelope.content, policy=email_policy))
                return "250 OK"

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def url(self) -> str:
        return (f"mailto://localhost:{self.port}/?to=staff@example.com&from=maorders@example.com"
                "&mode=insecure")

    def numbers(self) -> list[str]:
        return [_number(m.get_body(("plain", "html")).get_content()) for m in self.messages]

    def stop(self) -> None:
        self.controller.stop()


def _number(text: str) -> str:
    return next(word for word in text.split() if word.startswith("#"))


@pytest.fixture
def hook(httpserver) -> Hook:
    return Hook(httpserver)


@pytest.fixture
def mailbox():
    box = Mailbox()
    yield box
    box.stop()


# -- helpers ---------------------------------------------------------------------------------------
def orders(cli: Cli, megapteka: Any, n: int) -> None:
    for k in range(n):
        megapteka[1].add_order([order_line("A-1001", "4601234567890", 1)])


def ok(cli: Cli, *args: str, **env: str) -> dict[str, Any]:
    code, result, stderr = cli.json(*args, **env)
    assert code == 0, (result, stderr)
    return result


def notification_ids(cli: Cli) -> list[str]:
    with sqlite3.connect(cli.journal) as db:
        return [f"#{n}" for (n,) in db.execute("SELECT id FROM notifications ORDER BY id")]


def alert_states(cli: Cli) -> dict[str, int]:
    with sqlite3.connect(cli.journal) as db:
        return dict(db.execute("SELECT state, COUNT(*) FROM outbox WHERE connector = 'maorders' "
                               "AND kind = 'alert' GROUP BY state").fetchall())


# -- alerts ----------------------------------------------------------------------------------------
def test_each_notification_is_alerted_once_through_every_channel(cli, megapteka, hook, mailbox):
    cli.env["MAORDERS_ALERT_URLS"] = f"{hook.url} {mailbox.url}"
    orders(cli, megapteka, 2)
    result = ok(cli, "pull-orders")
    assert result["alerts"] == {"sent": 2, "retry": 0, "failed": 0}
    ok(cli, "push-statuses")
    expected = notification_ids(cli)
    assert len(expected) == 2
    assert hook.numbers() == expected and mailbox.numbers() == expected
    assert alert_states(cli) == {"sent": 2}
    title = hook.accepted[0]["title"]
    assert "megapteka" in title and socket.gethostname() in title


def test_a_failing_channel_is_retried_next_run_and_never_fails_the_pass(cli, megapteka, hook, mailbox):
    cli.env["MAORDERS_ALERT_URLS"] = f"{mailbox.url},{hook.url}"
    hook.refusing = True
    orders(cli, megapteka, 2)
    result = ok(cli, "pull-orders")
    assert result["alerts"] == {"sent": 0, "retry": 2, "failed": 0}
    assert len(mailbox.messages) == 2 and hook.accepted == []  # the mail went; the webhook waits
    listed = ok(cli, "alerts", "list", "--failed")["alerts"]
    assert {a["state"] for a in listed} == {"retry"} and "channel 2 (json)" in listed[0]["last_error"]
    ok(cli, "expire-bookings")  # still down: tried again, the pass is still fine
    assert hook.accepted == [] and len(mailbox.messages) == 2
    hook.refusing = False
    ok(cli, "push-statuses")
    assert hook.numbers() == notification_ids(cli) == mailbox.numbers()
    assert alert_states(cli) == {"sent": 2}


def test_kill_and_rerun_never_doubles_an_alert(cli, megapteka, hook, mailbox):
    """Killed while the webhook is being called, after the mail went and was written down."""
    cli.env["MAORDERS_ALERT_URLS"] = f"{mailbox.url} {hook.url}"
    orders(cli, megapteka, 2)
    process = cli.popen("pull-orders")
    hook.kill_pid = process.pid
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert alert_states(cli).get("unknown") == 1  # in flight when killed
    ok(cli, "pull-orders")
    expected = notification_ids(cli)
    assert len(expected) == 2
    assert mailbox.numbers() == expected and hook.numbers() == expected
    assert alert_states(cli) == {"sent": 2}


def test_one_pass_at_a_time_delivers_alerts(cli, megapteka, hook):
    """Passes of different kinds run at once; only the one holding the alerts lock sends."""
    from filelock import FileLock

    cli.env["MAORDERS_ALERT_URLS"] = hook.url
    orders(cli, megapteka, 1)
    with FileLock(str(cli.journal.parent / "locks" / "journal.alerts.lock")):  # another pass delivering
        result = ok(cli, "pull-orders")
    assert "alerts" not in result and hook.accepted == [] and alert_states(cli) == {"pending": 1}
    ok(cli, "expire-bookings")
    assert hook.numbers() == notification_ids(cli)


def test_no_secret_phone_or_email_in_any_alert(cli, megapteka, hook, mailbox):
    from maorders.journal import Journal

    cli.env["MAORDERS_ALERT_URLS"] = f"{hook.url} {mailbox.url}"
    orders(cli, megapteka, 1)
    ok(cli, "pull-orders")
    journal = Journal.open(cli.journal)
    journal.alert_level = "all"
    with journal.write() as db:
        journal.notify(db, "megapteka", "x-1", "test", f"Клиент просил перезвонить {PHONE}, {EMAIL}; "
                       "ключ s3cret в логе", problem=True)
    journal.close()
    ok(cli, "push-statuses")
    texts = [json.dumps(item, ensure_ascii=False) for item in hook.accepted]
    texts += [m.as_string() for m in mailbox.messages]
    assert len(hook.accepted) == 2 and len(mailbox.messages) == 2
    assert "***" in texts[1]
    for text in texts:
        for secret in ("s3cret", "999 000-11-22", "+79990001122", EMAIL, "Иванова"):
            assert secret not in text


def test_alerts_test_reaches_every_channel_and_says_which_failed(cli, hook, mailbox):
    cli.env["MAORDERS_ALERT_URLS"] = f"{hook.url} {mailbox.url}"
    result = ok(cli, "alerts", "test", MAORDERS_LANG="en")
    assert [c["ok"] for c in result["channels"]] == [True, True]
    assert hook.accepted[0]["title"] == "maorders: test alert" and len(mailbox.messages) == 1
    hook.refusing = True
    code, result, _ = cli.json("alerts", "test")
    assert code == 69 and [c["ok"] for c in result["channels"]] == [False, True]
    assert not cli.journal.exists()  # a test message touches no journal
    code, result, _ = cli.json("alerts", "test", MAORDERS_ALERT_URLS="")
    assert code == 78 and "MAORDERS_ALERT_URLS" in result["error"]


def test_level_problems_alerts_only_what_needs_a_person(cli, hook):
    from maorders.journal import Journal

    cli.env |= {"MAORDERS_ALERT_URLS": hook.url, "MAORDERS_ALERT_LEVEL": "problems"}
    ok(cli, "status")  # the journal with every table
    journal = Journal.open(cli.journal)
    journal.alert_level = "problems"
    with journal.write() as db:
        journal.notify(db, "megapteka", "1", "received", "Новый заказ", problem=False)
        journal.notify(db, "megapteka", "2", "rejected", "Заказ не принят", problem=True)
    journal.close()
    ok(cli, "expire-bookings")
    assert [a["message"].split("\n")[0] for a in hook.accepted] == ["Заказ не принят"]


def test_level_problems_through_a_pharmacy_day(cli, megapteka, hook):
    """A full booking is news; a part booking waits for a person, and so does an expired one."""
    cli.env |= {"MAORDERS_ALERT_URLS": hook.url, "MAORDERS_ALERT_LEVEL": "problems"}
    ok(cli, "export-stock")
    full = megapteka[1].add_order([order_line("A-1001", "4601234567890", 1)])
    part = megapteka[1].add_order([order_line("A-1002", "4602345678901", 9)])
    ok(cli, "pull-orders")
    ok(cli, "expire-bookings", MAORDERS_ALERT_LEVEL="problems", MEGAPTEKA_BOOKING_TTL_HOURS="0")
    texts = [a["message"] for a in hook.accepted]
    assert len(texts) == 3 and not any(full["number"] in t and "deleted" not in t for t in texts)
    assert sum(part["number"] in t for t in texts) == 2 and sum("deleted" in t for t in texts) == 2


# -- the desktop watcher ----------------------------------------------------------------------------------
def test_watch_once_shows_each_new_notification_once_read_only(cli, megapteka, hook, tmp_path):
    state = {"XDG_STATE_HOME": str(tmp_path / "state")}
    watch = ("--journal", str(cli.journal), "watch", "--once", "--target", hook.url)
    ok(cli, "expire-bookings")
    assert ok(cli, *watch, **state)["shown"] == 0  # a first start with no backlog: from here on
    orders(cli, megapteka, 2)
    ok(cli, "pull-orders")
    before = cli.journal.read_bytes()
    os.chmod(cli.journal, 0o444)  # a reader needs no write access
    try:
        assert ok(cli, *watch, **state)["shown"] == 2
        assert ok(cli, *watch, **state)["shown"] == 0
    finally:
        os.chmod(cli.journal, 0o600)
    assert cli.journal.read_bytes() == before
    assert not list((cli.journal.parent / "locks").glob("*watch*"))
    assert hook.numbers() == notification_ids(cli)
    assert (tmp_path / "state" / "maorders" / "watch.json").is_file()
    hook.refusing = True
    orders(cli, megapteka, 1)
    ok(cli, "pull-orders")
    code, result, _ = cli.json(*watch, **state)
    assert code == 75 and result["failed"] == 1
    hook.refusing = False
    assert ok(cli, *watch, **state)["shown"] == 1
    assert hook.numbers() == notification_ids(cli)


# -- health pings ----------------------------------------------------------------------------------
class Pings:
    def __init__(self, server: Any):
        self.seen: list[tuple[str, str, str]] = []
        server.expect_request("/ping/key-123456789012/expire-bookings/start", method="POST").respond_with_handler(self.handle)
        for code in ("0", "75", "1"):
            server.expect_request(f"/ping/key-123456789012/expire-bookings/{code}",
                                  method="POST").respond_with_handler(self.handle)
        self.url = f"http://127.0.0.1:{server.port}/ping/key-123456789012/{{pass}}"

    def handle(self, request: Request) -> Response:
        self.seen.append((request.path.rsplit("/", 1)[1], request.args.get("rid", ""),
                          request.get_data(as_text=True)))
        return Response("OK")


def test_health_pings_start_then_the_exit_code(cli, megapteka, httpserver):
    pings = Pings(httpserver)
    cli.env["MAORDERS_HEALTHCHECK_URL"] = pings.url
    ok(cli, "expire-bookings")
    (start, start_rid, _), (end, end_rid, body) = pings.seen
    assert (start, end) == ("start", "0") and start_rid == end_rid != ""
    assert body.startswith("expire-bookings exit 0")
    megapteka[0].stop()  # expire-bookings needs no site; a busy lock makes 75 without a start
    from filelock import FileLock

    lock = FileLock(str(cli.journal.parent / "locks" / "journal.expire-bookings.lock"))
    with lock:
        code, _, _ = cli.json("expire-bookings")
    assert code == 75
    assert pings.seen[2][0] == "75" and pings.seen[2][1] == ""
    assert "s3cret" not in json.dumps(pings.seen)


def test_a_dead_or_silent_ping_server_never_fails_the_pass(cli):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # connects, never answers: the read timeout ends it
    try:
        ok(cli, "expire-bookings", MAORDERS_HEALTHCHECK_URL=f"http://127.0.0.1:{silent.getsockname()[1]}/p")
    finally:
        silent.close()
    assert "health ping /start not delivered" in cli.log_text()


# -- metrics ----------------------------------------------------------------------------------------
def metrics(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    values = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            labels = dict(sample.labels)
            assert labels.pop("journal") == str(path.parent.parent / "journal.db")  # one series per install
            values[(sample.name, tuple(sorted(labels.items())))] = sample.value
    return values


def test_metrics_file_has_every_pass_and_what_waits(cli, megapteka, tmp_path):
    path = tmp_path / "textfile" / "maorders.prom"
    cli.env["MAORDERS_METRICS_FILE"] = str(path)
    ok(cli, "export-stock")
    for sku, barcode in (("A-1002", "4602345678901"), ("A-1004", "")):  # both booked in part: a person asks
        megapteka[1].add_order([order_line(sku, barcode, 50)])
    ok(cli, "pull-orders")
    values = metrics(path)
    assert values[("maorders_pass_last_exit_code", (("pass", "pull-orders"),))] == 0
    assert values[("maorders_outbox_pending_items", (("connector", "megapteka"),))] == 2  # status 1 each
    assert values[("maorders_notifications_need_person", (("connector", "megapteka"),))] == 2
    start = values[("maorders_pass_last_start_timestamp_seconds", (("pass", "pull-orders"),))]
    end = values[("maorders_pass_last_end_timestamp_seconds", (("pass", "pull-orders"),))]
    assert end >= start and values[("maorders_pass_last_duration_seconds", (("pass", "pull-orders"),))] >= 0
    assert ("maorders_pass_last_exit_code", (("pass", "push-statuses"),)) not in values  # never ran
    assert values[("maorders_pass_last_exit_code", (("pass", "export-stock"),))] == 0
    megapteka[0].stop()
    code, _, _ = cli.json("push-statuses")
    assert code == 75
    values = metrics(path)
    assert values[("maorders_pass_last_exit_code", (("pass", "push-statuses"),))] == 75
    assert values[("maorders_pass_last_exit_code", (("pass", "pull-orders"),))] == 0  # kept, from the journal
    assert values[("maorders_outbox_pending_items", (("connector", "megapteka"),))] == 2
    ok(cli, "status", "--ack")
    ok(cli, "expire-bookings")
    assert metrics(path)[("maorders_notifications_need_person", (("connector", "megapteka"),))] == 0
    assert not list(path.parent.glob("*.tmp*")) and len(list(path.parent.iterdir())) == 1


# -- doctor ------------------------------------------------------------------------------------------
def test_doctor_checks_warn_about_files_others_can_read_and_unusable_urls(tmp_path):
    from maorders.operations import doctor_checks
    from maorders.settings import General, Settings

    env_file, journal = tmp_path / "maorders.env", tmp_path / "journal.db"
    env_file.write_text("MAORDERS_ALERT_URLS=nonsense://x\n")
    journal.write_bytes(b"")
    os.chmod(env_file, 0o644)
    os.chmod(journal, 0o600)
    general = General(journal=journal, log_dir=tmp_path, http_timeout=5, http_retries=1, pass_budget=60,
                      alert_urls=("nonsense://x", "json://127.0.0.1:9/hook"))
    checks = {c["check"]: c for c in doctor_checks(Settings(general), env_file)}
    assert not checks["settings file access"]["ok"] and checks["settings file access"]["exit_code"] == 78
    assert checks["journal access"]["ok"]
    assert not checks["alerts channel 1 (nonsense)"]["ok"] and checks["alerts channel 2 (json)"]["ok"]
    os.chmod(env_file, 0o600)
    assert {c["check"]: c for c in doctor_checks(Settings(general), env_file)}["settings file access"]["ok"]


def test_ping_urls_and_retry_delays():
    from datetime import timedelta

    from maorders.alerts import retry_delay
    from maorders.operations import ping_url

    assert ping_url("https://hc-ping.com/KEY/{pass}", "pull-orders", "start", "r1") == \
        "https://hc-ping.com/KEY/pull-orders/start?rid=r1"
    assert ping_url("https://hc.example.com/ping/uuid/?create=1", "x", "75") == \
        "https://hc.example.com/ping/uuid/75?create=1"
    assert [retry_delay(n) for n in (1, 2, 3)] == [None, None, None]  # the next runs
    assert [retry_delay(n) for n in (4, 5, 9, 50)] == [timedelta(minutes=m) for m in (2, 4, 60, 60)]
