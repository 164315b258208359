"""The loyalty tables in the journal: created and changed only here, in order.

Applied by `maorders.journal` when this file differs from the one the journal last saw.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("loyalty")


@migrations()
def m001_sales_and_refunds(db: Database) -> None:
    db.execute("""CREATE TABLE loyalty_sales (
        id INTEGER PRIMARY KEY,
        receipt_number TEXT NOT NULL UNIQUE,
        generation INTEGER NOT NULL DEFAULT 1,
        request_id TEXT NOT NULL UNIQUE,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        client_id TEXT, payment_type TEXT NOT NULL,
        calculation TEXT,
        operation_id TEXT UNIQUE,
        total_to_pay TEXT, points_redeemed TEXT, points_accrued TEXT, balance TEXT,
        error TEXT,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL, confirmed_at TEXT)""")
    db.execute("CREATE INDEX loyalty_sales_state ON loyalty_sales (state, updated_at)")
    db.execute("""CREATE TABLE loyalty_refunds (
        id INTEGER PRIMARY KEY,
        refund_key TEXT NOT NULL UNIQUE,
        request_id TEXT NOT NULL UNIQUE,
        operation_id TEXT NOT NULL,
        sale_id INTEGER REFERENCES loyalty_sales(id),
        amount TEXT,
        return_receipt TEXT,
        reason TEXT NOT NULL,
        state TEXT NOT NULL,
        refund_operation_id TEXT,
        points_returned TEXT, points_revoked TEXT, balance TEXT,
        error TEXT,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""")
    db.execute("CREATE INDEX loyalty_refunds_operation ON loyalty_refunds (operation_id)")
    db.execute("CREATE INDEX loyalty_refunds_state ON loyalty_refunds (state, updated_at)")
