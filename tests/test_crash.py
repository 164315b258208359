"""Kill-and-rerun: any pass may be killed at any instant (SIGKILL, as Task Scheduler's
TerminateProcess does) and run again. After the rerun no order is lost, no booking is
doubled, no status record reaches the site twice or under two ids, nothing is left
in flight in the outbox, and `PRAGMA integrity_check` is ok.

Every round has its own emulator, journal and stock file. The pass under test and
its rerun are the real CLI (`maorders ...` as a subprocess); the set-up and the
flush that follows are the same passes run in-process, for speed.

- random-instant kills: SIGKILL after a delay drawn from `random.Random(round)` in a
  window measured on a control round of the same pass (no timing is asserted);
- effect-hook kills: the emulator's `on_effect` kills the CLI right after it applied
  an effect (a status accepted, a stock part stored) and before the reply;
- `faults.drop_after_effect`: the effect applied, the reply lost;
- a Hypothesis state machine over in-process passes with random fault knobs and
  simulated crashes.

Rounds: `--crash-rounds N` (or MAORDERS_CRASH_ROUNDS); 6 in CI, 200 by hand.
"""

from __future__ import annotations

import copy
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from unittest import mock

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from conftest import Cli, base_env, wait_dead
from maorders.megapteka.emulator import serve

PAGE = 5  # the test site pages orders and events 5 at a time: a pull crosses many commits
DELAY = 0.01  # emulator latency while a pass may be killed: widens the window inside the pass
HEADER = "sku;name;manufacturer;department;quantity;price;barcode;protek_code;katren_code;egk_code;expires_at"
DEPARTMENT = "Основной"
ACTIVE = ("New", "Closed")
OPEN_STATES = ("pending", "unknown", "retry")


# -- the stock file ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    sku: str
    quantity: int
    barcode: str
    protek_code: str
    department: str
    good: bool  # a sane row with a code (exported when of the default department)


def make_stock(rng: random.Random, n: int = 24) -> tuple[list[Item], list[str]]:
    """A cp1251 `;` decimal-comma export: `n` real items (some of another department, some
    only with a Протек code) and a few bad rows; returns the items and the file's lines."""
    items, lines = [], [HEADER]
    for k in range(1, n + 1):
        sku = f"S-{k:04d}"
        quantity = rng.choice([0, 1, 2, 3, 4, 5, 8])
        barcode = f"46{k:011d}" if k % 5 else ""  # every 5th item only has a Протек code
        protek = f"{70000 + k}" if k % 3 == 0 or not barcode else ""
        department = "Склад" if k % 11 == 0 else DEPARTMENT
        items.append(Item(sku, quantity, barcode, protek, department, good=True))
        lines.append(f"{sku};Товар {k} таб. №{k};Завод «{k % 7}»;{department};{quantity};"
                     f"{rng.randint(10, 900)},{rng.randint(0, 99):02d};{barcode};{protek};;;2027-0{1 + k % 9}-01")
    # bad rows: reported and skipped, never exported
    lines += [f"B-1;Без кодов;;{DEPARTMENT};5;10,00;;;;;",
              f"B-2;Кривое число;;{DEPARTMENT};много;10,00;4609999999991;;;;",
              f"B-3;Минус;;{DEPARTMENT};-2;10,00;4609999999992;;;;"]
    items += [Item("B-1", 5, "", "", DEPARTMENT, False), Item("B-2", 0, "4609999999991", "", DEPARTMENT, False),
              Item("B-3", 0, "4609999999992", "", DEPARTMENT, False)]
    return items, lines


def filler_lines(count: int) -> list[str]:
    """Rows nobody orders, to make a multi-part snapshot (5,000 items a part)."""
    return [f"F-{k:06d};Наполнитель {k};Завод;{DEPARTMENT};{k % 50};{k % 1000},50;47{k:011d};;{k};;"
            for k in range(count)]


def order_lines(rng: random.Random, stock: list[Item]) -> list[dict[str, Any]]:
    """1-3 lines: mostly known items (by sku or only by a code), some items the
    pharmacy does not have (another department, a bad row, unknown)."""
    lines = []
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        item = rng.choice(stock)
        line = {"sku": "", "name": "Товар", "barcode": "", "protek_code": "", "katren_code": "",
                "egk_code": "", "quantity": rng.randint(1, 4), "price": 100.0}
        if roll < 0.1:
            line |= {"sku": f"X-{rng.randint(1, 999)}", "barcode": f"48{rng.randint(0, 10**10):011d}"}
        elif roll < 0.25 and item.protek_code:
            line |= {"protek_code": item.protek_code}
        else:
            line |= {"sku": item.sku, "barcode": item.barcode}
        lines.append(line)
    return lines


def expected_bookings(site, stock: list[Item], order_ids: list[int]) -> dict[tuple[int, int], int]:
    """The booking rules applied to the orders one by one, as one uninterrupted pull would."""
    exported = {i.sku: i for i in stock if i.good and i.department == DEPARTMENT}
    by_protek = {i.protek_code: i for i in exported.values() if i.protek_code}
    held: Counter[str] = Counter()
    result = {}
    for order_id in sorted(order_ids):
        used: Counter[str] = Counter()
        booked_lines = {}
        for line in site.orders[order_id]["items"]:
            item = exported.get(line["sku"]) or by_protek.get(line["protek_code"])
            free = max(0, item.quantity - held[item.sku] - used[item.sku]) if item else 0
            booked = min(line["quantity"], free)
            if item:
                used[item.sku] += booked
            booked_lines[(order_id, line["line_id"])] = booked
        held.update(used)
        result.update(booked_lines)
    return result


# -- one round: its own site, journal and CLI ------------------------------------------------
class Round:
    def __init__(self, workdir: Path, rng: random.Random, stock_size: int = 24):
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir, self.rng = workdir, rng
        self.server, self.site = serve()
        self.site.rate_limit_rps = 0
        _short_pages(self.site)
        (workdir / "none.env").write_text("", encoding="utf-8")
        self.stock, self.stock_lines = make_stock(rng, stock_size)
        self.write_stock()
        self.env = base_env(workdir) | {
            "MEGAPTEKA_URL": self.server.url, "MEGAPTEKA_PHARMACY_CODE": "1001", "MEGAPTEKA_SECRET": "s3cret",
            "MEGAPTEKA_COMPANY_INFO": "Московская область, Подольск, Тест Аптека",
            "MEGAPTEKA_STOCK_FILE": str(workdir / "stock.csv"), "MEGAPTEKA_DEPARTMENT": DEPARTMENT}
        self.cli = Cli(workdir, self.env)

    def write_stock(self, filler: int = 0) -> None:
        lines = self.stock_lines + filler_lines(filler)
        (self.workdir / "stock.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1251"))

    def close(self) -> None:
        self.site.on_effect = None
        self.server.stop()

    def inproc(self, command: str, **overrides: str) -> int:
        """The same pass, run in this process (set-up and flush only)."""
        return run_inproc(self.env | overrides, command)

    def add_orders(self, n: int) -> list[int]:
        return [self.site.add_order(order_lines(self.rng, self.stock))["id"] for _ in range(n)]

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.env["MAORDERS_JOURNAL"])
        conn.row_factory = sqlite3.Row
        return conn

    def rerun(self, command: str, **extra_env: str) -> None:
        """A plain rerun of the real CLI: it must finish the work (exit 0)."""
        self.site.faults.delay = 0.0
        done = self.cli.run(command, **extra_env)
        assert done.returncode == 0, f"rerun of {command} exited {done.returncode}: {done.stderr[-2000:]}"


def run_inproc(env: dict[str, str], command: str) -> int:
    from maorders import settings as settings_module
    from maorders.output import Output
    from maorders.runner import AppState, run_pass

    state = AppState(Output(quiet=True), Path(env["MAORDERS_ENV_FILE"]))
    state._settings = settings_module.load(state.env_file, environ=env)  # the real environment stays out
    return run_pass(state, command)


def _short_pages(site) -> None:
    """Cap the pages the site returns (it may return fewer than asked; has_more says so)."""
    for name in ("_get_orders", "_get_events"):
        original = getattr(site, name)

        def capped(request, params, body, original=original):
            limit = int(request.arg("limit", "100"))
            request.query["limit"] = [str(min(limit, PAGE))]
            return original(request, params, body)

        setattr(site, name, capped)


@pytest.fixture
def rounds(tmp_path: Path) -> Iterator[Callable[..., Round]]:
    made: list[Round] = []

    def make(name: str, rng: random.Random, **kwargs: Any) -> Round:
        made.append(Round(tmp_path / name, rng, **kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


# -- the invariants ------------------------------------------------------------------------
def check_invariants(r: Round, *, all_orders: bool = True, drained: bool = True) -> dict[str, Any]:
    """What must hold after any kill and a rerun; returns a few facts for the caller."""
    with r.site.lock:  # a killed client's last request may still be in the emulator's hands
        site_statuses = copy.deepcopy(r.site.order_statuses)
        site_status = {order_id: order["site_status"] for order_id, order in r.site.orders.items()}
        accepted = r.site.counters["status"]
    with closing(r.db()) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        journal_ids = [row[0] for row in db.execute("SELECT id FROM mp_orders")]
        lines = [dict(row) for row in db.execute(
            "SELECT l.*, o.booking_state FROM mp_order_lines l JOIN mp_orders o ON o.id = l.order_id")]
        stock = {row[0]: row[1] for row in db.execute("SELECT sku, quantity FROM mp_stock")}
        outbox = [dict(row) for row in db.execute(
            "SELECT * FROM outbox WHERE connector = 'megapteka' AND kind = 'status' ORDER BY id")]
        attempts = Counter(row[0] for row in db.execute("SELECT outbox_id FROM attempts"))

    # every site order is in the journal exactly once (id is the key; no order lost)
    assert len(journal_ids) == len(set(journal_ids))
    assert set(journal_ids) <= set(site_status), "the journal holds an order the site never sent"
    if all_orders:
        assert sorted(journal_ids) == sorted(site_status), \
            f"orders lost: {sorted(set(site_status) - set(journal_ids))}"

    # no booking doubled: what active bookings hold never exceeds the file's quantity
    held: Counter[str] = Counter()
    for line in lines:
        assert 0 <= line["booked"] <= line["ordered"]
        if line["booking_state"] in ACTIVE and line["booked"]:
            held[line["stock_sku"]] += line["booked"]
    for sku, packs in held.items():
        assert packs <= stock.get(sku, 0), f"{sku}: {packs} packs booked, {stock.get(sku, 0)} in the file"

    # statuses: one record per (order, status) at the site, each under the journal's one id
    by_key = {row["idempotency_key"]: row for row in outbox}
    keys_per_business = Counter(row["business_key"] for row in outbox)
    assert max(keys_per_business.values(), default=1) == 1
    site_ids = set()
    for order_id, records in site_statuses.items():
        statuses = [rec["status"] for rec in records]
        assert len(statuses) == len(set(statuses)), f"order {order_id} got a status twice: {statuses}"
        for rec in records:
            row = by_key.get(rec["status_id"])
            assert row is not None, f"order {order_id}: status {rec['status']} under an id the journal lacks"
            payload = json.loads(row["payload"])
            assert (payload["order_id"], payload["status"]) == (order_id, rec["status"])
            site_ids.add(rec["status_id"])
    assert accepted == len(site_ids)
    for row in outbox:
        if row["state"] == "sent":
            assert row["idempotency_key"] in site_ids, f"{row['business_key']} is 'sent' but not at the site"
            assert attempts[row["id"]] >= 1
        if row["state"] == "failed":  # the site forbids statuses only after its own cancel
            order_id = json.loads(row["payload"])["order_id"]
            assert site_status[order_id] == 3, f"{row['business_key']} refused: {row['last_error']}"
    if drained:
        left = [(row["business_key"], row["state"]) for row in outbox if row["state"] in OPEN_STATES]
        assert not left, f"outbox rows left in flight after the rerun: {left}"
    return {"held": held, "outbox": outbox, "stock": stock, "lines": lines}


def check_bookings_as_sequential(r: Round) -> None:
    """A pull killed anywhere and rerun books exactly what one uninterrupted pull books."""
    with closing(r.db()) as db:
        got = {(row[0], row[1]): row[2] for row in db.execute(
            "SELECT order_id, line_id, booked FROM mp_order_lines")}
        outcomes = dict(db.execute("SELECT id, outcome FROM mp_orders").fetchall())
    cancelled = {event["order_id"] for event in r.site.events if event["status"] == 3}  # before the pull
    want = expected_bookings(r.site, r.stock, [o for o in r.site.orders if o not in cancelled])
    want.update({(o, line["line_id"]): 0 for o in cancelled for line in r.site.orders[o]["items"]})
    assert got == want
    for order_id, order in r.site.orders.items():
        booked = sum(want[(order_id, line["line_id"])] for line in order["items"])
        ordered = sum(line["quantity"] for line in order["items"])
        assert outcomes[order_id] == ("cancelled" if order_id in cancelled else "none" if booked == 0
                                      else "partial" if booked < ordered else "full")
        assert order_id not in cancelled or not r.site.order_statuses.get(order_id)  # no status 1 for it


def check_snapshot(r: Round, completed_before: int) -> None:
    """The site shows the file's default department less what active bookings hold,
    under the one snapshot id the journal recorded, completed exactly once."""
    facts = check_invariants(r)
    with closing(r.db()) as db:
        cursor = db.execute("SELECT value FROM cursors WHERE connector = 'megapteka' "
                            "AND feed = 'stock_snapshot'").fetchone()
    assert cursor is not None and r.site.snapshot_id == cursor[0]
    assert r.site.snapshots_completed == completed_before + 1
    assert r.site.counters["stock_snapshot_complete"] == completed_before + 1
    shown = {item["sku"]: item["quantity"] for item in r.site.stock_items}
    assert len(shown) == len(r.site.stock_items) == len(facts["stock"])
    for sku, quantity in facts["stock"].items():
        assert shown[sku] == max(0, quantity - facts["held"].get(sku, 0))


# -- killing the real CLI --------------------------------------------------------------------


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def pass_span(r: Round, command: str, pid: int, started: float) -> tuple[float, float]:
    """When the pass itself ran (its lock held, its log open), in seconds from the start
    of the process, from the `started (pid N)` line of its log and the run's last line
    (`<pass> exit <code>…`)."""
    from datetime import datetime, timezone

    def at(line: str) -> float:  # the log's times are UTC: 2026-12-06T08:41:06.447Z
        return datetime.strptime(line[:24], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() - started

    lines = (Path(r.env["MAORDERS_LOG_DIR"]) / f"{command}.log").read_text(encoding="utf-8").splitlines()
    first = next(n for n, line in enumerate(lines) if f"{command} started (pid {pid})" in line)
    last = next(n for n in range(first, len(lines)) if f"{command} exit " in lines[n])
    return at(lines[first]), at(lines[last])


def timed_run(r: Round, command: str, **extra_env: str) -> tuple[float, float]:
    """Run the real CLI to its end; (start, end) of the pass inside the process."""
    started = time.time()
    proc = r.cli.popen(command, **extra_env)
    code, err = finish(proc)
    assert code == 0, err[-2000:]
    return pass_span(r, command, proc.pid, started)


@dataclass
class Window:
    start: float  # when the pass began in the control round (its lock taken), from the process start
    span: float  # how long the pass itself lasted there


def wait_until_started(r: Round, command: str, proc: subprocess.Popen) -> bool:
    """Until the pass writes `started (pid N)` to its log (its lock is held, the journal
    about to open); False when the process ended first."""
    log = Path(r.env["MAORDERS_LOG_DIR"]) / f"{command}.log"
    needle = f"{command} started (pid {proc.pid})"
    while proc.poll() is None:
        try:
            if needle in log.read_text(encoding="utf-8", errors="replace"):
                return True
        except FileNotFoundError:
            pass
        time.sleep(0.001)
    return False


def kill_at_random(r: Round, command: str, rng: random.Random, window: Window, **extra_env: str) -> None:
    """Start the real CLI, SIGKILL it at a random instant: one kill in five anywhere in its
    start-up, the others anywhere in the pass itself (timed from the pass's own start, so
    the start-up's jitter does not blur where the kills land)."""
    in_startup = rng.random() < 0.2
    delay = rng.uniform(0, window.start) if in_startup else rng.uniform(0, 1.1 * window.span)
    proc = r.cli.popen(command, **extra_env)
    if in_startup or wait_until_started(r, command, proc):
        time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    code, err = finish(proc)
    assert code in (0, -signal.SIGKILL), f"{command} failed before the kill: {err[-2000:]}"


def kill_on_effect(r: Round, command: str, nth: int, **extra_env: str) -> tuple[int, str]:
    """Start the real CLI and SIGKILL it from inside the emulator, right after its `nth`
    effect is applied and before the reply is written."""
    proc: subprocess.Popen | None = None
    seen = 0

    def strike(name: str) -> None:
        nonlocal seen
        seen += 1
        if seen == nth and proc is not None:
            os.kill(proc.pid, signal.SIGKILL)
            wait_dead(proc.pid)  # dead before the reply leaves: the client never sees it

    r.site.on_effect = strike
    try:
        proc = r.cli.popen(command, **extra_env)
        code, err = finish(proc)
    finally:
        r.site.on_effect = None
    return code, err


# -- scenarios: what is in the journal and at the site before the pass under test ------------
def setup_pull(r: Round) -> None:
    """30 new orders; the customer cancelled about one in five before the pull (its event is
    in the events feed before the pull reads the order): those are never booked."""
    assert r.inproc("export-stock") == 0
    for order_id in r.add_orders(30):
        if r.rng.random() < 0.2:
            r.site.cancel_order(order_id)


def setup_push(r: Round) -> None:
    """Statuses 1/3 of a fresh batch queued; 5 and 7 queued by people for an older batch;
    some older orders cancelled at the site (events 3) and one confirmed (event 8)."""
    from maorders.megapteka import desk

    assert r.inproc("export-stock") == 0
    older = r.add_orders(12)
    assert r.inproc("pull-orders") == 0 and r.inproc("push-statuses") == 0
    with closing(r.db()) as db:
        booked = [row[0] for row in db.execute(
            "SELECT id FROM mp_orders WHERE booking_state = 'New' ORDER BY id") if row[0] in older]
    journal = _open_journal(r)
    try:
        for n, order_id in enumerate(booked):
            if n % 4 == 0:
                r.site.cancel_order(order_id)
            elif n % 4 == 1:
                desk.act(journal, str(order_id), "ready")
            elif n % 4 == 2:
                desk.act(journal, str(order_id), "request-confirmation")
    finally:
        journal.close()
    r.add_orders(18)
    assert r.inproc("pull-orders") == 0


def setup_expire(r: Round) -> None:
    assert r.inproc("export-stock") == 0
    r.add_orders(40)
    assert r.inproc("pull-orders") == 0 and r.inproc("push-statuses") == 0


def setup_export(r: Round, filler: int = 5_001) -> None:
    """Bookings hold stock, so the snapshot depends on the journal too; then the file grows
    past 5,000 rows: the pass under test uploads a new snapshot of 2 parts."""
    assert r.inproc("export-stock") == 0
    r.add_orders(20)
    assert r.inproc("pull-orders") == 0 and r.inproc("push-statuses") == 0
    r.write_stock(filler)


def _open_journal(r: Round):
    from maorders import connectors
    from maorders.journal import Journal

    return Journal.open(Path(r.env["MAORDERS_JOURNAL"]), connectors.migrations())


TTL0 = {"MEGAPTEKA_BOOKING_TTL_HOURS": "0"}


@dataclass
class Scenario:
    command: str
    setup: Callable[[Round], None]
    env: dict[str, str]
    delay: float = DELAY
    stock_size: int = 24

    def after(self, r: Round, completed_before: int) -> None:
        """The rerun is done: flush what the pass queued, then check everything."""
        if self.command == "export-stock":
            check_snapshot(r, completed_before)
            return
        assert r.inproc("push-statuses") == 0
        check_invariants(r)
        if self.command == "pull-orders":
            check_bookings_as_sequential(r)
        if self.command == "expire-bookings":
            with closing(r.db()) as db:
                active = db.execute("SELECT COUNT(*) FROM mp_orders WHERE booking_state IN ('New', 'Closed')")
                assert active.fetchone()[0] == 0
            for order_id, order in r.site.orders.items():  # booked: 1 then 3; not booked: 3
                statuses = [rec["status"] for rec in r.site.order_statuses.get(order_id, [])]
                assert statuses in ([1, 3], [3]) and order["site_status"] == 3, (order_id, statuses)


SCENARIOS = {
    "pull-orders": Scenario("pull-orders", setup_pull, {}),
    "push-statuses": Scenario("push-statuses", setup_push, {}),
    "export-stock": Scenario("export-stock", setup_export, {}),
    "expire-bookings": Scenario("expire-bookings", setup_expire, TTL0, delay=0.0, stock_size=60),
}


def control_window(rounds, scenario: Scenario) -> Window:
    """One unkilled round of the pass: checks it (and that a second run with nothing new
    sends nothing), and measures when the pass starts in the process's life and how long
    it lasts, so that the kills land inside it."""
    r = rounds("control", random.Random(-1), stock_size=scenario.stock_size)
    scenario.setup(r)
    completed = r.site.snapshots_completed
    r.site.faults.delay = scenario.delay
    start, end = timed_run(r, scenario.command, **scenario.env)
    effects = dict(r.site.counters)
    timed_run(r, scenario.command, **scenario.env)  # nothing new: changes nothing, sends nothing
    for name in ("status", "stock_snapshot_complete"):
        assert r.site.counters[name] == effects.get(name, 0)
    r.site.faults.delay = 0.0
    scenario.after(r, completed)
    return Window(start=max(0.0, start), span=max(0.0, end - start))


def progress(r: Round, command: str, before: dict[str, int]) -> str:
    """Where the kill landed, from what the journal and the site show right after it."""
    with closing(r.db()) as db:
        started = db.execute("SELECT COUNT(*) FROM runs WHERE command = ? AND finished_at IS NULL",
                             (command,)).fetchone()[0]
        finished = db.execute("SELECT COUNT(*) FROM runs WHERE command = ? AND finished_at IS NOT NULL",
                              (command,)).fetchone()[0]
        done = {"pull-orders": "SELECT COUNT(*) FROM mp_orders",
                "push-statuses": "SELECT COUNT(*) FROM outbox WHERE state IN ('sent', 'unknown')",
                "expire-bookings": "SELECT COUNT(*) FROM mp_orders WHERE booking_state = 'Deleted'",
                "export-stock": None}[command]
        value = db.execute(done).fetchone()[0] if done else r.site.counters["stock_part"]
    if finished > before["finished"]:
        return "after the pass"
    if not started:
        return "before the run record"
    return f"mid-pass ({value - before['value']} done)"


def progress_before(r: Round, command: str) -> dict[str, int]:
    facts = progress(r, command, {"finished": 10**9, "value": 0})
    with closing(r.db()) as db:
        finished = db.execute("SELECT COUNT(*) FROM runs WHERE command = ? AND finished_at IS NOT NULL",
                              (command,)).fetchone()[0]
    value = int(facts.split("(")[1].split()[0]) if "(" in facts else 0
    return {"finished": finished, "value": value}


# -- 1. random-instant kills ----------------------------------------------------------------
@pytest.mark.parametrize("command", list(SCENARIOS))
def test_random_instant_kill_then_rerun(rounds, crash_rounds: int, command: str) -> None:
    scenario = SCENARIOS[command]
    window = control_window(rounds, scenario)
    landed: Counter[str] = Counter()
    for n in range(crash_rounds):
        rng = random.Random(n)
        r = rounds(f"round-{n}", rng, stock_size=scenario.stock_size)
        scenario.setup(r)
        completed = r.site.snapshots_completed
        r.site.faults.delay = scenario.delay
        before = progress_before(r, command)
        kill_at_random(r, command, rng, window, **scenario.env)
        landed[progress(r, command, before)] += 1
        check_invariants(r, all_orders=False, drained=False)  # even right after the kill
        r.rerun(command, **scenario.env)
        scenario.after(r, completed)
        r.close()
    print(f"\n{command}: pass from {window.start:.3f} s for {window.span:.3f} s; kills landed: "
          f"{dict(sorted(landed.items()))}")


# -- 2. effect-hook kills: the effect is applied, the reply never arrives --------------------
def test_kill_after_status_accepted_then_rerun(rounds, crash_rounds: int) -> None:
    for n in range(crash_rounds):
        rng = random.Random(n)
        r = rounds(f"round-{n}", rng)
        setup_push(r)
        with closing(r.db()) as db:
            queued = db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
        nth = rng.randint(1, queued)
        before = r.site.counters["status"]
        code, err = kill_on_effect(r, "push-statuses", nth)
        assert code == -signal.SIGKILL, f"the {nth}th effect of {queued} never came: {err[-2000:]}"
        assert r.site.counters["status"] == before + nth
        with closing(r.db()) as db:  # the record the site took is in flight in the journal
            states = Counter(row[0] for row in db.execute("SELECT state FROM outbox"))
        assert states["unknown"] == 1, states
        r.rerun("push-statuses")
        check_invariants(r)
        # every queued status is at the site exactly once, the killed one included
        assert r.site.counters["status"] == before + queued
        r.close()


def test_kill_after_stock_part_stored_then_rerun(rounds, crash_rounds: int) -> None:
    for n in range(crash_rounds):
        rng = random.Random(n)
        r = rounds(f"round-{n}", rng)
        setup_export(r)
        completed = r.site.snapshots_completed
        # 2 parts: effects stock_part, stock_part, then stock_snapshot_complete with the last part
        nth = rng.randint(1, 3)
        code, err = kill_on_effect(r, "export-stock", nth)
        assert code == -signal.SIGKILL, err[-2000:]
        assert r.site.snapshots_completed == completed + (1 if nth >= 2 else 0)  # the last part completes it
        r.rerun("export-stock")
        check_snapshot(r, completed)
        assert r.site.counters["stock_part_distinct"] >= 3  # the set-up's part and the 2 new ones
        r.close()


# -- 3. the reply lost after the effect ------------------------------------------------------
def test_reply_dropped_after_effect_then_rerun(rounds, crash_rounds: int) -> None:
    """Statuses in even rounds, stock parts in odd ones."""
    for n in range(crash_rounds):
        rng = random.Random(n)
        command = ("push-statuses", "export-stock")[n % 2]
        r = rounds(f"round-{n}", rng)
        (setup_export if command == "export-stock" else setup_push)(r)
        completed, before = r.site.snapshots_completed, r.site.counters["status"]
        r.site.faults.drop_after_effect = rng.randint(1, 3)
        retries = str(rng.choice([0, 1]))  # 0: the first lost reply ends the pass (75); 1: retried in it
        done = r.cli.run(command, MAORDERS_HTTP_RETRIES=retries)
        assert done.returncode in (0, 75), done.stderr[-2000:]
        if retries == "0":
            assert done.returncode == 75
        check_invariants(r, drained=False)  # the site has the effect; the journal has it in flight
        r.site.faults.drop_after_effect = 0
        r.rerun(command)
        if command == "export-stock":
            check_snapshot(r, completed)
        else:
            facts = check_invariants(r)
            sent = sum(1 for row in facts["outbox"] if row["state"] == "sent")
            assert r.site.counters["status"] == sent
            assert r.site.counters["status"] > before
        r.close()


# -- 4. a state machine: orders, cancels, passes with faults and crashes in any order -----------
class SimulatedCrash(BaseException):
    """Stands for a kill inside the process: not an Exception, so nothing in the pass catches it."""


class JournalUnderFire(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        import tempfile

        self.rng = random.Random(0)
        self.tmp = tempfile.TemporaryDirectory(prefix="maorders-crash-")
        self.round = Round(Path(self.tmp.name), self.rng, stock_size=5)  # few items: orders compete
        self.round.env["MAORDERS_HTTP_RETRIES"] = "0"  # a fault ends the pass (75): no backoff sleeps

    def teardown(self) -> None:
        try:
            if getattr(self, "_ready", False):
                self.drain()
        finally:
            self.round.close()
            self.tmp.cleanup()

    @initialize()
    def stock_exported(self) -> None:
        assert self.round.inproc("export-stock") == 0
        self._ready = True

    # -- site side ------------------------------------------------------------------
    @rule(count=st.integers(1, 6), seed=st.integers(0, 2**16))
    def orders_arrive(self, count: int, seed: int) -> None:
        self.round.rng.seed(seed)
        self.round.add_orders(count)

    @precondition(lambda self: any(o["site_status"] not in (2, 3) for o in self.round.site.orders.values()))
    @rule(data=st.data())
    def customer_cancels(self, data: st.DataObject) -> None:
        open_ids = sorted(oid for oid, o in self.round.site.orders.items() if o["site_status"] not in (2, 3))
        self.round.site.cancel_order(data.draw(st.sampled_from(open_ids)))

    # -- our passes, under faults -----------------------------------------------------
    def _faults(self, data: st.DataObject) -> None:
        faults = self.round.site.faults
        faults.error_rate = data.draw(st.sampled_from([0.0, 0.0, 0.2]), label="error_rate")
        faults.drop_rate = data.draw(st.sampled_from([0.0, 0.0, 0.2]), label="drop_rate")
        faults.malformed_rate = data.draw(st.sampled_from([0.0, 0.0, 0.2]), label="malformed_rate")
        faults.drop_after_effect = data.draw(st.integers(0, 2), label="drop_after_effect")
        self.round.site._random.seed(data.draw(st.integers(0, 2**16), label="fault_seed"))

    def _run(self, command: str, crash: tuple[str, int] | None) -> None:
        from maorders.journal import Journal

        calls = 0
        if crash is None:
            code = self.round.inproc(command)
        else:
            name, nth = crash
            original = getattr(Journal, name)

            def crashing(journal, *args, **kwargs):
                nonlocal calls
                calls += 1
                if calls == nth:
                    raise SimulatedCrash(name)
                return original(journal, *args, **kwargs)

            with mock.patch.object(Journal, name, crashing):
                try:
                    code = self.round.inproc(command)
                except SimulatedCrash:
                    code = None
        faults = self.round.site.faults
        faults.error_rate = faults.drop_rate = faults.malformed_rate = 0.0
        faults.drop_after_effect = 0
        assert code in (0, 75, None), f"{command} exited {code}"

    @rule(data=st.data(), crash=st.none() | st.integers(1, 4))
    def pull_orders(self, data: st.DataObject, crash: int | None) -> None:
        """A crash inside the page's transaction (at its cursor write) rolls the page back."""
        self._faults(data)
        self._run("pull-orders", None if crash is None else ("set_cursor", crash))

    @rule(data=st.data(), crash=st.none() | st.integers(1, 4))
    def push_statuses(self, data: st.DataObject, crash: int | None) -> None:
        """A crash after the site took a status, before the journal recorded it."""
        self._faults(data)
        self._run("push-statuses", None if crash is None else ("finish_send", crash))

    @rule()
    def bookings_expire(self) -> None:
        self._run("expire-bookings", None)

    @rule()
    def drain(self) -> None:
        """No faults, no crashes: two clean rounds finish every piece of work."""
        for command in ("pull-orders", "push-statuses", "push-statuses"):
            assert self.round.inproc(command) == 0
        check_invariants(self.round, all_orders=True, drained=True)

    @invariant()
    def journal_consistent(self) -> None:
        if getattr(self, "_ready", False):
            check_invariants(self.round, all_orders=False, drained=False)


JournalUnderFire.TestCase.settings = settings(
    max_examples=15, stateful_step_count=12, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_journal_under_fire = JournalUnderFire.TestCase
