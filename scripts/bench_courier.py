"""Courier benchmark: orders CRM → MeaSoft and status changes back, through the real CLI.

RetailCRM allows 10 requests a second (per IP), so the CRM calls a job needs set the least
time it can take: calls / 10 seconds. The MeaSoft emulator enforces MeaSoft's fair usage (150
requests a minute, 1,500 in 20 minutes, or the IP is blocked); the most MeaSoft requests it
saw in any 60 s is reported. This moves N orders from the RetailCRM emulator to the
MeaSoft emulator (`maorders pull-orders`) and N status changes back (`maorders
push-statuses`), with the CRM emulator's own 10 rps limit on, counts the CRM calls on the
emulator, and compares the wall time (interpreter start included) with calls / 10 s. The
issue's limit: at most 1.15 times that, for the whole run.

    python scripts/bench_courier.py            # 500 orders, ~2 minutes
    python scripts/bench_courier.py --small    # ~30 orders, a smoke run
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_rows import clean_environment  # scripts/ is on the path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from courier.emulator import serve_measoft, serve_retailcrm  # noqa: E402

LIMIT = 1.15
CRM_RPS = 10
MAORDERS = shutil.which("maorders", path=str(Path(sys.executable).parent)) or shutil.which("maorders")


def courier_benchmark(small: bool) -> list[dict[str, Any]]:
    """Rows: metric, maorders, baseline, ratio, limit, ok."""
    n = 30 if small else 500
    measoft_server, measoft = serve_measoft()
    crm_server, crm = serve_retailcrm()
    workdir = Path(tempfile.mkdtemp(prefix="maorders-bench-courier-"))
    try:
        assert crm.rate_limit_rps == CRM_RPS
        env = _environment(workdir, measoft_server.url, crm_server.url)
        orders = [crm.create_order(status="SentMeaSoft") for _ in range(n)]
        pull = _phase(env, "pull-orders", crm)
        expected = _deliver(measoft, orders)
        push = _phase(env, "push-statuses", crm)
        _check(measoft, crm, orders, expected)
        return _rows(n, pull, push, crm, judged=not small) + _measoft_rows(measoft)
    finally:
        measoft_server.stop()
        crm_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _environment(workdir: Path, measoft_url: str, crm_url: str) -> dict[str, str]:
    return {**clean_environment(workdir),
            "RETAILCRM_URL": crm_url, "RETAILCRM_API_KEY": "crm-key", "RETAILCRM_SITE": "shop",
            "MEASOFT_URL": measoft_url, "MEASOFT_LOGIN": "test", "MEASOFT_PASSWORD": "testm", "MEASOFT_EXTRA": "8",
            "COURIER_DELIVERY_TYPES": "courier", "COURIER_COD_PAYMENT_TYPES": "cash,bank-card",
            "COURIER_STATUS_MAP": "COMPLETE=complete,RETURNED=returned,CANCELED=cancel-other",
            "COURIER_SYNC_PAYMENTS": "yes", "COURIER_PAYMENT_STATUS": "paid"}


def _phase(env: dict[str, str], command: str, crm: Any) -> dict[str, Any]:
    """One pass through the real CLI: wall time and the CRM calls it made."""
    before = crm.counters["requests"]
    started = time.perf_counter()
    done = subprocess.run([MAORDERS, "--json", command], env=env, capture_output=True, text=True,
                          encoding="utf-8", timeout=3600)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command} exited {done.returncode}: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    counts = json.loads(done.stdout)["connectors"]["courier"]["counts"]
    return {"seconds": seconds, "calls": crm.counters["requests"] - before, "counts": counts}


def _deliver(measoft: Any, orders: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    """One status change per order, as a courier's day ends: most delivered and paid in cash,
    every 5th paid by card at the door (the CRM payment is replaced), every 10th returned."""
    expected = {}
    for index, order in enumerate(orders):
        number = order["number"]
        if index % 10 == 9:
            measoft.set_status(number, "CANCELED")
            measoft.set_status(number, "RETURNED")
            expected[number] = ("returned", None)
        elif index % 5 == 4:
            measoft.set_status(number, "COMPLETE", paytype="CARD")
            expected[number] = ("complete", "bank-card")
        else:
            measoft.set_status(number, "COMPLETE")
            expected[number] = ("complete", "cash")
    return expected


def _check(measoft: Any, crm: Any, orders: list[dict[str, Any]], expected: dict[str, tuple[str, str | None]]) -> None:
    """The benchmark counts only a run that did the whole job right."""
    assert set(measoft.orders) == {o["number"] for o in orders}, "not every order reached MeaSoft"
    for order in orders:
        status, paid_by = expected[order["number"]]
        crm_order = crm.orders[order["id"]]
        assert crm_order["status"] == status, (order["number"], crm_order["status"])
        payments = [(p["type"], p["status"]) for p in crm_order["payments"].values()]
        assert payments == ([(paid_by, "paid")] if paid_by else [("cash", "not-paid")]), (order["number"], payments)


def _rows(n: int, pull: dict[str, Any], push: dict[str, Any], crm: Any, judged: bool) -> list[dict[str, Any]]:
    def timing(metric: str, seconds: float, calls: int, limit: float | None) -> dict[str, Any]:
        allowed = calls / CRM_RPS
        ratio = seconds / allowed if allowed else float("inf")
        return {"metric": metric, "maorders": round(seconds, 2), "baseline": round(allowed, 2),
                "ratio": round(ratio, 3), "limit": limit, "ok": limit is None or ratio <= limit}

    total_seconds, total_calls = pull["seconds"] + push["seconds"], pull["calls"] + push["calls"]
    return [
        timing(f"pull-orders: {n} orders CRM → MeaSoft, s (baseline: its {pull['calls']} CRM calls / 10 rps)",
               pull["seconds"], pull["calls"], None),
        timing(f"push-statuses: {n} status changes back, s (baseline: its {push['calls']} CRM calls / 10 rps)",
               push["seconds"], push["calls"], None),
        # Two interpreter starts (~0.6 s each) are a fixed cost: against the ~6 s a 30-order smoke
        # run needs they weigh ~20 %, against the ~100 s of 500 orders ~1 %. The limit is
        # for 500 orders; the smoke run shows its ratio without judging it.
        timing(f"the whole run, s (baseline: {total_calls} CRM calls / 10 rps)"
               + ("" if judged else "; smoke run: the limit is judged on 500 orders"),
               total_seconds, total_calls, LIMIT if judged else None),
        {"metric": "most CRM requests the emulator saw in any second", "maorders": crm.max_rps_seen,
         "baseline": CRM_RPS, "ratio": round(crm.max_rps_seen / CRM_RPS, 3), "limit": 1.0,
         "ok": crm.max_rps_seen <= CRM_RPS},
        {"metric": "CRM answers 503 (over the limit)", "maorders": crm.counters["rate_limited"], "baseline": 0,
         "ratio": None, "limit": None, "ok": crm.counters["rate_limited"] == 0},
    ]


def _measoft_rows(measoft: Any) -> list[dict[str, Any]]:
    most = measoft.most_per_minute
    return [
        {"metric": "most MeaSoft requests the emulator saw in any 60 s (fair usage: 150)", "maorders": most,
         "baseline": 150, "ratio": round(most / 150, 3), "limit": 1.0, "ok": most <= 150},
        {"metric": "MeaSoft requests in all", "maorders": measoft.counters["requests"], "baseline": "",
         "ratio": None, "limit": None, "ok": True},
        {"metric": "MeaSoft answers 403 (IP blocked for fair usage)", "maorders": measoft.counters["fair_usage_refused"],
         "baseline": 0, "ratio": None, "limit": None, "ok": measoft.counters["fair_usage_refused"] == 0},
    ]


if __name__ == "__main__":
    from bench_rows import run_alone

    sys.exit(run_alone(courier_benchmark))
