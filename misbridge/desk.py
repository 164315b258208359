"""What the cashier and the administrator do (`maorders receipts …`, `maorders cashdesks push`).

`pay`/`refund` write the journal only (they work while the MIS is down): the receipt, its Pay
and its e-receipt are queued in one transaction, after every check. `resend`,
`ereceipt-resend` and `cashdesks push` send now, through the same senders as the passes.
Views never show the payer's name, birthday, phone or e-mail: they stay in the journal.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from maorders.i18n import _
from maorders.clock import now
from maorders.errors import InputError
from maorders.journal import Journal
from misbridge import ereceipts, receipts, store
from misbridge.receipts import REFUND, SALE

NAME = store.CONNECTOR
RED_RECEIVE = "Ошибка отправки «Получения»"
RED_PAY = "Ошибка отправки «Оплаты»"


def record_receipt(journal: Journal, config: Any, ref: str, check_num: int, payment_args: list[str],
                   kind: int = SALE, partial: bool = False, email: str | None = None, phone: str | None = None,
                   when: str | None = None) -> dict[str, Any]:
    """A fiscalised receipt: checked, then recorded with its Pay and e-receipt in one transaction."""
    payments = receipts.parse_payments(payment_args)
    check_num = receipts.check_number(check_num)
    buyer = receipts.contact(email, phone)
    bill = receipts.bill_date(when, now())
    with journal.write() as db:
        invoice = _invoice_for(journal, ref)
        if invoice["cancelled"] and kind == SALE:
            raise InputError(_("invoice {ref}: annulled in the MIS, it cannot be paid").format(ref=ref))
        used = store.check_used(db, config.cashdesk_guid, check_num)
        if used is not None:
            raise InputError(_("--check-num {check_num}: already used at this cash desk (invoice {invoice_num})")
                .format(check_num=check_num, invoice_num=used['invoice_num']))
        sold, refunded = store.paid_so_far(db, invoice["guid"])
        if kind == SALE:
            receipts.check_sale(Decimal(invoice["pay_sum"]), sold - refunded, payments, partial)
        else:
            receipts.check_refund(sold, refunded, payments)
        wire = receipts.payments_json(bill, check_num, kind, config.cashdesk_guid, payments)
        amount = receipts.total(payments)
        receipt_id = store.add_receipt(db, invoice, config.cashdesk_guid, check_num, kind, bill, wire, amount, partial)
        journal.enqueue(db, NAME, "pay", f"pay/{receipt_id}",
                        {"invoiceGuid": invoice["guid"], "invoiceNum": invoice["number"], "Payments": wire})
        ereceipt_id = _queue_ereceipt(journal, db, config, receipt_id, invoice, buyer) if buyer else None
        sold += amount if kind == SALE else 0
        refunded += amount if kind == REFUND else 0
        state = receipts.invoice_state(bool(invoice["cancelled"]), sold, refunded, Decimal(invoice["pay_sum"]))
        store.set_invoice_state(db, invoice["guid"], state)
    return {"receipt_id": receipt_id, "invoice": invoice["number"], "check_num": check_num,
            "type": "sale" if kind == SALE else "refund", "total": str(amount), "bill_date": bill,
            "invoice_state": state, "ereceipt_id": ereceipt_id}


def _invoice_for(journal: Journal, ref: str) -> dict[str, Any]:
    invoice = store.find_invoice(journal, ref)
    if invoice is None:
        raise InputError(_("invoice {ref}: not in the journal (run pull-orders, or give its number or guid)")
            .format(ref=ref))
    return invoice


def _queue_ereceipt(journal: Journal, db: Any, config: Any, receipt_id: int, invoice: dict[str, Any],
                    buyer: tuple[str, str]) -> int:
    channel, recipient = buyer
    receipt = store.one(db, "SELECT * FROM misbridge_receipts WHERE id = ?", (receipt_id,))
    org = {"shop": config.shop, "ogrn": config.ogrn, "cashdesk": config.cashdesk_name}
    parts = ereceipts.compose(receipt, json.loads(receipt["payments"]), invoice,
                              store.services(db, invoice["guid"]), org)
    sender = config.smtp.sender if config.smtp else None
    message_id = ereceipts.message_id(sender, f"receipt{receipt_id}")
    ereceipt_id = store.add_ereceipt(db, receipt_id, channel, recipient, message_id, parts["subject"],
                                     parts["body_text"], parts["body_html"], parts["sms_text"])
    journal.enqueue(db, NAME, channel, f"{channel}/{ereceipt_id}", {"ereceipt_id": ereceipt_id})
    return ereceipt_id


# -- views ----------------------------------------------------------------------------------
def _sends(journal: Journal, guid: str) -> dict[str, dict[str, Any]]:
    """The outbox rows of an invoice's Receive and of each of its receipts' Pay, by business key."""
    found = journal.rows("""SELECT business_key, kind, state, attempts, last_error, sent_at FROM outbox
                            WHERE connector = ? AND kind IN ('receive', 'pay')
                            AND json_extract(payload, '$.invoiceGuid') = ?""", (NAME, guid))
    return {r["business_key"]: r for r in found}


def invoice_rows(journal: Journal, failed: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    """The desk's list; `failed`: the seed's two red states and e-receipts that were not sent."""
    if failed:
        guids = [r["guid"] for r in journal.rows(
            """SELECT DISTINCT json_extract(payload, '$.invoiceGuid') AS guid FROM outbox WHERE connector = ?
               AND kind IN ('receive', 'pay') AND state IN ('retry', 'failed', 'unknown')
               UNION SELECT r.invoice_guid FROM misbridge_ereceipts e JOIN misbridge_receipts r ON r.id = e.receipt_id
               WHERE e.state IN ('failed', 'unknown', 'held', 'retry')""", (NAME,))]
        invoices = [store.invoice(journal.db, g) for g in guids]
        invoices = sorted((i for i in invoices if i), key=lambda i: i["number"])
    else:
        invoices = journal.rows("SELECT * FROM misbridge_invoices ORDER BY created_at DESC, number DESC LIMIT ?",
                                (limit,))
    return [summary(journal, i) for i in invoices]


def summary(journal: Journal, invoice: dict[str, Any]) -> dict[str, Any]:
    sends = _sends(journal, invoice["guid"])
    receive = sends.get(f"receive/{invoice['guid']}")
    pays = [s for k, s in sends.items() if s["kind"] == "pay"]
    receipts_made = store.receipts_of(journal.db, invoice["guid"])
    ebad = journal.value("""SELECT COUNT(*) FROM misbridge_ereceipts e JOIN misbridge_receipts r ON r.id = e.receipt_id
                            WHERE r.invoice_guid = ? AND e.state IN ('failed', 'unknown', 'held', 'retry')""",
                         (invoice["guid"],))
    flags = []
    if receive and receive["state"] in ("retry", "failed", "unknown"):
        flags.append(RED_RECEIVE)
    if any(p["state"] in ("retry", "failed", "unknown") for p in pays):
        flags.append(RED_PAY)
    if ebad:
        flags.append("e-receipt not sent")
    return {"number": invoice["number"], "guid": invoice["guid"], "date": invoice["date"],
            "state": invoice["state"], "child_of": invoice["parent_guid"], "pay_sum": invoice["pay_sum"],
            "receive": receive["state"] if receive else ("annulled" if invoice["cancelled"] else "-"),
            "checks": ", ".join(str(r["check_num"]) for r in receipts_made),
            "pays": ", ".join(p["state"] for p in pays), "errors": flags}


def detail(journal: Journal, ref: str) -> dict[str, Any]:
    invoice = _invoice_for(journal, ref)
    sends = _sends(journal, invoice["guid"])
    made = []
    for r in store.receipts_of(journal.db, invoice["guid"]):
        pay = sends.get(f"pay/{r['id']}") or {}
        made.append({"id": r["id"], "check_num": r["check_num"], "type": "sale" if r["type"] == SALE else "refund",
                     "bill_date": r["bill_date"], "total": r["total"], "partial": bool(r["partial"]),
                     "pay": pay.get("state"), "error": pay.get("last_error"),
                     "ereceipts": [_public_ereceipt(e) for e in journal.rows(
                         "SELECT * FROM misbridge_ereceipts WHERE receipt_id = ? ORDER BY id", (r["id"],))]})
    return summary(journal, invoice) | {
        "invoice_sum": invoice["invoice_sum"], "cancelled": bool(invoice["cancelled"]),
        "services": [{k: s[k] for k in ("code", "name", "count", "price", "cost", "tax", "vat")}
                     for s in store.services(journal.db, invoice["guid"])],
        "receipts": made, "history": store.history_of(journal, invoice["guid"])}


def _public_ereceipt(e: dict[str, Any]) -> dict[str, Any]:
    return {"id": e["id"], "channel": e["channel"], "recipient": mask(e["recipient"]), "state": e["state"],
            "status_code": e["status_code"], "status_text": e["status_text"], "sent_at": e["sent_at"]}


def mask(recipient: str) -> str:
    """Enough for a person to tell two recipients apart, not enough to be personal data."""
    if "@" in recipient:
        name, _at, domain = recipient.partition("@")
        return f"{name[:1]}…@{domain[:1]}…"
    return f"…{recipient[-2:]}"


def ereceipt_rows(journal: Journal, failed: bool = False) -> list[dict[str, Any]]:
    where = "WHERE e.state IN ('failed', 'unknown', 'held', 'retry')" if failed else "WHERE e.state <> 'deleted'"
    found = journal.rows(f"""SELECT e.*, r.check_num, r.invoice_num FROM misbridge_ereceipts e
                             JOIN misbridge_receipts r ON r.id = e.receipt_id {where} ORDER BY e.id DESC LIMIT 500""")
    return [_public_ereceipt(e) | {"check_num": e["check_num"], "invoice": e["invoice_num"]} for e in found]


def requeue_ereceipt(journal: Journal, ereceipt_id: int, delete: bool = False) -> dict[str, Any]:
    """A person resends (or deletes) one e-receipt of the queue."""
    with journal.write() as db:
        row = store.ereceipt(db, ereceipt_id)
        if row is None or row["state"] == "deleted":
            raise InputError(_("e-receipt {ereceipt_id}: not in the queue (see receipts ereceipts)")
                .format(ereceipt_id=ereceipt_id))
        if row["state"] == "sent" and not delete:
            raise InputError(_("e-receipt {ereceipt_id}: already sent").format(ereceipt_id=ereceipt_id))
        key = f"{row['channel']}/{ereceipt_id}"
        state = "dismissed" if delete else "pending"
        db.execute("""UPDATE outbox SET state = ?, next_attempt_at = NULL WHERE connector = ? AND kind = ?
                      AND business_key = ?""", (state, NAME, row["channel"], key))
        store.set_ereceipt(db, ereceipt_id, "deleted" if delete else "queued", None,
                           "deleted by a person" if delete else "resend asked by a person")
        outbox_id = journal.value("SELECT id FROM outbox WHERE connector = ? AND kind = ? AND business_key = ?",
                                  (NAME, row["channel"], key))
    return {"id": ereceipt_id, "channel": row["channel"], "outbox_id": outbox_id,
            "state": "deleted" if delete else "queued"}


def requeue_invoice(journal: Journal, ref: str) -> tuple[dict[str, Any], set[int]]:
    """«Отправить повторно»: the invoice's unsent Receive and Pays go again now, a refused one too."""
    invoice = _invoice_for(journal, ref)
    with journal.write() as db:
        ids = {r["id"] for r in journal.rows(
            """SELECT id FROM outbox WHERE connector = ? AND kind IN ('receive', 'pay')
               AND json_extract(payload, '$.invoiceGuid') = ? AND state NOT IN ('sent')""", (NAME, invoice["guid"]))}
        db.executemany("UPDATE outbox SET state = 'pending', next_attempt_at = NULL WHERE id = ?",
                       [(i,) for i in ids])
    return invoice, ids


def edit_service(journal: Journal, config: Any, ref: str, name: str | None, tax: str | None) -> dict[str, Any]:
    """Seed §12: a person corrects a service's name or VAT rate locally (kept while
    MIS_UPDATE_SERVICES=no); invoices not yet paid take the change at once."""
    from misbridge.mis import TAXES

    if name is None and tax is None:
        raise InputError(_("give --name and/or --vat"))
    if tax is not None and tax not in TAXES:
        raise InputError(_("--vat {tax}: one of {rates}").format(tax=repr(tax), rates=', '.join(TAXES)))
    if name is not None and not 0 < len(name.strip()) <= 1000:
        raise InputError(_("--name: 1..1000 characters"))
    with journal.write() as db:
        entry = store.one(db, "SELECT * FROM misbridge_catalog WHERE sm_guid = ? OR code = ? ORDER BY updated_at DESC",
                          (ref.lower(), ref))
        if entry is None:
            raise InputError(_("service {ref}: not in the catalog (give its smGuid or smCode)").format(ref=repr(ref)))
        store.edit_catalog_entry(db, entry["sm_guid"], name.strip() if name else None, tax)
        vat = receipts.vat_rate(tax, config.zero_vat_as_no_vat) if tax else None
        changed = db.execute("""UPDATE misbridge_services SET name = COALESCE(?, name), tax = COALESCE(?, tax),
                                vat = COALESCE(?, vat) WHERE sm_guid = ? AND invoice_guid NOT IN
                                (SELECT invoice_guid FROM misbridge_receipts)""",
                             (name.strip() if name else None, tax, vat, entry["sm_guid"])).rowcount
    return {"sm_guid": entry["sm_guid"], "code": entry["code"], "lines_changed": changed,
            "kept_over_the_mis": not config.update_services}


def register_rows(journal: Journal, number: int | None = None, payer: str | None = None,
                  service: str | None = None, since: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """«История МИС»: every invoice as it came, filtered like the seed's report (§17)."""
    sql, params = "SELECT * FROM misbridge_register WHERE 1 = 1", []
    if number is not None:
        sql, params = sql + " AND number = ?", params + [number]
    if payer:
        sql, params = sql + " AND payer_guid = ?", params + [payer.lower()]
    if since:
        sql, params = sql + " AND fetched_at >= ?", params + [since]
    found = journal.rows(sql + " ORDER BY id DESC LIMIT ?", params + [limit])
    result = []
    for r in found:
        raw = json.loads(r["raw"])
        services = raw.get("services") if isinstance(raw, dict) and isinstance(raw.get("services"), list) else []
        codes = [s.get("smGuid") for s in services if isinstance(s, dict)]
        if service and service.lower() not in codes:
            continue
        result.append({"fetched_at": r["fetched_at"], "number": r["number"], "invoice_guid": r["invoice_guid"],
                       "payer_guid": r["payer_guid"], "services": len(services),
                       "cancelled": bool(isinstance(raw, dict) and raw.get("isCancelled") is True),
                       "accepted": bool(r["accepted"]), "problem": r["problem"]})
    return result
