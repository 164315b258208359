"""What people at the shop see of shipments (`maorders shipments …`).

Read-only views of the journal: a CRM order ↔ its MeaSoft orderno, the last status on each
side, and the problem a person must deal with. Receivers' names and phones are not shown:
they stay in the CRM and in MeaSoft.
"""

from __future__ import annotations

from typing import Any

from courier import store
from maorders.i18n import _
from maorders.errors import InputError
from maorders.journal import Journal

PUBLIC_FIELDS = ("crm_order_id", "crm_number", "orderno", "state", "measoft_status", "measoft_title",
                 "measoft_time", "crm_status", "ordercode", "awb", "error", "created_at", "updated_at")


def public(shipment: dict[str, Any]) -> dict[str, Any]:
    return {name: shipment.get(name) for name in PUBLIC_FIELDS}


def rows(journal: Journal, state: str | None = None, problems: bool = False) -> list[dict[str, Any]]:
    return [public(s) for s in store.list_shipments(journal, state, problems)]


def detail(journal: Journal, ref: str) -> dict[str, Any]:
    shipment = store.find(journal, ref)
    if shipment is None:
        raise InputError(_("no shipment {ref} in the journal (give the CRM order number, the CRM order id or the "
                           "MeaSoft orderno)").format(ref=repr(ref)))
    sends = journal.rows("""SELECT kind, business_key, state, attempts, last_error, sent_at FROM outbox
                            WHERE connector = ? AND (substr(business_key, 1, ?) = ?
                            OR json_extract(payload, '$.shipment_id') = ?) ORDER BY id""",
                         (store.CONNECTOR, len(shipment["orderno"]) + 1, shipment["orderno"] + "/",
                          shipment["id"]))
    return public(shipment) | {
        "statuses": store.statuses_of(journal, shipment["id"]),
        "sends": [{k: s[k] for k in ("kind", "state", "attempts", "last_error", "sent_at")} for s in sends],
    }
