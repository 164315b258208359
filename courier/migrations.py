"""The courier tables in the journal: created and changed only here, in order.

Applied by `maorders.journal` when this file differs from the one the journal last saw.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("courier")


@migrations()
def m001_shipments(db: Database) -> None:
    db.execute("""CREATE TABLE courier_shipments (
        id INTEGER PRIMARY KEY,
        crm_order_id INTEGER NOT NULL UNIQUE,
        crm_number TEXT NOT NULL,
        orderno TEXT NOT NULL UNIQUE,
        generation INTEGER NOT NULL DEFAULT 1,
        state TEXT NOT NULL,
        ordercode TEXT, awb TEXT,
        measoft_status TEXT, measoft_title TEXT, measoft_time TEXT, measoft_event TEXT,
        crm_status TEXT,
        error TEXT,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""")
    db.execute("CREATE INDEX courier_shipments_number ON courier_shipments (crm_number)")
    db.execute("CREATE INDEX courier_shipments_state ON courier_shipments (state)")
    db.execute("""CREATE TABLE courier_statuses (
        id INTEGER PRIMARY KEY,
        shipment_id INTEGER NOT NULL REFERENCES courier_shipments(id),
        orderno TEXT NOT NULL, status TEXT NOT NULL, title TEXT, event_time TEXT NOT NULL,
        paytype TEXT, price TEXT, returns TEXT, crm_status TEXT, received_at TEXT NOT NULL,
        UNIQUE (orderno, status, event_time))""")
    db.execute("CREATE INDEX courier_statuses_shipment ON courier_statuses (shipment_id)")


@migrations()
def m002_held_status(db: Database) -> None:
    # the latest MeaSoft status that came while our cancel was pending: passed to the CRM
    # once the cancel is known to have failed (no status swallowed)
    db.execute("ALTER TABLE courier_shipments ADD COLUMN held_event TEXT")
