"""The megapteka tables in the journal: created and changed only here, in order.

Applied by `maorders.journal` when this file differs from the one the journal last saw.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from maorders.megapteka.store import index_stock

migrations = Migrations("megapteka")


@migrations()
def m001_tables(db: Database) -> None:
    # What the booking rules need of each stock row (names go to the site, not here).
    # No primary key: its unique index is built after each load (see replace_stock).
    db.execute("""CREATE TABLE mp_stock (
        line INTEGER, sku TEXT NOT NULL, quantity INTEGER NOT NULL, price REAL NOT NULL,
        barcode TEXT, protek_code TEXT, katren_code TEXT, egk_code TEXT)""")
    index_stock(db)
    db.execute("""CREATE TABLE mp_orders (
        id INTEGER PRIMARY KEY, number TEXT NOT NULL, received_at TEXT NOT NULL,
        payload TEXT NOT NULL, outcome TEXT NOT NULL, booking_state TEXT, order_state TEXT NOT NULL,
        booked_at TEXT, updated_at TEXT NOT NULL, problem TEXT)""")
    db.execute("CREATE INDEX mp_orders_number ON mp_orders (number)")
    db.execute("CREATE INDEX mp_orders_booking ON mp_orders (booking_state)")
    db.execute("""CREATE TABLE mp_order_lines (
        order_id INTEGER NOT NULL REFERENCES mp_orders(id), line_id INTEGER NOT NULL,
        name TEXT, stock_sku TEXT, ordered INTEGER NOT NULL, booked INTEGER NOT NULL, price REAL,
        PRIMARY KEY (order_id, line_id))""")
    db.execute("CREATE INDEX mp_order_lines_sku ON mp_order_lines (stock_sku)")


@migrations()
def m002_waiting_events(db: Database) -> None:
    # A site event (3 cancel, 8 confirm) for an order not received yet waits here, and is
    # applied when the order arrives: the events cursor moves past it only once it is kept.
    db.execute("""CREATE TABLE mp_waiting_events (
        event_id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, status INTEGER NOT NULL,
        payload TEXT NOT NULL, received_at TEXT NOT NULL)""")
    db.execute("CREATE INDEX mp_waiting_events_order ON mp_waiting_events (order_id)")
