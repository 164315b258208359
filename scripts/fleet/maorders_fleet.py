"""What both fleet flows (airflow_maorders.py, prefect_maorders.py) decide about one maorders run,
as plain functions tested without an orchestrator (tests/test_fleet_decision.py).

    decision = run_maorders("/usr/local/bin/maorders", env_file, "pull-orders", timeout_s=8 * 60)
    decision.outcome   # "ok", "retry" (exit 75, or the run hung past its timeout) or "fail" (a person must act)
    decision.reason    # one line: maorders' own `reason` ("megapteka: 403 Wrong "apiKey" value"), for the log

Keep this file beside the flow that imports it (the Airflow dags folder; the Prefect deployment's folder).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_AGAIN_LATER = 75  # CONTRACT.md: the network, the remote, or the same pass already running


@dataclass(frozen=True)
class Decision:
    outcome: str  # ok | retry | fail
    code: int | None  # maorders' exit code; None when it was stopped at the timeout
    reason: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    def line(self, account: str, command: str) -> str:
        """What the orchestrator logs."""
        code = "timed out" if self.code is None else f"exited {self.code}"
        return f"{account} {command} {code}: {self.reason}" if self.outcome != "ok" else f"{account} {command}: ok"


def decide(returncode: int, stdout: str) -> Decision:
    """From maorders' exit code and its `--json` line: run again later (75), fail (any other
    non-zero code: 69 credentials, 78 settings, 65 input, 1 a bug), or done."""
    summary = last_json(stdout)
    if returncode == 0:
        return Decision("ok", 0, "", summary)
    reason = str(summary.get("reason") or summary.get("error") or _first_error(summary)
                 or f"exit {returncode}: see the maorders log")
    return Decision("retry" if returncode == RUN_AGAIN_LATER else "fail", returncode, reason, summary)


def run_maorders(maorders: str, env_file: Path, command: str, timeout_s: float) -> Decision:
    """One pass as a subprocess. A pass that hangs past `timeout_s` is stopped and retried like a
    75 (maorders' own lock and journal make a rerun safe at any instant)."""
    try:
        done = subprocess.run([maorders, "--env-file", str(env_file), "--json", "-q", command],
                              capture_output=True, text=True, encoding="utf-8", timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return Decision("retry", None, f"did not finish within {timeout_s:g} s; stopped, to be run again")
    return decide(done.returncode, done.stdout)


def last_json(stdout: str) -> dict[str, Any]:
    for line in reversed([line for line in (stdout or "").splitlines() if line.strip()]):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def _first_error(summary: dict[str, Any]) -> str:
    for name, result in (summary.get("connectors") or {}).items():
        if isinstance(result, dict) and result.get("errors"):
            return f"{name}: {result['errors'][0]}"
    return ""
