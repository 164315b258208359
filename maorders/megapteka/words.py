"""MegApteka's words for people: the site's booking statuses by the names the pharmacy uses, the
journal's words for a booking and its outcome, and the words the kernel shows of the connector
(its pass counters, its outbox kind, its `status` counts). The journal, `--json` and the site keep
the numbers and the machine words; tables, pages and notifications show these, through the catalog.
"""

from __future__ import annotations

from typing import Any

from maorders.i18n import N_, _, word

BOOKING_STATUSES = {  # MegApteka's status table (shared/protocols/megapteka.md, the seed's names)
    1: N_("New"),
    2: N_("Issued"),
    3: N_("Cancelled"),
    5: N_("Ready for pickup"),
    6: N_("Being assembled"),
    7: N_("Awaiting confirmation"),
    8: N_("Confirmed"),
    "cancelled_by_client": N_("Cancelled by the customer"),
}


def booking_status(status: int | str | None, with_number: bool = False) -> str:
    """A booking's status by its name: 5 -> «Готов к выдаче»; `with_number` adds the site's
    number for a technician («Готов к выдаче (5)»). Also takes "cancelled_by_client" (the
    seed's «Аннулирован клиентом», an assembled order the customer cancelled) and the number
    as text; an unknown status is shown as it is."""
    if status is None or status == "":
        return ""
    key: int | str = int(status) if isinstance(status, str) and status.isdigit() else status
    name = BOOKING_STATUSES.get(key)
    if name is None:
        return str(status)
    return f"{_(name)} ({key})" if with_number and isinstance(key, int) else _(name)


# the journal's words for a booking and its outcome, as the pharmacist says them (SmartApteka's
# booking document states; how much of the order was booked)
BOOKING_WORDS = {"New": N_("new booking"), "Closed": N_("closed booking"), "Issued": N_("issued booking"),
                 "Deleted": N_("deleted booking"), "rejected": N_("order rejected"),
                 "full": N_("in full"), "partial": N_("in part"), "none": N_("nothing in stock"),
                 "cancelled": N_("cancelled before booking")}
NO_BOOKING = N_("no booking")  # an order never booked (nothing in stock, rejected, cancelled first)

# how a status went to the site, beyond the kernel's outbox states (maorders.words.OUTBOX_STATES)
SENDING_WORDS = {"dropped": N_("not sent: the order was cancelled on the site")}


def booking_word(state: str | None) -> str:
    """A booking state for people: "Issued" -> «бронь выдана»; no booking -> «брони нет»."""
    return word(BOOKING_WORDS, state) or _(NO_BOOKING)


def outcome_word(outcome: str | None) -> str:
    """How much of the order was booked: "partial" -> «частично»."""
    return word(BOOKING_WORDS, outcome)


def sending_word(state: str | None) -> str:
    """An outbox state of a status for people: the kernel's words, and MegApteka's "dropped"."""
    from maorders.words import outbox_state

    return word(SENDING_WORDS, state) if state in SENDING_WORDS else outbox_state(state)


def in_words(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its words for people beside the journal's (the buttons read the journal's)."""
    return row | {"booking_state_shown": booking_word(row.get("booking_state")),
                  "outcome_shown": outcome_word(row.get("outcome"))}


# What the kernel shows of this connector (`Connector.words`): the pass counters (`ctx.counts`
# keys), the outbox kind, the keys of `status_view()["counts"]`. The keys are --json: never renamed.
WORDS = {
    # export-stock
    "rows_read": N_("stock rows read"), "exported": N_("items exported"), "parts": N_("parts uploaded"),
    "skipped_rows": N_("rows skipped"), "other_department": N_("rows of other departments"),
    # pull-orders and push-statuses
    "received": N_("orders received"), "already_known": N_("orders already known"),
    "booked_full": N_("booked in full"), "booked_partial": N_("booked in part"),
    "not_booked": N_("not booked (nothing in stock)"), "cancelled_before_booking": N_("cancelled before booking"),
    "rejected": N_("not accepted"), "events": N_("site events"), "events_waiting": N_("events waiting for their order"),
    "cancelled": N_("cancelled by the customer"), "confirmed": N_("confirmed by the customer"),
    "statuses_sent": N_("statuses sent"), "statuses_to_retry": N_("statuses to send again"),
    "statuses_refused": N_("statuses refused by the site"),
    # expire-bookings
    "expired": N_("bookings expired"),
    # the outbox's kind
    "status": N_("status to the site"),
    # status's counts
    "bookings New": N_("new bookings"), "bookings Closed": N_("assembled bookings"),
    "bookings Issued": N_("issued bookings"), "bookings Deleted": N_("deleted bookings"),
    "stock rows": N_("stock rows"), "site events waiting for their order": N_("site events waiting for their order"),
    "cancelled by client, to unbook": N_("cancelled by the customer, to unbook"),
    "orders rejected": N_("orders not accepted"),
    # doctor's rows (a service's own name, `megapteka`, stays as it is)
    "megapteka stock file": N_("MegApteka stock file"),
}
