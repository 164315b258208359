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
    done = Cli(tmp_path, env).run("status")
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
        assert "running" in cli.run("status").stderr
    finally:
        release.set()
        running.communicate(timeout=60)
    code, result, _ = cli.json("status")
    run = next(r for r in result["last_runs"] if r["command"] == "pull-orders")
    assert run["finished_at"] is not None and "running" not in run
