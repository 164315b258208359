#!/usr/bin/env python
"""The performance figures of maorders, measured in one run, beside a bare baseline.

    python scripts/bench.py            # the full run (a few minutes), exits 1 if a limit fails
    python scripts/bench.py --small    # a quick smoke run for CI (limits shown, never fatal)

Run it with the Python of the environment where maorders is installed (the real CLI
`maorders` next to it is what is measured, as a subprocess, the way Task Scheduler
runs it). The remote is the local MegApteka emulator, in this process, with its rate
limit off. What is measured:

- export-stock of a 200,000-row cp1251 `;` decimal-comma file: wall time against a
  naive baseline in its own subprocess (csv + json + one requests session, parts of
  5,000, the token call included, no journal); both run alternately, 3 times each, each
  against a fresh emulator; medians compared. Limit 1.5× the baseline, for the wall time
  and for the export's own work (the wall time less the time the emulator spent answering
  it: what the client itself costs, whatever the site's speed). Peak RSS of the CLI
  (psutil polling): limit 150 MB.
- pull-orders of 2,000 new orders × 5 lines against that stock: limit 5 s (median of 3,
  each from the same journal copy).
- a pass with nothing to do (push-statuses, expire-bookings) on a journal with 1,000,000
  history rows against the same pass on an empty journal: limit 1.2× (median of 5).
- `maorders --help`: median of 10, limit 0.3 s.
- courier: 500 orders RetailCRM → MeaSoft and 500 status changes back through the real
  CLI, the CRM emulator at its 10 requests a second: limit 1.15× the time that limit
  allows for the CRM calls made (scripts/bench_courier.py).
- the staff desk: the needs-a-person page and the bookings list with 10,000 bookings, server
  time ≤ 150 ms (median of 21); its idle memory (scripts/bench_desk.py).

The table is printed and written to bench-out/bench.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MAORDERS = shutil.which("maorders", path=str(Path(sys.executable).parent)) or shutil.which("maorders")
CODE, SECRET, DEPARTMENT = "1001", "s3cret", "Основной"
COMPANY = "Московская область, Подольск, Тест Аптека"
PART_SIZE = 5000
TOLERANCE_S = 0.05  # absolute slack on the "nothing to do" ratio, shown when it is used
HEADER = ["sku", "name", "manufacturer", "series", "department", "quantity", "price", "nds", "barcode",
          "protek_code", "katren_code", "egk_code", "expires_at"]


@dataclass
class Sizes:
    rows: int = 200_000
    orders: int = 2_000
    lines: int = 5
    history: int = 1_000_000
    export_runs: int = 3
    pull_runs: int = 3
    pass_runs: int = 5
    help_runs: int = 10


SMALL = Sizes(rows=10_000, orders=100, history=20_000, export_runs=1, pull_runs=1, pass_runs=2, help_runs=3)


# -- the stock file -----------------------------------------------------------------------
DRUGS = ["Нурофен", "Арбидол", "Терафлю", "Витамин C", "Но-шпа", "Парацетамол", "Ибупрофен", "Аспирин",
         "Цитрамон", "Амоксициллин", "Лоратадин", "Омепразол", "Мезим", "Смекта", "Називин", "Кагоцел",
         "Анаферон", "Энтеросгель", "Валидол", "Корвалол", "Афобазол", "Глицин", "Пенталгин", "Фервекс"]
FORMS = ["таб.", "капс.", "пор.", "сироп", "р-р д/ин.", "мазь", "гель", "спрей наз.", "капли", "супп."]
MAKERS = ["Reckitt", "Фармстандарт", "GSK", "Эвалар", "Sanofi", "Озон", "Вертекс", "Bayer", "Teva",
          "Материа Медика", "Полисан", "Stada", "Сандоз", "Валента", "КРКА"]


def write_stock_file(path: Path, rows: int, seed: int = 42) -> dict[str, Any]:
    """A realistic export: mixed codes, other departments, a few bad rows. Returns facts
    about it (the good rows of the default department, for orders)."""
    rng = random.Random(seed)
    good: list[tuple[str, str, str, str]] = []
    bad = other = 0
    with path.open("w", encoding="cp1251", newline="") as f:
        out = csv.writer(f, delimiter=";", lineterminator="\r\n")
        out.writerow(HEADER)
        for n in range(1, rows + 1):
            sku = f"{rng.choice('ABCDEFGHKLMP')}-{n:07d}"
            name = (f"{rng.choice(DRUGS)} {rng.choice(FORMS)} {rng.choice([5, 10, 20, 40, 100, 200, 400, 500])}"
                    f"мг №{rng.choice([10, 12, 20, 24, 30, 50, 60, 100])}")
            quantity = str(rng.choice([0, 1, 1, 2, 3, 5, 7, 10, 12, 20, 50, 100]))
            if rng.random() < 0.05:
                quantity += ",000"  # some systems write packs as decimals
            price = f"{rng.randint(5, 9000)},{rng.randint(0, 99):02d}"
            barcode = f"46{rng.randint(0, 10**11 - 1):011d}" if rng.random() < 0.85 else ""
            protek = str(rng.randint(10000, 999999)) if rng.random() < 0.40 else ""
            katren = str(rng.randint(100000, 9999999)) if rng.random() < 0.25 else ""
            egk = str(rng.randint(1000000, 99999999)) if rng.random() < 0.10 else ""
            if not (barcode or protek or katren or egk):
                protek = str(rng.randint(10000, 999999))
            department = DEPARTMENT if rng.random() < 0.95 else rng.choice(["Склад", "Витрина 2"])
            if n % 20_000 == 7:  # a few bad rows: no code at all, quantity not a number, negative
                barcode = protek = katren = egk = ""
            elif n % 20_000 == 11:
                quantity = "н/д"
            elif n % 20_000 == 13:
                quantity = "-3"
            is_bad = n % 20_000 in (7, 11, 13)
            bad += is_bad
            other += department != DEPARTMENT and not is_bad
            if not is_bad and department == DEPARTMENT:
                good.append((sku, barcode, protek, katren))
            out.writerow([sku, name, rng.choice(MAKERS), f"S{rng.randint(1000, 9999)}", department, quantity,
                          price, rng.choice(["10%", "20%", "Без НДС"]), barcode, protek, katren, egk,
                          f"20{rng.randint(26, 29)}-{rng.randint(1, 12):02d}-01"])
    return {"good": good, "bad": bad, "other_department": other, "bytes": path.stat().st_size}


# -- the baseline: the same export done naively (run as its own subprocess) -----------------------
def baseline_export(path: str, url: str) -> dict[str, int]:
    import requests

    company = dict(zip(("region", "city", "brand"), (p.strip() for p in COMPANY.split(","))))
    session = requests.Session()
    token = session.post(f"{url}/auth/token", json={"pharmacy_code": CODE, "secret": SECRET}, timeout=60)
    token.raise_for_status()
    session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    items = []
    with open(path, encoding="cp1251", newline="") as f:
        for row in csv.DictReader(f, delimiter=";"):
            codes = [row["barcode"], row["protek_code"], row["katren_code"], row["egk_code"]]
            if row["department"] != DEPARTMENT or not any(codes):
                continue
            try:
                quantity = int(float(row["quantity"].replace(",", ".")))
                price = round(float(row["price"].replace(",", ".")), 2)
            except ValueError:
                continue
            if quantity < 0 or price < 0:
                continue
            items.append({"sku": row["sku"], "name": row["name"], "manufacturer": row["manufacturer"],
                          "price": price, "quantity": quantity, "barcode": codes[0], "protek_code": codes[1],
                          "katren_code": codes[2], "egk_code": codes[3], "expires_at": row["expires_at"]})
    snapshot = uuid.uuid4().hex
    parts = max(1, -(-len(items) // PART_SIZE))
    generated_at = time.strftime("%Y-%m-%dT%H:%M:%S+03:00")
    for part in range(1, parts + 1):
        body = {"parts": parts, "generated_at": generated_at, "pharmacy": company,
                "items": items[(part - 1) * PART_SIZE:part * PART_SIZE]}
        reply = session.put(f"{url}/pharmacies/{CODE}/stock/{snapshot}/parts/{part}", data=json.dumps(body),
                            headers={"Content-Type": "application/json"}, timeout=60)
        reply.raise_for_status()
    return {"items": len(items), "parts": parts}


# -- running and measuring ---------------------------------------------------------------------
@dataclass
class Run:
    wall: float
    peak_rss: int  # bytes; 0 when not measured
    code: int
    stdout: str
    stderr: str
    cpu: float = 0.0  # user + system CPU seconds of the subprocess
    site_cpu: float = 0.0  # CPU seconds this process (the emulator) spent meanwhile

    def json(self) -> dict[str, Any]:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        return json.loads(lines[-1]) if lines else {}


def measure(argv: list[str], env: dict[str, str], rss: bool = False) -> Run:
    """Run a subprocess to its end: its wall time and (with `rss`) its peak resident memory."""
    import resource

    peak = 0
    children, own = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, encoding="utf-8")
    poller = None
    if rss:
        import psutil

        watched = psutil.Process(proc.pid)

        def poll() -> None:
            nonlocal peak
            while proc.poll() is None:
                try:
                    peak = max(peak, watched.memory_info().rss)
                except psutil.Error:
                    return
                time.sleep(0.005)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if poller:
        poller.join()
    children_after, own_after = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    cpu = (children_after.ru_utime + children_after.ru_stime) - (children.ru_utime + children.ru_stime)
    site_cpu = (own_after.ru_utime + own_after.ru_stime) - (own.ru_utime + own.ru_stime)
    return Run(wall, peak, proc.returncode, out, err, cpu, site_cpu)


def clean_env(workdir: Path, url: str, journal: Path, stock: Path | None = None) -> dict[str, str]:
    from bench_rows import clean_environment

    env = {**clean_environment(workdir, journal),
           "MAORDERS_HTTP_TIMEOUT": "120", "MAORDERS_HTTP_RETRIES": "2",
           "MEGAPTEKA_URL": url, "MEGAPTEKA_PHARMACY_CODE": CODE, "MEGAPTEKA_SECRET": SECRET,
           "MEGAPTEKA_COMPANY_INFO": COMPANY, "MEGAPTEKA_DEPARTMENT": DEPARTMENT}
    if stock:
        env["MEGAPTEKA_STOCK_FILE"] = str(stock)
    return env


class Site:
    """A fresh emulator (rate limit off) for as long as the `with` lasts; `busy` is the wall
    time it spent answering requests (what an export waits for the site, not its own work)."""

    def __enter__(self):
        from maorders.megapteka.emulator import serve

        self.server, self.app = serve()
        self.app.rate_limit_rps = 0
        self.busy = 0.0
        handle, lock = self.app.handle, threading.Lock()

        def timed(request):
            started = time.perf_counter()
            try:
                return handle(request)
            finally:
                with lock:
                    self.busy += time.perf_counter() - started

        self.app.handle = timed
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def cli(*args: str) -> list[str]:
    return [MAORDERS, *args]


def ok(run: Run, what: str) -> Run:
    if run.code != 0:
        raise SystemExit(f"{what} exited {run.code}:\n{run.stderr[-3000:]}")
    return run


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass
class Row:
    metric: str
    ours: str
    baseline: str
    ratio: str
    limit: str
    passed: bool | None  # None: for information
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self, title: str) -> str:
        lines = [f"# {title}", "", "| metric | maorders | baseline | ratio | limit | result |",
                 "|---|---:|---:|---:|---|---|"]
        for row in self.rows:
            result = "info" if row.passed is None else ("PASS" if row.passed else "FAIL")
            if row.note:
                result += f" ({row.note})"
            lines.append(f"| {row.metric} | {row.ours} | {row.baseline} | {row.ratio} | {row.limit} | {result} |")
        return "\n".join(lines + [""] + [f"- {note}" for note in self.notes]) + "\n"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the benchmarks -----------------------------------------------------------------------------
def bench_export(work: Path, sizes: Sizes, report: Report) -> tuple[Path, dict[str, Any]]:
    stock = work / "stock.csv"
    started = time.perf_counter()
    facts = write_stock_file(stock, sizes.rows)
    say(f"stock file: {sizes.rows:,} rows, {facts['bytes'] / 1e6:.1f} MB, {len(facts['good']):,} good rows of "
        f"{DEPARTMENT!r}, {facts['bad']} bad ({time.perf_counter() - started:.1f} s to write)")
    journal = work / "export" / "journal.db"
    ours, theirs, rss, base_rss, cpu = [], [], [], [], {"ours": [], "theirs": [], "site": []}
    own, base_own, busy = [], [], {"ours": [], "theirs": []}  # wall less the emulator's busy time
    # a warm-up of each (not counted): the file in the page cache, the journal holding a
    # previous snapshot, as it does on every scheduled run after the first
    for n in range(sizes.export_runs + 1):
        with Site() as site:
            run = ok(measure(cli("--json", "export-stock"), clean_env(work, site.server.url, journal, stock), rss=True),
                     "maorders export-stock")
            counts = run.json()["connectors"]["megapteka"]["counts"]
            shown, our_busy = len(site.app.stock_items), site.busy
        with Site() as site:
            base = measure([sys.executable, __file__, "--baseline-export", str(stock), site.server.url],
                           dict(os.environ), rss=True)
            ok(base, "the baseline")
            base_items = json.loads(base.stdout)["items"]
            base_shown, base_busy = len(site.app.stock_items), site.busy
        if shown != base_shown or counts.get("exported") != base_items:
            raise SystemExit(f"export mismatch: maorders showed {shown} ({counts}), baseline {base_shown}")
        label = "warm-up" if n == 0 else f"run {n}"
        say(f"export {label}: maorders {run.wall:.2f} s (CPU {run.cpu:.2f} s, {run.peak_rss / 2**20:.0f} MB, "
            f"site busy {our_busy:.2f} s), baseline {base.wall:.2f} s (CPU {base.cpu:.2f} s, "
            f"{base.peak_rss / 2**20:.0f} MB, site busy {base_busy:.2f} s); "
            f"emulator CPU {run.site_cpu:.2f} / {base.site_cpu:.2f} s; {shown:,} items on the site")
        if n:
            cpu["ours"].append(run.cpu)
            cpu["theirs"].append(base.cpu)
            cpu["site"].append(base.site_cpu)
            ours.append(run.wall)
            theirs.append(base.wall)
            own.append(run.wall - our_busy)
            base_own.append(base.wall - base_busy)
            busy["ours"].append(our_busy)
            busy["theirs"].append(base_busy)
            rss.append(run.peak_rss)
            base_rss.append(base.peak_rss)
    a, b = median(ours), median(theirs)
    report.rows.append(Row(f"export-stock, {sizes.rows:,} rows cp1251 (median of {len(ours)}, wall)",
                           f"{a:.2f} s", f"{b:.2f} s", f"{a / b:.2f}×", "≤ 1.5× baseline", a <= 1.5 * b))
    c, d = median(own), median(base_own)
    report.rows.append(Row(f"export-stock's own work (wall less the emulator's busy time, median of {len(own)})",
                           f"{c:.2f} s", f"{d:.2f} s", f"{c / d:.2f}×", "≤ 1.5× baseline", c <= 1.5 * d))
    peak = max(rss) / 2**20
    report.rows.append(Row("export-stock peak RSS (max of runs)", f"{peak:.0f} MB", f"{max(base_rss) / 2**20:.0f} MB",
                           f"{peak / (max(base_rss) / 2**20):.2f}×", "≤ 150 MB", peak <= 150))
    report.notes.append(f"export: {shown:,} items exported of {sizes.rows:,} rows "
                        f"({facts['bad']} bad, {facts['other_department']:,} of other departments); "
                        f"runs maorders {', '.join(f'{x:.2f}' for x in ours)} s, "
                        f"baseline {', '.join(f'{x:.2f}' for x in theirs)} s; own work maorders "
                        f"{', '.join(f'{x:.2f}' for x in own)} s, baseline {', '.join(f'{x:.2f}' for x in base_own)} s")
    report.notes.append(f"export CPU (medians, user+system of the subprocess): maorders {median(cpu['ours']):.2f} s, "
                        f"baseline {median(cpu['theirs']):.2f} s; the emulator (this process) spent "
                        f"{median(cpu['site']):.2f} s CPU serving the baseline's upload, the same work for both; "
                        f"its busy time (medians): {median(busy['ours']):.2f} s for maorders, "
                        f"{median(busy['theirs']):.2f} s for the baseline")
    return journal, facts


def make_orders(site: Any, facts: dict[str, Any], sizes: Sizes, seed: int = 7) -> None:
    rng = random.Random(seed)
    good = facts["good"]
    for _ in range(sizes.orders):
        lines = []
        for _ in range(sizes.lines):
            sku, barcode, protek, katren = rng.choice(good)
            line = {"sku": sku, "name": "Товар", "barcode": barcode, "protek_code": "", "katren_code": "",
                    "egk_code": "", "quantity": rng.randint(1, 3), "price": 100.0}
            roll = rng.random()
            if roll < 0.1 and protek:
                line |= {"sku": "", "barcode": "", "protek_code": protek}
            elif roll < 0.15 and katren:
                line |= {"sku": "", "barcode": "", "katren_code": katren}
            elif roll < 0.2:
                line |= {"sku": f"Z-{rng.randint(1, 10**6)}", "barcode": f"49{rng.randint(0, 10**10):011d}"}
            lines.append(line)
        site.app.add_order(lines)


def backup(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(dst) + suffix).unlink(missing_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


def bench_pull(work: Path, journal: Path, facts: dict[str, Any], sizes: Sizes, report: Report) -> None:
    saved = work / "pull-start.db"
    backup(journal, saved)
    walls, counts = [], {}
    for n in range(sizes.pull_runs):
        target = work / "pull" / f"journal-{n}.db"
        backup(saved, target)
        with Site() as site:
            make_orders(site, facts, sizes)
            run = ok(measure(cli("--json", "pull-orders"), clean_env(work, site.server.url, target)),
                     "maorders pull-orders")
        counts = run.json()["connectors"]["megapteka"]["counts"]
        if counts.get("received") != sizes.orders:
            raise SystemExit(f"pull-orders received {counts.get('received')} of {sizes.orders}")
        walls.append(run.wall)
        say(f"pull-orders run {n + 1}: {run.wall:.2f} s {counts}")
    wall = median(walls)
    report.rows.append(Row(f"pull-orders, {sizes.orders:,} new orders × {sizes.lines} lines "
                           f"(median of {len(walls)}, wall)", f"{wall:.2f} s", "—", "—", "≤ 5 s", wall <= 5.0))
    report.notes.append(f"pull-orders: {counts}; runs {', '.join(f'{x:.2f}' for x in walls)} s")


def fill_history(journal: Path, total: int) -> dict[str, int]:
    """Old rows straight into SQLite: runs, mp_orders, mp_order_lines, outbox (sent), attempts."""
    share = {"runs": 0.10, "mp_orders": 0.10, "mp_order_lines": 0.25, "outbox": 0.25}
    n = {name: int(total * part) for name, part in share.items()}
    n["attempts"] = total - sum(n.values())
    old = "2024-03-01T10:00:00+03:00"
    db = sqlite3.connect(journal)
    db.execute("PRAGMA journal_mode=WAL")
    with db:
        db.executemany("INSERT INTO runs (command, started_at, finished_at, exit_code, summary) VALUES (?, ?, ?, 0, ?)",
                       ((("pull-orders", "push-statuses", "export-stock")[i % 3], old, old,
                         '{"megapteka": {"ok": true, "counts": {"received": 2}, "errors": []}}')
                        for i in range(n["runs"])))
        payload = json.dumps({"id": 0, "number": "MA-0", "customer": {"name": "Иванова А.", "phone": "+79990001122"},
                              "items": [{"line_id": 1, "sku": "A-1", "quantity": 1, "price": 100.0}]},
                             ensure_ascii=False)
        db.executemany("""INSERT INTO mp_orders (id, number, received_at, payload, outcome, booking_state,
                          order_state, booked_at, updated_at) VALUES (?, ?, ?, ?, 'full', ?, ?, ?, ?)""",
                       ((i, f"MA-{i}", old, payload, ("Issued", "Deleted")[i % 2], ("Выдан", "Отменен")[i % 2],
                         old, old) for i in range(1, n["mp_orders"] + 1)))
        per_order = max(1, -(-n["mp_order_lines"] // max(1, n["mp_orders"])))  # every line's order exists
        db.executemany("INSERT INTO mp_order_lines VALUES (?, ?, ?, ?, ?, ?, ?)",
                       ((1 + i // per_order, 1 + i % per_order, "Товар", f"A-{i % 50_000:07d}", 2, 2, 100.0)
                        for i in range(n["mp_order_lines"])))
        db.executemany("""INSERT INTO outbox (connector, kind, business_key, payload, idempotency_key, state,
                          attempts, created_at, sent_at) VALUES ('megapteka', 'status', ?, ?, ?, 'sent', 1, ?, ?)""",
                       ((f"{i}/{(1, 5, 2, 3)[i % 4]}", '{"order_id": 1, "status": 1, "items": [], "comment": ""}',
                         str(uuid.UUID(int=i)), old, old) for i in range(n["outbox"])))
        db.executemany("""INSERT INTO attempts (outbox_id, at, attempt, http_code, result, message)
                          VALUES (?, ?, 1, 201, 'sent', NULL)""",
                       ((1 + i % n["outbox"], old) for i in range(n["attempts"])))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return n


def bench_idle(work: Path, sizes: Sizes, report: Report) -> None:
    journals = {"empty": work / "idle-empty" / "journal.db", "history": work / "idle-history" / "journal.db"}
    with Site() as site:
        for journal in journals.values():  # the schema through the real CLI, once
            ok(measure(cli("expire-bookings"), clean_env(work, site.server.url, journal)), "schema")
        started = time.perf_counter()
        n = fill_history(journals["history"], sizes.history)
        size = journals["history"].stat().st_size / 2**20
        say(f"history journal: {sum(n.values()):,} rows {n} ({size:.0f} MB, "
            f"{time.perf_counter() - started:.1f} s to fill)")
        for command in ("push-statuses", "expire-bookings"):
            walls: dict[str, list[float]] = {"empty": [], "history": []}
            extra = {"MEGAPTEKA_BOOKING_TTL_HOURS": "0"} if command == "expire-bookings" else {}
            for _ in range(sizes.pass_runs):
                for name, journal in journals.items():
                    run = ok(measure(cli("--json", command), clean_env(work, site.server.url, journal) | extra),
                             f"{command} on the {name} journal")
                    counts = run.json()["connectors"]["megapteka"]["counts"]
                    if any(counts.get(k) for k in ("statuses_sent", "expired", "events")):
                        raise SystemExit(f"{command} on the {name} journal had something to do: {counts}")
                    walls[name].append(run.wall)
            empty, history = median(walls["empty"]), median(walls["history"])
            strict = history <= 1.2 * empty
            loose = history <= 1.2 * empty + TOLERANCE_S
            report.rows.append(Row(f"{command}, nothing to do, {sum(n.values()):,}-row journal vs empty "
                                   f"(median of {sizes.pass_runs})", f"{history:.3f} s", f"{empty:.3f} s",
                                   f"{history / empty:.2f}×", "≤ 1.2× empty", loose,
                                   "" if strict or not loose else f"only with +{TOLERANCE_S} s tolerance"))
            say(f"{command}: history {walls['history']}, empty {walls['empty']}")
    report.notes.append(f"history journal: {n} ({size:.0f} MB); the baseline column of the "
                        "nothing-to-do rows is the same pass on an empty journal")


def bench_help(sizes: Sizes, report: Report) -> None:
    env = dict(os.environ)
    walls = [ok(measure(cli("--help"), env), "maorders --help").wall for _ in range(sizes.help_runs)]
    wall = median(walls)
    report.rows.append(Row(f"maorders --help (median of {len(walls)})", f"{wall:.3f} s", "—", "—", "≤ 0.3 s",
                           wall <= 0.3))


# the other connectors' and the kernel's benchmarks: (prefix, module in scripts/, function, what it measures)
SUITES = (
    ("courier", "bench_courier", "courier_benchmark", "500 orders CRM → MeaSoft and 500 statuses back"),
    ("", "bench_loyalty", "loyalty_benchmark", "scan-qr at the till"),
    ("misbridge", "bench_misbridge", "misbridge_benchmark", "resend-receipts: 1,000 Pays and 1,000 e-mails"),
    ("operations", "bench_operations", "operations_benchmark", "an idle pass with alerts, pings, metrics on/off"),
    ("", "bench_desk", "desk_benchmark", "the staff desk's pages with 10,000 bookings; its idle memory"),
)


def bench_suite(prefix: str, module: str, function: str, what: str, small: bool, report: Report) -> None:
    """Rows of a scripts/bench_*.py function: metric, maorders, baseline, ratio, limit, ok."""
    import importlib

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    say(f"{module}: {what}" + (" (smoke run)" if small else ""))
    for row in getattr(importlib.import_module(module), function)(small):
        limit, ratio = row["limit"], row["ratio"]
        shown = "" if limit is None else limit if isinstance(limit, str) else f"≤ {limit}" + ("×" if ratio else "")
        ratio_text = "" if ratio is None else str(ratio) if str(ratio).endswith("×") else f"{ratio}×"
        report.rows.append(Row(f"{prefix} {row['metric']}".strip(), str(row["maorders"]),
                               "—" if row["baseline"] is None else str(row["baseline"]), ratio_text, shown,
                               row["ok"] if limit is not None else None))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="a quick smoke run (CI): smaller sizes, never exits 1")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out", help="where bench.md goes")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (journals, files, logs)")
    parser.add_argument("--baseline-export", nargs=2, metavar=("FILE", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_export:
        print(json.dumps(baseline_export(*args.baseline_export)))
        return 0
    if MAORDERS is None:
        raise SystemExit("the maorders command is not installed next to this Python; run it with the venv's python")
    sizes = SMALL if args.small else Sizes()
    work = Path(tempfile.mkdtemp(prefix="maorders-bench-"))
    report = Report()
    started = time.perf_counter()
    try:
        journal, facts = bench_export(work, sizes, report)
        bench_pull(work, journal, facts, sizes, report)
        bench_idle(work, sizes, report)
        bench_help(sizes, report)
        for suite in SUITES:
            bench_suite(*suite, args.small, report)
    finally:
        if args.keep:
            say(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report.notes.append(f"{'small (smoke) run' if args.small else 'full run'} on {sys.platform}, "
                        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
                        f"{time.perf_counter() - started:.0f} s in all; {time.strftime('%Y-%m-%d %H:%M')}")
    text = report.markdown("maorders benchmark" + (" (--small: limits shown, not enforced)" if args.small else ""))
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.md").write_text(text, encoding="utf-8")
    failed = [row.metric for row in report.rows if row.passed is False]
    if failed and not args.small:
        say(f"limits failed: {'; '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
