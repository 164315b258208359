"""`maorders bookings …`: what people at the pharmacy do with internet-order bookings."""

from __future__ import annotations

from typing import Any, Optional

import typer

from maorders.i18n import _, money, quantity
from maorders.megapteka.words import booking_status, booking_word, outcome_word, sending_word
from maorders.operator import answer

bookings = typer.Typer(help=_("Internet-order bookings at the pharmacy (MegApteka).\n\nExample: {command}").format(
                           command="maorders bookings list --cancelled-by-client"),
                       no_args_is_help=True)

ORDER_ARG = typer.Argument(..., help=_("The order as people know it: its site number (MA-1042) or id (1042)."))


def states() -> list[str]:
    """What `--state` takes: the booking states, the site's order states, the booking outcomes."""
    from maorders.megapteka import booking

    return [*booking.ACTIVE, booking.ISSUED, booking.DELETED, *booking.STATUS_NAMES.values(),
            booking.CANCELLED_BY_CLIENT, "Ошибка", "full", "partial", "none", "cancelled", "rejected"]


def state_choice(value: Optional[str]) -> Optional[str]:
    """`--state new` is `New`, `--state «готов к выдаче»` is «Готов к выдаче»; any other word is
    refused (exit 2) instead of listing nothing."""
    if value is None:
        return None
    found = {s.casefold(): s for s in states()}.get(value.strip().casefold())
    if found is None:
        raise typer.BadParameter(_("{value} is not a state; one of: {states}").format(
            value=repr(value), states=", ".join(states())))
    return found


@bookings.command("list", help=_("List orders and their bookings, newest first.\n\nExample: {command}").format(
    command="maorders bookings list --state New"))
def bookings_list(
    ctx: typer.Context,
    booking_state: Optional[str] = typer.Option(None, "--state", callback=state_choice, help=_(
        "Only this booking state (New, Closed, Issued, Deleted), order state («Готов к выдаче» …) or "
        "outcome (full, partial, none, cancelled, rejected), in any case. Example: {option}").format(option="--state new")),
    cancelled_by_client: bool = typer.Option(False, "--cancelled-by-client", help=_(
        "The saved filter: «Аннулирован клиентом» and not deleted — bookings to unbook.")),
) -> None:
    def fetch(journal: Any) -> list[dict[str, Any]]:
        from maorders.megapteka import desk, store

        return [desk.public(r) for r in store.list_orders(journal, booking_state, cancelled_by_client)]

    answer(ctx, "bookings list", "bookings", fetch, lambda out, rows: out.table(
        _("Bookings"), [_("Order"), _("Id"), _("Booking"), _("Order state"), _("Booked"), _("Booked at")],
        [(r["number"], r["id"], booking_word(r["booking_state"]), r["order_state"], outcome_word(r["outcome"]),
          r["booked_at"] or "")
         for r in rows]))


@bookings.command("show", help=_("Show one order: its lines, what is booked, its statuses and their sending."
                                 "\n\nExample: {command}").format(command="maorders bookings show MA-1042"))
def bookings_show(ctx: typer.Context, order: str = ORDER_ARG) -> None:
    def fetch(journal: Any) -> dict[str, Any]:
        from maorders.megapteka import desk

        return desk.detail(journal, order)

    def human(out: Any, detail: dict[str, Any]) -> None:
        out.result(_("{number} (id {id}): {booking}, «{state}», booked: {outcome}").format(
            number=detail["number"], id=detail["id"], booking=booking_word(detail["booking_state"]),
            state=detail["order_state"], outcome=outcome_word(detail["outcome"])))
        if detail["problem"]:
            out.warn(detail["problem"])
        out.table(_("Lines"), [_("Line"), _("Name"), _("Stock item"), _("Ordered"), _("Booked"), _("Price")],
                  [(line["line_id"], line["name"], line["stock_sku"], quantity(line["ordered"]),
                    quantity(line["booked"]), money(line["price"])) for line in detail["lines"]])
        out.table(_("Statuses"), [_("Status"), _("Sending"), _("Attempts"), _("Last error"), _("Sent at")],
                  [(booking_status(s["status"], with_number=True), sending_word(s["state"]), s["attempts"], s["last_error"],
                    s["sent_at"]) for s in detail["statuses"]])

    answer(ctx, "bookings show", "booking", fetch, human)


def _booking_action(ctx: typer.Context, order: str, action_name: str) -> None:
    def fetch(journal: Any) -> dict[str, Any]:
        from maorders.megapteka import desk

        return desk.act(journal, order, action_name)

    def human(out: Any, result: dict[str, Any]) -> None:
        queued = (_("; status «{status}» queued for push-statuses").format(
            status=booking_status(result["queued_status"], with_number=True)) if result["queued_status"] else "")
        out.result(_("{number}: {booking}, «{state}»").format(
            number=result["number"], booking=booking_word(result["booking_state"]), state=result["order_state"]) + queued)

    answer(ctx, f"bookings {action_name}", "booking", fetch, human)


@bookings.command("request-confirmation", help=_("Close the booking and ask the customer to accept what can be given "
                                  "(status 7 with the items).\n\nExample: {command}").format(
    command="maorders bookings request-confirmation MA-1042"))
def bookings_request_confirmation(ctx: typer.Context, order: str = ORDER_ARG) -> None:
    _booking_action(ctx, order, "request-confirmation")


@bookings.command("ready", help=_("The order is assembled and ready to be given (status 5).\n\n"
                                   "Example: {command}").format(
    command="maorders bookings ready MA-1042"))
def bookings_ready(ctx: typer.Context, order: str = ORDER_ARG) -> None:
    _booking_action(ctx, order, "ready")


@bookings.command("issue", help=_("The order was sold at the till (status 2); its booking stops holding "
                                   "stock.\n\nExample: {command}").format(
    command="maorders bookings issue MA-1042"))
def bookings_issue(ctx: typer.Context, order: str = ORDER_ARG) -> None:
    _booking_action(ctx, order, "issue")


@bookings.command("delete", help=_("Unbook: delete the booking and release its stock (status 3 unless the "
                                  "site cancelled it).\n\nExample: {command}").format(
    command="maorders bookings delete MA-1042"))
def bookings_delete(ctx: typer.Context, order: str = ORDER_ARG) -> None:
    _booking_action(ctx, order, "delete")
