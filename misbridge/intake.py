"""One invoice from the MIS into the journal (pull-orders), in one transaction.

The invoice is kept in the register as it came («История МИС»), then saved with its services
and payer (catalog rules in misbridge.receipts), and its Receive is queued once. An annulled
invoice is marked, notified and never payable; the MIS lists it until the cash desk has
fetched the annulment, so that is acknowledged with a Receive of its own. An invoice that
cannot be taken is registered with the problem and shown; it is not saved.
"""

from __future__ import annotations

from typing import Any

from maorders.i18n import _
from misbridge import receipts, store
from misbridge.mis import BadInvoice, Invoice, parse_invoice

NAME = store.CONNECTOR


def take(desk: Any, raw: Any) -> None:
    try:
        invoice = parse_invoice(raw)
    except BadInvoice as exc:
        with desk.journal.write() as db:
            store.register(db, raw, *_ids(raw), problem=str(exc))
        desk.counts["invoices_rejected"] += 1
        desk.problem(str(exc))
        return
    config = desk.config
    if invoice.cashdesk_guid not in (None, config.cashdesk_guid):
        with desk.journal.write() as db:
            store.register(db, raw, invoice.guid, invoice.number, invoice.payer.guid, "for another cash desk")
        desk.counts["invoices_for_another_desk"] += 1
        return
    with desk.journal.write() as db:
        store.register(db, raw, invoice.guid, invoice.number, invoice.payer.guid, None)
        existing = store.invoice(db, invoice.guid)
        save_payer(db, invoice, config.update_payers)
        lines = service_lines(db, invoice, config)
        if invoice.cancelled:
            annulled(desk, db, invoice, existing, lines)
        else:
            waiting(desk, db, invoice, existing, lines)


def _ids(raw: Any) -> tuple[str | None, int | None, str | None]:
    if not isinstance(raw, dict):
        return None, None, None
    number = raw.get("invoiceNum")
    text = lambda v: v if isinstance(v, str) and len(v) <= 64 else None  # noqa: E731
    return text(raw.get("invoiceGuid")), number if isinstance(number, int) and abs(number) < 2**63 else None, \
        text(raw.get("payerGuid"))


def save_payer(db: Any, invoice: Invoice, update: bool) -> None:
    p = invoice.payer
    incoming = {"family": p.family, "name": p.name, "ot": p.ot, "birthday": p.birthday, "phone": p.phone,
                "email": p.email}
    kept = store.payer(db, p.guid)
    chosen = receipts.merged(kept, incoming, update)
    if chosen is not kept:
        store.save_payer(db, p.guid, chosen)


def service_lines(db: Any, invoice: Invoice, config: Any) -> list[dict[str, Any]]:
    """The receipt's lines: the MIS's prices and counts; name and VAT from the catalog rules."""
    lines = []
    for s in invoice.services:
        kept = store.catalog_entry(db, s.sm_guid)
        chosen = receipts.merged(kept, {"code": s.code, "name": s.name, "tax": s.tax}, config.update_services)
        if chosen is not kept:
            store.save_catalog_entry(db, s.sm_guid, chosen)
        lines.append({"sm_guid": s.sm_guid, "code": chosen["code"], "name": chosen["name"], "count": str(s.count),
                      "price": str(s.price), "cost": str(s.cost), "tax": chosen["tax"],
                      "vat": receipts.vat_rate(chosen["tax"], config.zero_vat_as_no_vat)})
    return lines


def waiting(desk: Any, db: Any, invoice: Invoice, existing: dict[str, Any] | None,
            lines: list[dict[str, Any]]) -> None:
    if existing is not None and existing["cancelled"]:
        desk.counts["invoices_annulled_before"] += 1  # we know it annulled; the MIS's old copy changes nothing
        return
    paid = bool(existing) and bool(store.receipts_of(db, invoice.guid))
    state = existing["state"] if existing else "new"
    store.save_invoice(db, invoice, state)
    if not paid:
        store.replace_services(db, invoice.guid, lines)  # a receipt printed fixes the lines it printed
    queued = desk.journal.enqueue(db, NAME, "receive", f"receive/{invoice.guid}",
                                  {"invoiceGuid": invoice.guid, "invoiceNum": invoice.number})
    desk.counts["invoices_new" if existing is None else "invoices_seen_again"] += 1
    if invoice.parent_guid:
        desk.counts["child_invoices"] += int(existing is None)
    if queued:
        desk.counts["receive_queued"] += 1


def annulled(desk: Any, db: Any, invoice: Invoice, existing: dict[str, Any] | None,
             lines: list[dict[str, Any]]) -> None:
    if existing is None:
        store.save_invoice(db, invoice, "annulled")
        store.replace_services(db, invoice.guid, lines)
    elif not existing["cancelled"]:
        store.save_invoice(db, invoice, "annulled")
    paid = store.receipts_of(db, invoice.guid)
    message = (_("invoice {number} annulled in the MIS after a receipt: check whether a refund is due") if paid
               else _("invoice {number} annulled in the MIS: do not take payment")).format(number=invoice.number)
    desk.journal.notify(db, NAME, invoice.guid, "annulled", message)
    if desk.journal.enqueue(db, NAME, "receive", f"receive/{invoice.guid}/annulled",
                            {"invoiceGuid": invoice.guid, "invoiceNum": invoice.number}):
        desk.counts["invoices_annulled"] += 1
