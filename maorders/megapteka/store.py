"""MegApteka's tables in the journal: the stock of the default department, orders,
their lines and booking states. Reservations are not stored: they are the sum
of what active bookings' lines hold, so they can never drift.
"""

from __future__ import annotations

import json
from operator import itemgetter
from typing import Any, Iterable

from sqlite3 import Connection

from maorders.journal import Journal, stamp
from maorders.megapteka.booking import ACTIVE, Decision, Order, OrderLine
from maorders.megapteka.stock import CODE_COLUMNS

CONNECTOR = "megapteka"


ACTIVE_SQL = "(" + ", ".join(f"'{state}'" for state in ACTIVE) + ")"
RESERVED_SQL = f"""SELECT l.stock_sku, SUM(l.booked) FROM mp_order_lines l
    JOIN mp_orders o ON o.id = l.order_id
    WHERE o.booking_state IN {ACTIVE_SQL} AND l.booked > 0 {{where}} GROUP BY l.stock_sku"""


# -- stock ------------------------------------------------------------------------------
# What the journal keeps of a StockRow: line, sku, quantity, price and the four codes.
stock_record = itemgetter(0, 1, 5, 6, 7, 8, 9, 10)


def replace_stock(db: Connection, records: Iterable[tuple]) -> None:
    """Inside a write: the whole department stock is replaced by `records` (`stock_record`s
    with unique skus, streamed).

    The indexes are dropped and built again after the load, in the same transaction (a
    kill rolls it all back): building an index once is about twice as fast as keeping it
    up to date row by row for a 200,000-row file.
    """
    db.execute("DELETE FROM mp_stock")
    for name in STOCK_INDEXES:
        db.execute(f"DROP INDEX IF EXISTS {name}")
    db.executemany("INSERT INTO mp_stock VALUES (?, ?, ?, ?, ?, ?, ?, ?)", records)
    index_stock(db)


STOCK_INDEXES = ("mp_stock_sku", *(f"mp_stock_{code}" for code in CODE_COLUMNS))


def index_stock(db: Connection) -> None:
    db.execute("CREATE UNIQUE INDEX mp_stock_sku ON mp_stock (sku)")
    for code in CODE_COLUMNS:  # partial: most rows carry only some of the four codes
        db.execute(f"CREATE INDEX mp_stock_{code} ON mp_stock ({code}) WHERE {code} <> ''")


def reserved(db: Connection, sku: str | None = None) -> dict[str, int]:
    """Packs held by active bookings, per stock sku."""
    where, params = ("AND l.stock_sku = ?", (sku,)) if sku else ("", ())
    return {row[0]: row[1] for row in db.execute(RESERVED_SQL.format(where=where), params)}


def match_stock(db: Connection, line: OrderLine) -> tuple[str | None, int]:
    """The stock item an order line names (sku first, then the four codes) and what is free."""
    for column in ("sku", *CODE_COLUMNS):
        value = getattr(line, column)
        if not value:
            continue
        # `<> ''` repeats the partial index's WHERE: without it SQLite cannot use the index
        # and scans the whole stock for every barcode / Протек / Катрен / ЕГК lookup.
        row = db.execute(f"SELECT sku, quantity FROM mp_stock WHERE {column} = ? AND {column} <> '' LIMIT 1",
                         (value,)).fetchone()
        if row:
            held = reserved(db, row[0]).get(row[0], 0)
            return row[0], max(0, row[1] - held)
    return None, 0


# -- orders -------------------------------------------------------------------------------
def known(db: Connection, order_id: int) -> bool:
    return db.execute("SELECT 1 FROM mp_orders WHERE id = ?", (order_id,)).fetchone() is not None


def save_order(db: Connection, raw: dict[str, Any], order: Order, decision: Decision) -> None:
    now = stamp()
    booking_state, order_state = ("New", "Новый") if decision.booked else (None, "Отменен")
    db.execute("""INSERT INTO mp_orders (id, number, received_at, payload, outcome, booking_state,
                  order_state, booked_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
               (order.id, order.number, now, json.dumps(raw, ensure_ascii=False), decision.outcome,
                booking_state, order_state, now if decision.booked else None, now))
    names = {line.line_id: line for line in order.lines}
    db.executemany(
        "INSERT INTO mp_order_lines VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(order.id, lb.line_id, names[lb.line_id].name, lb.stock_sku, lb.ordered, lb.booked,
          names[lb.line_id].price) for lb in decision.lines])


def save_cancelled(db: Connection, raw: dict[str, Any], order: Order) -> None:
    """An order the site cancelled before we received it: kept, never booked, nothing held."""
    now = stamp()
    db.execute("""INSERT INTO mp_orders (id, number, received_at, payload, outcome, booking_state,
                  order_state, updated_at) VALUES (?, ?, ?, ?, 'cancelled', NULL, 'Отменен', ?)""",
               (order.id, order.number, now, json.dumps(raw, ensure_ascii=False), now))
    db.executemany("INSERT INTO mp_order_lines VALUES (?, ?, ?, NULL, ?, 0, ?)",
                        [(order.id, line.line_id, line.name, line.quantity, line.price) for line in order.lines])


def wait_for_order(db: Connection, event: dict[str, Any]) -> None:
    """Keep a site event until its order arrives (a re-read event is kept once)."""
    db.execute("""INSERT OR IGNORE INTO mp_waiting_events (event_id, order_id, status, payload, received_at)
                  VALUES (?, ?, ?, ?, ?)""", (event["id"], event["order_id"], event["status"],
                                              json.dumps(event, ensure_ascii=False), stamp()))


def take_waiting_events(db: Connection, order_id: int) -> list[dict[str, Any]]:
    """The events that waited for this order, oldest first; gone from the table once taken
    (in the caller's transaction, with the order they apply to)."""
    rows = db.execute("SELECT payload FROM mp_waiting_events WHERE order_id = ? ORDER BY event_id",
                      (order_id,)).fetchall()
    if rows:
        db.execute("DELETE FROM mp_waiting_events WHERE order_id = ?", (order_id,))
    return [json.loads(row[0]) for row in rows]


def save_rejected(db: Connection, raw: dict[str, Any], problem: str) -> None:
    now = stamp()
    db.execute("""INSERT INTO mp_orders (id, number, received_at, payload, outcome, booking_state,
                  order_state, updated_at, problem) VALUES (?, ?, ?, ?, 'rejected', NULL, 'Ошибка', ?, ?)""",
               (raw["id"], str(raw.get("number") or raw["id"]), now, json.dumps(raw, ensure_ascii=False),
                now, problem))


def find_order(journal: Journal, ref: str) -> dict[str, Any] | None:
    """An order as people know it: its site number (MA-1042) or its site id (1042)."""
    row = journal.one("SELECT * FROM mp_orders WHERE number = ?", (ref,))
    if row is None and ref.strip().isdigit():
        row = journal.one("SELECT * FROM mp_orders WHERE id = ?", (int(ref),))
    return row


def order_by_id(db: Connection, order_id: int) -> dict[str, Any] | None:
    row = db.execute("SELECT * FROM mp_orders WHERE id = ?", (order_id,)).fetchone()
    return dict(row) if row else None


def lines_of(journal: Journal, order_id: int) -> list[dict[str, Any]]:
    return journal.rows("SELECT * FROM mp_order_lines WHERE order_id = ? ORDER BY line_id", (order_id,))


def set_states(db: Connection, order_id: int, booking_state: str | None, order_state: str) -> None:
    db.execute("UPDATE mp_orders SET booking_state = ?, order_state = ?, updated_at = ? WHERE id = ?",
               (booking_state, order_state, stamp(), order_id))


def active_bookings(journal: Journal) -> list[dict[str, Any]]:
    return journal.rows(f"SELECT * FROM mp_orders WHERE booking_state IN {ACTIVE_SQL} ORDER BY id")


def list_orders(journal: Journal, state: str | None = None, cancelled_by_client: bool = False,
                limit: int = 200) -> list[dict[str, Any]]:
    """The saved filters people use: by booking state, or «Аннулирован клиентом» not deleted."""
    sql, params = "SELECT * FROM mp_orders WHERE 1 = 1", []
    if cancelled_by_client:
        sql += " AND order_state = 'Аннулирован клиентом' AND booking_state IS NOT 'Deleted'"
    if state:
        sql += " AND (booking_state = ? OR order_state = ? OR outcome = ?)"
        params += [state, state, state]
    return journal.rows(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
