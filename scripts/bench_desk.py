#!/usr/bin/env python
"""Staff desk benchmark (issue 19): the needs-a-person page and the bookings list, with 10,000
bookings in the journal, rendered in ≤ 150 ms server time (median); the desk's idle memory.

The desk runs as its own process (`python -m maorders.desk desk`, waitress) over a journal
filled straight into SQLite: 10,000 internet orders with their lines, statuses and
notifications (every one unseen: the worst case of the needs-a-person page). Server time is the
app's `Server-Timing` header (the request in the app, the journal opened and closed included);
idle memory is the process's RSS after the pages were served once each.

    python scripts/bench_desk.py            # 10,000 bookings, 21 requests a page
    python scripts/bench_desk.py --small    # 1,000 bookings, 5 requests a page (smoke run)
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_rows import clean_environment  # scripts/ is on the path

LIMIT_MS = 150.0
PAGES = (("needs-a-person page", "/"), ("bookings list", "/megapteka/bookings"),
         ("bookings list, all states", "/megapteka/bookings?state=all"))


def _environment(work: Path, port: int) -> dict[str, str]:
    (work / "stock.csv").write_text("sku;quantity\n", encoding="utf-8")
    return {**clean_environment(work),
            "MEGAPTEKA_URL": "http://127.0.0.1:9/v1", "MEGAPTEKA_PHARMACY_CODE": "1001",
            "MEGAPTEKA_SECRET": "s3cret", "MEGAPTEKA_COMPANY_INFO": "Московская область, Подольск, Тест Аптека",
            "MEGAPTEKA_STOCK_FILE": str(work / "stock.csv"), "MEGAPTEKA_DEPARTMENT": "Основной",
            "MAORDERS_DESK_PORT": str(port)}


def _fill(journal: Path, bookings: int) -> None:
    """Bookings as pull-orders writes them: the order, two lines, status 1 queued, a notification."""
    from maorders import connectors
    from maorders.journal import Journal

    Journal.open(journal, connectors.migrations()).close()  # every table, as the desk opens it
    now = "2026-12-01T10:00:00+00:00"
    with sqlite3.connect(journal) as db:
        db.executemany("""INSERT INTO mp_orders (id, number, received_at, payload, outcome, booking_state,
                          order_state, booked_at, updated_at) VALUES (?, ?, ?, '{}', ?, 'New', 'Новый', ?, ?)""",
                       ((n, f"MA-{n}", now, "partial" if n % 10 == 0 else "full", now, now)
                        for n in range(1, bookings + 1)))
        db.executemany("INSERT INTO mp_order_lines VALUES (?, ?, ?, ?, ?, ?, ?)",
                       ((n, line, f"Препарат {n}-{line}", f"A-{n % 500}", 2, 2 - (n % 10 == 0), 189.5)
                        for n in range(1, bookings + 1) for line in (1, 2)))
        db.executemany("""INSERT INTO outbox (connector, kind, business_key, payload, idempotency_key, created_at)
                          VALUES ('megapteka', 'status', ?, ?, ?, ?)""",
                       ((f"{n}/1", json.dumps({"order_id": n, "status": 1}), f"key-{n}", now)
                        for n in range(1, bookings + 1)))
        db.executemany("""INSERT INTO notifications (connector, subject, kind, message, created_at, problem)
                          VALUES ('megapteka', ?, 'received', ?, ?, ?)""",
                       ((str(n), f"Новый интернет-заказ MA-{n}: полное бронирование", now, int(n % 10 == 0))
                        for n in range(1, bookings + 1)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_ms(session: Any, url: str) -> float:
    response = session.get(url, timeout=30)
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    found = re.search(r"app;dur=([\d.]+)", response.headers.get("Server-Timing", ""))
    if not found:
        raise SystemExit(f"{url}: no Server-Timing header")
    return float(found.group(1))


def desk_benchmark(small: bool) -> list[dict[str, Any]]:
    """Rows: metric, maorders, baseline, ratio, limit, ok."""
    import psutil
    import requests

    bookings, runs = (1_000, 5) if small else (10_000, 21)
    work = Path(tempfile.mkdtemp(prefix="maorders-bench-desk-"))
    port = _free_port()
    env = _environment(work, port)
    _fill(work / "journal.db", bookings)
    proc = subprocess.Popen([sys.executable, "-m", "maorders.desk", "desk"], env=env, cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        base, session = f"http://127.0.0.1:{port}", requests.Session()
        deadline = time.monotonic() + 60
        while True:
            try:
                session.get(base + "/static/desk.css", timeout=5)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the desk did not start: " + proc.stderr.read().decode("utf-8", "replace")[-500:])
                time.sleep(0.1)
        for _, path in PAGES:  # warm: imports, templates compiled
            _server_ms(session, base + path)
        rows = []
        for name, path in PAGES:
            ms = statistics.median(_server_ms(session, base + path) for _ in range(runs))
            rows.append({"metric": f"desk {name} with {bookings:,} bookings, server time (median of {runs})",
                         "maorders": f"{ms:.1f} ms", "baseline": None, "ratio": None,
                         "limit": f"≤ {LIMIT_MS:.0f} ms", "ok": (ms <= LIMIT_MS) if not small else None})
        time.sleep(1.0)  # idle: no request in flight
        rss = psutil.Process(proc.pid).memory_info().rss / 1e6
        rows.append({"metric": "desk idle memory (RSS after serving each page)", "maorders": f"{rss:.0f} MB",
                     "baseline": None, "ratio": None, "limit": None, "ok": None})
        return rows
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    from bench_rows import run_alone

    sys.exit(run_alone(desk_benchmark))
