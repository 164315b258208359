"""What the people at the till see of loyalty operations (`maorders loyalty …`).

Read-only views of the journal: each receipt's request id, operation, points and refunds.
No name, card or code is kept, so none is shown.
"""

from __future__ import annotations

import json
from typing import Any

from loyalty import store
from maorders.errors import InputError
from maorders.i18n import _
from maorders.journal import Journal

SALE_FIELDS = ("receipt_number", "state", "operation_id", "request_id", "client_id", "payment_type",
               "total_to_pay", "points_redeemed", "points_accrued", "balance", "error", "created_at",
               "confirmed_at", "updated_at")
REFUND_FIELDS = ("refund_operation_id", "operation_id", "state", "reason", "amount", "return_receipt",
                 "request_id", "points_returned", "points_revoked", "balance", "error", "updated_at")


def public(sale: dict[str, Any]) -> dict[str, Any]:
    return {name: sale.get(name) for name in SALE_FIELDS}


def rows(journal: Journal, unfinished: bool = False) -> list[dict[str, Any]]:
    return [public(s) for s in store.list_sales(journal, unfinished)]


def find(journal: Journal, ref: str) -> dict[str, Any] | None:
    """A sale as people know it: its operation id, its receipt number or its request id."""
    ref = ref.strip()
    return (store.sale_by_operation(journal, ref) or store.sale_by_receipt(journal, ref)
            or journal.one("SELECT * FROM loyalty_sales WHERE request_id = ?", (ref,)))


def detail(journal: Journal, ref: str) -> dict[str, Any]:
    sale = find(journal, ref)
    if sale is None:
        raise InputError(_("no loyalty sale {ref} in the journal (give the operation id, the receipt number "
                           "or the request id)").format(ref=repr(ref)))
    refunds = store.refunds_of(journal, sale["operation_id"]) if sale["operation_id"] else []
    calculation = json.loads(sale["calculation"]) if sale["calculation"] else {}
    sends = journal.rows("""SELECT o.kind, o.business_key, o.state, o.attempts, a.at, a.http_code, a.result,
                            a.message FROM outbox o LEFT JOIN attempts a ON a.outbox_id = o.id
                            WHERE o.connector = ? AND o.idempotency_key IN
                            (SELECT request_id FROM loyalty_sales WHERE id = ?
                             UNION SELECT request_id FROM loyalty_refunds WHERE sale_id = ? OR operation_id = ?)
                            ORDER BY o.id, a.id""",
                         (store.CONNECTOR, sale["id"], sale["id"], sale["operation_id"] or ""))
    return public(sale) | {
        "lines": calculation.get("lines", []),
        "discount": calculation.get("discount"),
        "balance_before": calculation.get("balance_before"),
        "refunds": [{name: r.get(name) for name in REFUND_FIELDS} for r in refunds],
        "sends": sends,
    }
