"""The courier's words for people: a shipment's state, what a pass did, what waits in the outbox,
and the codes with a fixed meaning (MeaSoft's pay types, RetailCRM's standard payment statuses).

The journal, `--json` and the logs keep the machine words (`sent`, `shipments_queued`,
`crm-payment-edit`); tables, `status`, the summary line and the demo show these, through the
catalog. A shop's own codes (its CRM order statuses, its payment types) are shown as they are:
the shop names them in its CRM, we do not.
"""

from __future__ import annotations

from maorders.i18n import N_, word

# A shipment's state (courier.store), as the shop says it of the order it carries
SHIPMENT_STATES = {
    "queued": N_("waiting to go to MeaSoft"), "sent": N_("handed to MeaSoft"),
    "rejected": N_("not sent to MeaSoft"), "cancelling": N_("being cancelled in MeaSoft"),
    "cancelled": N_("withdrawn from the courier"),
}

# Connector.words: the pass counters (ctx.counts), the outbox kinds and the status counts
WORDS = {
    # pull-orders: the CRM's changes read and decided
    "history_records": N_("CRM changes read"), "history_records_rejected": N_("CRM changes unreadable"),
    "own_changes_skipped": N_("our own CRM changes skipped"),
    "other_site_orders_skipped": N_("orders of another shop skipped"), "orders_checked": N_("orders checked"),
    "rejections_withdrawn": N_("errors cleared"), "shipments_queued": N_("orders queued for MeaSoft"),
    "shipments_rejected": N_("orders with errors not sent"),
    "unsent_orders_updated": N_("queued orders updated"), "edits_queued": N_("changes queued for MeaSoft"),
    "edits_rejected": N_("changes with errors not sent"),
    "cancels_refused": N_("cancels refused"), "edits_refused": N_("changes refused"),
    "shipments_withdrawn": N_("orders withdrawn before sending"), "cancels_queued": N_("cancels queued for MeaSoft"),
    # sending to MeaSoft
    "shipments_sent": N_("orders handed to MeaSoft"), "shipments_retried_later": N_("orders to send again later"),
    "shipments_refused": N_("orders refused by MeaSoft"),
    "shipments_recognised": N_("orders found already in MeaSoft"), "edits_sent": N_("changes sent to MeaSoft"),
    "cancels_sent": N_("orders cancelled in MeaSoft"),
    # push-statuses: MeaSoft's statuses and payments back to the CRM
    "statuses_received": N_("statuses received from MeaSoft"), "not_our_orders": N_("statuses of others' orders"),
    "statuses_already_known": N_("statuses already known"), "statuses_new": N_("new statuses"),
    "held_statuses_released": N_("held statuses passed on"),
    "statuses_held_while_cancelling": N_("statuses held while a cancel is sent"),
    "statuses_of_withdrawn_shipments": N_("statuses of withdrawn orders"),
    "unknown_status_codes": N_("unknown MeaSoft statuses"), "statuses_unmapped": N_("statuses with no CRM status"),
    "payments_with_insane_sums": N_("payments with a wrong sum"), "crm_statuses_set": N_("CRM statuses set"),
    "crm_payments_created": N_("CRM payments created"), "crm_payments_edited": N_("CRM payments changed"),
    "crm_payments_deleted": N_("CRM payments deleted"), "polls_committed": N_("status reads confirmed to MeaSoft"),
    # the outbox's kinds, and `<kind>_refused` when one is refused for good (courier.outbox.failed)
    "neworder": N_("new order to MeaSoft"), "editorder": N_("order change to MeaSoft"),
    "cancelorder": N_("order cancel to MeaSoft"), "crm-status": N_("status to the CRM"),
    "crm-payment-create": N_("new payment to the CRM"), "crm-payment-edit": N_("payment change to the CRM"),
    "crm-payment-delete": N_("payment removal from the CRM"),
    "neworder_refused": N_("new orders refused"), "editorder_refused": N_("order changes refused"),
    "cancelorder_refused": N_("order cancels refused"), "crm_status_refused": N_("CRM statuses refused"),
    "crm_payment_create_refused": N_("new CRM payments refused"),
    "crm_payment_edit_refused": N_("CRM payment changes refused"),
    "crm_payment_delete_refused": N_("CRM payment removals refused"),
    # status: `shipments <state>` and the problems (courier.health)
    "shipments queued": N_("orders waiting to go to MeaSoft"), "shipments sent": N_("orders handed to MeaSoft"),
    "shipments rejected": N_("orders not sent to MeaSoft"), "shipments cancelling": N_("orders being cancelled"),
    "shipments cancelled": N_("orders withdrawn from the courier"),
    "shipments with a problem": N_("orders with a problem"),
    # doctor's rows (the services' own names, `measoft` and `retailcrm`, stay as they are)
    "measoft stream": N_("MeaSoft status stream"),
}

# MeaSoft's pay types: fixed codes with a documented meaning (research courier_apis.md 1.3)
PAY_TYPES = {"CASH": N_("cash at the door"), "CARD": N_("card at the door"), "NO": N_("prepaid"),
             "OTHER": N_("paid to the courier service"), "OPTION": N_("the receiver's choice")}

# RetailCRM's standard payment statuses (its own `paid` and `not-paid`; courier.values.PAID);
# any other payment status is the shop's own code and is shown as it is
PAYMENT_STATUSES = {"paid": N_("paid"), "not-paid": N_("not paid")}

# What the demo's emulators count (maorders.emulation's `requests`, the courier emulators' effects)
EMULATOR_COUNTS = {
    "requests": N_("requests"), "order_created": N_("orders created"), "order_edited": N_("orders changed"),
    "order_cancelled": N_("orders cancelled"), "status_committed": N_("status reads confirmed"),
    "payment_created": N_("payments created"), "payment_edited": N_("payments changed"),
    "payment_deleted": N_("payments deleted"),
}


def shipment_state(state: str | None) -> str:
    return word(SHIPMENT_STATES, state)


def send_kind(kind: str | None) -> str:
    return word(WORDS, kind)


def pay_type(code: str | None) -> str:
    return word(PAY_TYPES, code)


def payment_status(code: str | None) -> str:
    return word(PAYMENT_STATUSES, code)
