"""Issue 17 point 8: the fleet flows' decision (run again, fail, the reason) is one plain function
both flows share (scripts/fleet/maorders_fleet.py), tested here without an orchestrator against the
installed `maorders`: `--json` gives one top-level `reason` for any non-zero exit, a wrong key's
refusal reaches the orchestrator's log, 75 and a pass hung past its timeout are run again."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from werkzeug import Request, Response

from conftest import MAORDERS, Cli
from test_cli_contract import closed_port_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts" / "fleet"))
from maorders_fleet import decide, run_maorders  # noqa: E402


def env_file(cli: Cli, **changes: str) -> Path:
    """The account's settings file, as the fleet keeps one per account."""
    values = {k: v for k, v in cli.env.items() if k.startswith(("MAORDERS_", "MEGAPTEKA_"))} | changes
    values.pop("MAORDERS_ENV_FILE", None)
    path = cli.workdir / "account.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("MAORDERS_ENV_FILE", "MAORDERS_JOURNAL", "MAORDERS_LOG_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_point8_a_wrong_key_fails_at_once_with_the_services_reason(cli):
    decision = run_maorders(MAORDERS, env_file(cli, MEGAPTEKA_SECRET="not-the-secret"), "pull-orders", 60)
    assert (decision.outcome, decision.code) == ("fail", 69)
    assert decision.reason.startswith("megapteka: ") and "see the log" not in decision.reason
    assert decision.reason in decision.line("shop-a", "pull-orders")


def test_point8_a_missing_setting_fails_with_its_name(cli):
    decision = run_maorders(MAORDERS, env_file(cli, MEGAPTEKA_DEPARTMENT=""), "pull-orders", 60)
    assert (decision.outcome, decision.code) == ("fail", 78) and "MEGAPTEKA_DEPARTMENT" in decision.reason


def test_point8_a_service_down_is_run_again_later(cli):
    decision = run_maorders(MAORDERS, env_file(cli, MEGAPTEKA_URL=closed_port_url(), MAORDERS_HTTP_RETRIES="0"),
                            "pull-orders", 60)
    assert (decision.outcome, decision.code) == ("retry", 75) and decision.reason


def test_point8_a_pass_hung_past_its_timeout_is_run_again_like_a_75(cli, httpserver):
    release = threading.Event()

    def hanging(request: Request) -> Response:
        release.wait(30)
        return Response("{}", status=503)

    httpserver.expect_request("/v1/auth/token", method="POST").respond_with_handler(hanging)
    try:
        decision = run_maorders(MAORDERS, env_file(cli, MEGAPTEKA_URL=httpserver.url_for("/v1")), "pull-orders", 3)
    finally:
        release.set()
    assert (decision.outcome, decision.code) == ("retry", None) and "did not finish within 3 s" in decision.reason


def test_point8_success_and_output_without_json():
    assert decide(0, '{"exit_code": 0, "connectors": {}}\n').outcome == "ok"
    assert decide(69, "").reason == "exit 69: see the maorders log"
    assert decide(1, "not json\n").outcome == "fail"
