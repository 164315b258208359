"""The cash desk's tables in the journal. What is sent lives in the shared outbox (connector
"misbridge", kinds receive / pay / email / sms / cashdesks); each MIS request is also kept in
`misbridge_history` with its Result, Message and the Payments JSON it carried (seed §13, §15).

- misbridge_invoices    one row an invoice (its own guid; a child invoice is its own row)
- misbridge_services    the invoice's services as the receipt prints them (name, VAT as mapped)
- misbridge_catalog     the local nomenclature by smGuid (seed §9.3); misbridge_payers by payerGuid
- misbridge_register    every invoice as the MIS sent it, each time it came («История МИС», §14, §17)
- misbridge_receipts    fiscalised receipts: sale (Type 1) or refund (Type 2), check number
                        unique per cash desk, BillDate fixed at recording
- misbridge_ereceipts   the buyer's e-receipt queue (e-mail or SMS), a status per recipient
- misbridge_history     each Receive/Pay attempt: time, attempt no, HTTP code, Result, Message
Personal data (payer names, birthdays, phones, e-mails) stays in these tables; it is never
logged nor put in a pass's --json.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlite3 import Connection

from maorders.clock import now, stamp
from maorders.journal import Journal
from misbridge import replies

CONNECTOR = "misbridge"
OPEN = ("pending", "retry", "unknown")


def one(db: Connection, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
    row = db.execute(sql, params).fetchone()
    return dict(row) if row else None


def rows(db: Connection, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in db.execute(sql, params).fetchall()]


# -- invoices ------------------------------------------------------------------------------
def invoice(db: Connection, guid: str) -> dict[str, Any] | None:
    return one(db, "SELECT * FROM misbridge_invoices WHERE guid = ?", (guid,))


def find_invoice(journal: Journal, ref: str) -> dict[str, Any] | None:
    """An invoice as the desk knows it: its number (the newest of that number) or its guid."""
    ref = ref.strip()
    if ref.isdigit():
        return journal.one("SELECT * FROM misbridge_invoices WHERE number = ? ORDER BY created_at DESC LIMIT 1",
                           (int(ref),))
    return journal.one("SELECT * FROM misbridge_invoices WHERE guid = ?", (ref.lower(),))


def save_invoice(db: Connection, inv: Any, state: str) -> None:
    db.execute("""INSERT INTO misbridge_invoices (guid, number, date, parent_guid, cancelled, cashdesk_guid,
                  payer_guid, invoice_sum, pay_sum, state, created_at, updated_at)
                  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                  ON CONFLICT (guid) DO UPDATE SET number = excluded.number, date = excluded.date,
                  parent_guid = excluded.parent_guid, cancelled = MAX(cancelled, excluded.cancelled),
                  cashdesk_guid = excluded.cashdesk_guid, payer_guid = excluded.payer_guid,
                  invoice_sum = excluded.invoice_sum, pay_sum = excluded.pay_sum, state = excluded.state,
                  updated_at = excluded.updated_at""",
               (inv.guid, inv.number, inv.date, inv.parent_guid, int(inv.cancelled), inv.cashdesk_guid,
                inv.payer.guid, str(inv.invoice_sum), str(inv.pay_sum), state, stamp(), stamp()))


def set_invoice_state(db: Connection, guid: str, state: str) -> None:
    db.execute("UPDATE misbridge_invoices SET state = ?, updated_at = ? WHERE guid = ?", (state, stamp(), guid))


def replace_services(db: Connection, invoice_guid: str, lines: list[dict[str, Any]]) -> None:
    db.execute("DELETE FROM misbridge_services WHERE invoice_guid = ?", (invoice_guid,))
    db.executemany("""INSERT INTO misbridge_services (invoice_guid, position, sm_guid, code, name, count, price,
                      cost, tax, vat) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                   [(invoice_guid, i, l["sm_guid"], l["code"], l["name"], l["count"], l["price"], l["cost"],
                     l["tax"], l["vat"]) for i, l in enumerate(lines)])


def services(db: Connection, invoice_guid: str) -> list[dict[str, Any]]:
    return rows(db, "SELECT * FROM misbridge_services WHERE invoice_guid = ? ORDER BY position", (invoice_guid,))


def catalog_entry(db: Connection, sm_guid: str) -> dict[str, Any] | None:
    return one(db, "SELECT code, name, tax FROM misbridge_catalog WHERE sm_guid = ?", (sm_guid,))


def save_catalog_entry(db: Connection, sm_guid: str, entry: dict[str, Any]) -> None:
    db.execute("""INSERT INTO misbridge_catalog (sm_guid, code, name, tax, updated_at) VALUES (?, ?, ?, ?, ?)
                  ON CONFLICT (sm_guid) DO UPDATE SET code = excluded.code, name = excluded.name,
                  tax = excluded.tax, edited_locally = 0, updated_at = excluded.updated_at""",
               (sm_guid, entry["code"], entry["name"], entry["tax"], stamp()))


def edit_catalog_entry(db: Connection, sm_guid: str, name: str | None, tax: str | None) -> int:
    return db.execute("""UPDATE misbridge_catalog SET name = COALESCE(?, name), tax = COALESCE(?, tax),
                         edited_locally = 1, updated_at = ? WHERE sm_guid = ?""",
                      (name, tax, stamp(), sm_guid)).rowcount


def payer(db: Connection, payer_guid: str) -> dict[str, Any] | None:
    row = one(db, "SELECT data FROM misbridge_payers WHERE payer_guid = ?", (payer_guid,))
    return json.loads(row["data"]) if row else None


def save_payer(db: Connection, payer_guid: str, data: dict[str, Any]) -> None:
    db.execute("""INSERT INTO misbridge_payers (payer_guid, data, updated_at) VALUES (?, ?, ?)
                  ON CONFLICT (payer_guid) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at""",
               (payer_guid, json.dumps(data, ensure_ascii=False), stamp()))


def register(db: Connection, raw: Any, guid: str | None, number: int | None, payer_guid: str | None,
             problem: str | None) -> None:
    db.execute("""INSERT INTO misbridge_register (fetched_at, invoice_guid, number, payer_guid, accepted, problem, raw)
                  VALUES (?, ?, ?, ?, ?, ?, ?)""",
               (stamp(), guid, number, payer_guid, int(problem is None), problem, replies.stored(raw)))


# -- receipts ------------------------------------------------------------------------------
def receipts_of(db: Connection, invoice_guid: str) -> list[dict[str, Any]]:
    return rows(db, "SELECT * FROM misbridge_receipts WHERE invoice_guid = ? ORDER BY id", (invoice_guid,))


def paid_so_far(db: Connection, invoice_guid: str) -> tuple[Decimal, Decimal]:
    """(sold, refunded) on this invoice, from the receipts recorded at this desk."""
    sold, refunded = Decimal("0.00"), Decimal("0.00")
    for r in receipts_of(db, invoice_guid):
        if r["type"] == 1:
            sold += Decimal(r["total"])
        else:
            refunded += Decimal(r["total"])
    return sold, refunded


def check_used(db: Connection, cashdesk_guid: str, check_num: int) -> dict[str, Any] | None:
    return one(db, "SELECT * FROM misbridge_receipts WHERE cashdesk_guid = ? AND check_num = ?",
               (cashdesk_guid, check_num))


def add_receipt(db: Connection, inv: dict[str, Any], cashdesk_guid: str, check_num: int, kind: int,
                bill_date: str, payments: dict[str, Any], total: Decimal, partial: bool) -> int:
    return db.execute("""INSERT INTO misbridge_receipts (invoice_guid, invoice_num, cashdesk_guid, check_num, type,
                         bill_date, payments, total, partial, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                      (inv["guid"], inv["number"], cashdesk_guid, check_num, kind, bill_date,
                       json.dumps(payments, ensure_ascii=False), str(total), int(partial), stamp())).lastrowid


def add_ereceipt(db: Connection, receipt_id: int, channel: str, recipient: str, message_id: str,
                 subject: str, body_text: str, body_html: str, sms_text: str) -> int:
    return db.execute("""INSERT INTO misbridge_ereceipts (receipt_id, channel, recipient, message_id, subject,
                         body_text, body_html, sms_text, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                      (receipt_id, channel, recipient, message_id, subject, body_text, body_html, sms_text,
                       stamp(), stamp())).lastrowid


def ereceipt(db: Connection, ereceipt_id: int) -> dict[str, Any] | None:
    return one(db, "SELECT * FROM misbridge_ereceipts WHERE id = ?", (ereceipt_id,))


def set_ereceipt(db: Connection, ereceipt_id: int, state: str, code: int | None, text: str | None,
                 sms_id: str | None = None) -> None:
    db.execute("""UPDATE misbridge_ereceipts SET state = ?, status_code = ?, status_text = ?,
                  sms_id = COALESCE(?, sms_id), updated_at = ?,
                  sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE id = ?""",
               (state, code, text, sms_id, stamp(), state, stamp(), ereceipt_id))


# -- history ---------------------------------------------------------------------------------
def add_history(db: Connection, method: str, item: Any, http_code: int | None, result: int | None,
                message: str | None) -> None:
    payload = item.payload
    payments = payload.get("Payments")
    db.execute("""INSERT INTO misbridge_history (at, method, invoice_guid, invoice_num, check_num, attempt,
                  http_code, result, message, payments, outbox_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
               (stamp(), method, payload["invoiceGuid"], payload["invoiceNum"],
                payments["CheckNum"] if payments else None, item.attempts, http_code, result, message,
                json.dumps(payments, ensure_ascii=False) if payments else None, item.id))


def history_of(journal: Journal, invoice_guid: str) -> list[dict[str, Any]]:
    return journal.rows("""SELECT at, method, check_num, attempt, http_code, result, message, payments
                           FROM misbridge_history WHERE invoice_guid = ? ORDER BY id""", (invoice_guid,))


def forget_old(db: Connection, days: int) -> dict[str, int]:
    """Retention: history and register rows older than `days` (0 keeps all). Open sends keep theirs."""
    if days <= 0:
        return {}
    cutoff = stamp(now() - timedelta(days=days))
    history = db.execute("""DELETE FROM misbridge_history WHERE at < ? AND outbox_id NOT IN
                            (SELECT id FROM outbox WHERE connector = ? AND state IN ('pending', 'retry', 'unknown', 'failed'))""",
                         (cutoff, CONNECTOR)).rowcount
    register_rows = db.execute("DELETE FROM misbridge_register WHERE fetched_at < ?", (cutoff,)).rowcount
    return {"history_removed": history, "register_removed": register_rows}
