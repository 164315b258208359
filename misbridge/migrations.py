"""The misbridge tables in the journal: created and changed only here, in order.

Applied by `maorders.journal` when this file differs from the one the journal last saw.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("misbridge")


@migrations()
def m001_tables(db: Database) -> None:
    db.execute("""CREATE TABLE misbridge_invoices (
        guid TEXT PRIMARY KEY, number INTEGER NOT NULL, date TEXT NOT NULL, parent_guid TEXT,
        cancelled INTEGER NOT NULL DEFAULT 0, cashdesk_guid TEXT, payer_guid TEXT NOT NULL,
        invoice_sum TEXT NOT NULL, pay_sum TEXT NOT NULL, state TEXT NOT NULL,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""")
    db.execute("CREATE INDEX misbridge_invoices_number ON misbridge_invoices (number)")
    db.execute("""CREATE TABLE misbridge_services (
        invoice_guid TEXT NOT NULL REFERENCES misbridge_invoices(guid), position INTEGER NOT NULL,
        sm_guid TEXT NOT NULL, code TEXT NOT NULL, name TEXT NOT NULL, count TEXT NOT NULL,
        price TEXT NOT NULL, cost TEXT NOT NULL, tax TEXT NOT NULL, vat TEXT NOT NULL,
        PRIMARY KEY (invoice_guid, position))""")
    db.execute("""CREATE TABLE misbridge_catalog (
        sm_guid TEXT PRIMARY KEY, code TEXT NOT NULL, name TEXT NOT NULL, tax TEXT NOT NULL,
        edited_locally INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL)""")
    db.execute("""CREATE TABLE misbridge_payers (
        payer_guid TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at TEXT NOT NULL)""")
    db.execute("""CREATE TABLE misbridge_register (
        id INTEGER PRIMARY KEY, fetched_at TEXT NOT NULL, invoice_guid TEXT, number INTEGER,
        payer_guid TEXT, accepted INTEGER NOT NULL, problem TEXT, raw TEXT NOT NULL)""")
    db.execute("CREATE INDEX misbridge_register_time ON misbridge_register (fetched_at)")
    db.execute("""CREATE TABLE misbridge_receipts (
        id INTEGER PRIMARY KEY, invoice_guid TEXT NOT NULL REFERENCES misbridge_invoices(guid),
        invoice_num INTEGER NOT NULL, cashdesk_guid TEXT NOT NULL, check_num INTEGER NOT NULL,
        type INTEGER NOT NULL, bill_date TEXT NOT NULL, payments TEXT NOT NULL, total TEXT NOT NULL,
        partial INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
        UNIQUE (cashdesk_guid, check_num))""")
    db.execute("CREATE INDEX misbridge_receipts_invoice ON misbridge_receipts (invoice_guid)")
    db.execute("""CREATE TABLE misbridge_ereceipts (
        id INTEGER PRIMARY KEY, receipt_id INTEGER NOT NULL REFERENCES misbridge_receipts(id),
        channel TEXT NOT NULL, recipient TEXT NOT NULL, message_id TEXT NOT NULL,
        subject TEXT NOT NULL, body_text TEXT NOT NULL, body_html TEXT NOT NULL, sms_text TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued', status_code INTEGER, status_text TEXT, sms_id TEXT,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL, sent_at TEXT)""")
    db.execute("CREATE INDEX misbridge_ereceipts_state ON misbridge_ereceipts (state)")
    db.execute("""CREATE TABLE misbridge_history (
        id INTEGER PRIMARY KEY, at TEXT NOT NULL, method TEXT NOT NULL, invoice_guid TEXT NOT NULL,
        invoice_num INTEGER NOT NULL, check_num INTEGER, attempt INTEGER NOT NULL, http_code INTEGER,
        result INTEGER, message TEXT, payments TEXT, outbox_id INTEGER NOT NULL)""")
    db.execute("CREATE INDEX misbridge_history_invoice ON misbridge_history (invoice_guid)")
    db.execute("CREATE INDEX misbridge_history_time ON misbridge_history (at)")
