"""The pharmacy's bookings on the staff desk (`maorders desk`): what `maorders bookings …` shows and does.

Lists by state, a booking's lines (booked and missing), and the actions «Готов к выдаче» (5),
«Выдан» (2), «Запросить подтверждение» (7) and unbooking — each through `desk.act`, the function
the commands call; a button is offered only where the booking rules allow the action.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping
from urllib.parse import urlencode

from maorders.desk import Act, Actions, Button, Column, Facts, Filters, Note, Page, Pages, Table, View
from maorders.errors import InputError
from maorders.i18n import N_, _, local_time
from maorders.megapteka.words import booking_status, booking_word, in_words, outcome_word, sending_word

SOON_HOURS = 12.0  # "expiring soon": the booking's keeping time ends within this many hours


def _allowed(action: str, row: Mapping[str, Any]) -> bool:
    """The booking rules decide, as they do for the command (nothing decided twice)."""
    from maorders.megapteka import booking

    try:
        booking.operator_action(action, row["number"], row["booking_state"], row["order_state"])
    except InputError:
        return False
    return action != "request-confirmation" or row.get("outcome") == "partial"


def _buttons() -> list[Button]:
    return [
        Button("ready", _("Ready for pickup (5)"), show=lambda r: _allowed("ready", r)),
        Button("issue", _("Issued (2)"), show=lambda r: _allowed("issue", r)),
        Button("request-confirmation", _("Ask to confirm (7)"), show=lambda r: _allowed("request-confirmation", r)),
        Button("delete", _("Disband"), danger=True, confirm=_("Delete the booking and release its stock?"),
               show=lambda r: r.get("order_state") == "Аннулирован клиентом" and _allowed("delete", r)),
    ]


STATES = (("new", N_("New")), ("partial", N_("Partial")), ("ready", N_("Ready for pickup")),
          ("expiring", N_("Expiring soon")), ("cancelled-by-client", N_("Cancelled by client")), ("all", N_("All")))


def _orders(view: View, state: str) -> list[dict[str, Any]]:
    from maorders.clock import now
    from maorders.megapteka import booking, store

    journal = view.journal
    if state == "new":
        return store.list_orders(journal, booking.NEW)
    if state == "partial":
        return [o for o in store.list_orders(journal, "partial") if o["booking_state"] in booking.ACTIVE]
    if state == "ready":
        return store.list_orders(journal, booking.READY)
    if state == "cancelled-by-client":
        return store.list_orders(journal, cancelled_by_client=True)
    if state == "expiring":
        ttl, moment = view.config.booking_ttl_hours, now()
        return [o for o in store.active_bookings(journal)
                if booking.expired(datetime.fromisoformat(o["booked_at"]), max(0.0, ttl - SOON_HOURS), moment)][:200]
    return store.list_orders(journal)


def bookings(view: View) -> list[Any]:
    from maorders.megapteka import desk

    if view.arg("ref"):
        return _detail(view, view.arg("ref"))
    state = view.arg("state", "new")
    rows = [in_words(desk.public(o)) | {"ref": o["number"], "link": "bookings?" + urlencode({"ref": o["number"]})}
            for o in _orders(view, state)]
    return [Filters("state", [(value, _(label)) for value, label in STATES], state),
            Table(_("Bookings"), [Column("number", _("Order"), link="link"), Column("booking_state_shown", _("Booking")),
                                  Column("order_state", _("Order state")), Column("outcome_shown", _("Booked")),
                                  Column("received_at", _("Received"), kind="time"), Column("booked_at", _("Booked at"), kind="time"),
                                  Column("problem", _("Problem"))],
                  rows, _buttons(), empty=_("No bookings in this list."), problem_key="problem")]


def _detail(view: View, ref: str) -> list[Any]:
    from maorders.megapteka import desk

    d = desk.detail(view.journal, ref)
    lines = [line | {"missing": line["ordered"] - line["booked"]} for line in d["lines"]]
    blocks: list[Any] = [Facts(_("Order {number}").format(number=d["number"]), [
        (_("Site id"), d["id"]), (_("Booking"), booking_word(d["booking_state"])), (_("Order state"), d["order_state"]),
        (_("Booked"), outcome_word(d["outcome"])), (_("Received"), local_time(d["received_at"])), (_("Booked at"), local_time(d["booked_at"])),
        (_("Updated"), local_time(d["updated_at"]))])]
    if d["problem"]:
        blocks.append(Note(d["problem"], problem=True))
    row = {**d, "ref": d["number"]}
    blocks.append(Actions(d["number"], [b for b in _buttons() if b.show(row)]))
    blocks.append(Table(_("Lines"), [Column("line_id", _("Line")), Column("name", _("Name")),
                                     Column("stock_sku", _("Stock item")), Column("ordered", _("Ordered")),
                                     Column("booked", _("Booked")), Column("missing", _("Missing")),
                                     Column("price", _("Price"), kind="money")], lines, problem_key="missing"))
    blocks.append(Table(_("Statuses sent to the site"), [
        Column("status", _("Status")), Column("status_name", _("Name")), Column("state", _("Sending")),
        Column("attempts", _("Attempts")), Column("last_error", _("Last error")), Column("sent_at", _("Sent at"), kind="time")],
        [s | {"status_name": booking_status(s["status"]), "state": sending_word(s["state"])} for s in d["statuses"]], empty=_("No status queued."),
        problem_key="last_error"))
    return blocks


def _action(name: str) -> Any:
    def run(act: Act) -> str:
        from maorders.megapteka import desk

        result = desk.act(act.journal, act.field("ref"), name)
        queued = (_("; status {status} queued for push-statuses").format(status=result["queued_status"])
                  if result["queued_status"] else "")
        return _("{number}: {booking}, «{state}»").format(
            number=result["number"], booking=booking_word(result["booking_state"]), state=result["order_state"]) + queued

    return run


def _link(note: Mapping[str, Any]) -> str | None:
    subject = str(note["subject"])
    return "bookings?" + urlencode({"ref": subject}) if subject.isdigit() else None


PAGES = Pages(
    pages=(Page("bookings", N_("Pharmacy bookings"), bookings,
                {name: _action(name) for name in ("ready", "issue", "request-confirmation", "delete")}),),
    link=_link,
    banner=lambda note: note["kind"] == "received",  # a new internet order, as the seed's module popped up
)
