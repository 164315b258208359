#!/usr/bin/env python
"""Operations benchmark: an idle pass with staff alerts, health pings and metrics on, against
the same pass with them off (issue 9's limit: 1.2×).

The pass is `maorders expire-bookings` with nothing to expire (it needs no remote), through
the real CLI, on a journal with a history: `runs` rows of every pass (read back for the
metrics) and alerts already sent (the outbox the alert delivery looks at). "On" means
MAORDERS_ALERT_URLS (a local `json://` webhook), MAORDERS_HEALTHCHECK_URL (a local server:
`/start` and `/0` each pass) and MAORDERS_METRICS_FILE. Runs alternate on/off; medians
are compared.

    python scripts/bench_operations.py            # 11 runs each, 100,000 history runs
    python scripts/bench_operations.py --small    # 3 runs each, a smoke run
"""

from __future__ import annotations

import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench_rows import clean_environment  # scripts/ is on the path

ROOT = Path(__file__).resolve().parent.parent
MAORDERS = shutil.which("maorders", path=str(Path(sys.executable).parent)) or shutil.which("maorders")
LIMIT = 1.2
TOLERANCE_S = 0.05  # absolute slack: a 0.6 s pass is timed to a few tens of ms on a busy machine


class Receiver(BaseHTTPRequestHandler):
    """Health pings and webhook alerts: 200 to every POST, counted."""

    hits = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        return None


def _environment(work: Path) -> dict[str, str]:
    (work / "stock.csv").write_text("sku;quantity\n", encoding="utf-8")
    return {**clean_environment(work),
            "MEGAPTEKA_URL": "http://127.0.0.1:9/v1", "MEGAPTEKA_PHARMACY_CODE": "1001",
            "MEGAPTEKA_SECRET": "s3cret", "MEGAPTEKA_COMPANY_INFO": "Московская область, Подольск, Тест Аптека",
            "MEGAPTEKA_STOCK_FILE": str(work / "stock.csv"), "MEGAPTEKA_DEPARTMENT": "Основной"}


def _history(journal: Path, runs: int, alerts: int) -> None:
    """Old runs of every pass and alerts already sent, straight into SQLite."""
    commands = ["export-stock", "pull-orders", "push-statuses", "expire-bookings", "resend-receipts", "scan-qr"]
    with sqlite3.connect(journal) as db:
        db.executemany("INSERT INTO runs (command, started_at, finished_at, exit_code, summary) "
                       "VALUES (?, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:05+00:00', 0, '{}')",
                       ((commands[k % len(commands)],) for k in range(runs)))
        for k in range(alerts):
            note = db.execute("INSERT INTO notifications (connector, subject, kind, message, created_at) "
                              "VALUES ('bench', ?, 'old', 'old news', '2026-01-01T00:00:00+00:00')",
                              (str(k),)).lastrowid
            db.execute("INSERT INTO outbox (connector, kind, business_key, payload, idempotency_key, state, "
                       "created_at, sent_at) VALUES ('maorders', 'alert', ?, ?, ?, 'sent', "
                       "'2026-01-01T00:00:00+00:00', '2026-01-01T00:00:01+00:00')",
                       (str(note), f'{{"notification": {note}}}', f"k{k}"))


def _timed(env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([MAORDERS, "-q", "expire-bookings"], env=env, capture_output=True, text=True,
                          encoding="utf-8", timeout=120)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"expire-bookings exited {done.returncode}: {done.stderr[-500:]}")
    return seconds


def operations_benchmark(small: bool) -> list[dict[str, Any]]:
    """Rows: metric, maorders, baseline, ratio, limit, ok."""
    runs, history, alerts = (3, 5_000, 200) if small else (11, 100_000, 5_000)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="maorders-bench-operations-"))
    try:
        off = _environment(work)
        port = server.server_address[1]
        on = off | {"MAORDERS_ALERT_URLS": f"json://127.0.0.1:{port}/hook",
                    "MAORDERS_HEALTHCHECK_URL": f"http://127.0.0.1:{port}/ping/bench-key/{{pass}}",
                    "MAORDERS_METRICS_FILE": str(work / "textfile" / "maorders.prom")}
        _timed(off)  # the journal and its tables
        _history(work / "journal.db", history, alerts)
        _timed(on)  # warm both
        Receiver.hits = 0
        walls_on, walls_off = [], []
        for _ in range(runs):
            walls_off.append(_timed(off))
            walls_on.append(_timed(on))
        if Receiver.hits != 2 * runs or not (work / "textfile" / "maorders.prom").is_file():
            raise SystemExit(f"operations were not on: {Receiver.hits} pings, metrics file missing?")
        with_ops, without = statistics.median(walls_on), statistics.median(walls_off)
        ratio = with_ops / without
        ok = ratio <= LIMIT or with_ops - without <= TOLERANCE_S
        return [{"metric": f"idle expire-bookings, alerts + pings + metrics on vs off "
                           f"({history:,} runs, {alerts:,} sent alerts; median of {runs})",
                 "maorders": f"{with_ops:.3f} s", "baseline": f"{without:.3f} s", "ratio": f"{ratio:.2f}×",
                 "limit": f"≤ {LIMIT}×", "ok": ok if not small else None}]
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    from bench_rows import run_alone

    sys.exit(run_alone(operations_benchmark))
