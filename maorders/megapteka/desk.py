"""What people at the pharmacy do with bookings (`maorders bookings …`).

Each action is checked against the booking rules, then written with its status
in one transaction; `push-statuses` sends the status.
"""

from __future__ import annotations

from typing import Any

from maorders.i18n import _
from maorders.errors import InputError
from maorders.journal import Journal
from maorders.megapteka import booking, store
from maorders.megapteka.passes import apply_change, status_keys

PUBLIC_FIELDS = ("id", "number", "outcome", "booking_state", "order_state", "received_at", "booked_at",
                 "updated_at", "problem")


def find(journal: Journal, ref: str) -> dict[str, Any]:
    order = store.find_order(journal, ref)
    if order is None:
        raise InputError(_("no order {ref} in the journal (give its number, MA-1042, or its id, 1042)")
            .format(ref=repr(ref)))
    return order


def act(journal: Journal, ref: str, action: str) -> dict[str, Any]:
    """request-confirmation (7), ready (5), issue (2) or delete (unbook; 3 unless the site cancelled)."""
    order_id = find(journal, ref)["id"]
    with journal.write() as db:
        order = store.order_by_id(db, order_id)
        change = booking.operator_action(action, order["number"], order["booking_state"], order["order_state"])
        items, comment = None, ""
        if action == "request-confirmation":
            lines = store.lines_of(journal, order_id)
            items = [{"line_id": line["line_id"], "quantity": line["booked"]} for line in lines if line["booked"]]
            comment = f"Есть {sum(i['quantity'] for i in items)} из {sum(line['ordered'] for line in lines)}"
        apply_change(journal, db, order, change, action, items, comment)
    return public(store.order_by_id(journal.db, order_id)) | {"queued_status": change.status}


def public(order: dict[str, Any]) -> dict[str, Any]:
    """An order without the customer's personal data (for --json and tables)."""
    return {name: order.get(name) for name in PUBLIC_FIELDS}


def detail(journal: Journal, ref: str) -> dict[str, Any]:
    order = find(journal, ref)
    statuses = journal.rows("""SELECT business_key, state, attempts, last_error, sent_at FROM outbox
                               WHERE connector = 'megapteka' AND kind = 'status'
                               AND business_key BETWEEN ? AND ? ORDER BY id""", status_keys(order["id"]))
    return public(order) | {
        "lines": [{k: line[k] for k in ("line_id", "name", "stock_sku", "ordered", "booked", "price")}
                  for line in store.lines_of(journal, order["id"])],
        "statuses": [{"status": int(s["business_key"].split("/")[1]), **{k: s[k] for k in
                      ("state", "attempts", "last_error", "sent_at")}} for s in statuses],
    }
