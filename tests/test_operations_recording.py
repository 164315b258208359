"""Issue 16 through the installed `maorders`: point 1 (alerts part) — an alert a channel accepted is
written down even when the pass's budget ran out meanwhile, and never sent again; point 3 (runner
part) — a retryable wire error that escapes a connector's retry is exit 75, never 1."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from typing import Any

from werkzeug import Request, Response



def test_issue16_point1_an_alert_accepted_past_the_budget_is_recorded_and_not_sent_again(cli, httpserver):
    accepted: list[dict[str, Any]] = []

    def slow_channel(request: Request) -> Response:
        # the channel answers 2.2 s after the alert began, inside Apprise's 3 s read timeout: the
        # pass's 2 s budget (it began before the alert) is spent by then
        threading.Event().wait(2.2)
        accepted.append(json.loads(request.get_data()))
        return Response("{}", status=200, content_type="application/json")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(slow_channel)
    cli.env["MAORDERS_ALERT_URLS"] = f"json://127.0.0.1:{httpserver.port}/hook"

    # a wrong secret: one quick refusal, then the failure's alert (issue 17)
    done = cli.run("pull-orders", MEGAPTEKA_SECRET="not-the-secret", MAORDERS_PASS_BUDGET="2")
    assert done.returncode == 69, done.stderr
    assert len(accepted) == 1
    with sqlite3.connect(cli.journal) as db:
        assert db.execute("SELECT state FROM outbox WHERE connector = 'maorders'").fetchall() == [("sent",)]
    assert cli.run("expire-bookings").returncode == 0  # the next pass delivers what is due
    assert len(accepted) == 1  # not sent again


def test_issue16_point3_a_stray_retryable_is_75_not_1(courier_cli, httpserver):
    # a RetailCRM that answers every call "success" and nothing else: the shape checks made after the
    # call raise the wire's Retryable outside its retry
    httpserver.expect_request(re.compile(".*")).respond_with_json({"success": True})
    done = courier_cli.run("--json", "pull-orders", "--only", "courier",
                           RETAILCRM_URL=httpserver.url_for("/").rstrip("/"))
    assert done.returncode == 75, (done.stdout, done.stderr)
    result = json.loads(done.stdout)
    assert "internal error" not in done.stderr and result["reason"].startswith("courier:")
    assert "Traceback" not in courier_cli.log_text()
