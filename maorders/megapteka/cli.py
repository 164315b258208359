"""`maorders bookings …`: what people at the pharmacy do with internet-order bookings."""

from __future__ import annotations

from typing import Any, Optional

import typer

from maorders.operator import answer

bookings = typer.Typer(help="Internet-order bookings at the pharmacy (MegApteka).\n\n"
                            "Example: maorders bookings list --cancelled-by-client",
                       no_args_is_help=True)

ORDER_ARG = typer.Argument(..., help="The order as people know it: its site number (MA-1042) or id (1042).")


@bookings.command("list")
def bookings_list(
    ctx: typer.Context,
    booking_state: Optional[str] = typer.Option(None, "--state", help="Only this booking or order state "
                                                "(New, Closed, Issued, Deleted, or an order state). "
                                                "Example: --state New"),
    cancelled_by_client: bool = typer.Option(False, "--cancelled-by-client", help="The saved filter: "
                                             "«Аннулирован клиентом» and not deleted — bookings to unbook."),
) -> None:
    """List orders and their bookings, newest first.

    Example: maorders bookings list --state New
    """
    def fetch(journal: Any) -> list[dict[str, Any]]:
        from maorders.megapteka import desk, store

        return [desk.public(r) for r in store.list_orders(journal, booking_state, cancelled_by_client)]

    answer(ctx, "bookings list", "bookings", fetch, lambda out, rows: out.table(
        "Bookings", ["number", "id", "booking", "order state", "outcome", "booked at"],
        [(r["number"], r["id"], r["booking_state"] or "-", r["order_state"], r["outcome"], r["booked_at"] or "")
         for r in rows]))


@bookings.command("show")
def bookings_show(ctx: typer.Context, order: str = ORDER_ARG) -> None:
    """Show one order: its lines, what is booked, its statuses and their sending.

    Example: maorders bookings show MA-1042
    """
    def fetch(journal: Any) -> dict[str, Any]:
        from maorders.megapteka import desk

        return desk.detail(journal, order)

    def human(out: Any, detail: dict[str, Any]) -> None:
        out.info(f"{detail['number']} (id {detail['id']}): booking {detail['booking_state'] or '-'}, "
                 f"«{detail['order_state']}», {detail['outcome']}")
        if detail["problem"]:
            out.warn(detail["problem"])
        out.table("Lines", ["line", "name", "stock sku", "ordered", "booked", "price"],
                  [tuple(line.values()) for line in detail["lines"]])
        out.table("Statuses", ["status", "state", "attempts", "last error", "sent at"],
                  [tuple(s.values()) for s in detail["statuses"]])

    answer(ctx, "bookings show", "booking", fetch, human)


def _booking_action(ctx: typer.Context, order: str, action_name: str) -> None:
    def fetch(journal: Any) -> dict[str, Any]:
        from maorders.megapteka import desk

        return desk.act(journal, order, action_name)

    def human(out: Any, result: dict[str, Any]) -> None:
        queued = f"; status {result['queued_status']} queued for push-statuses" if result["queued_status"] else ""
        out.info(f"{result['number']}: booking {result['booking_state']}, «{result['order_state']}»{queued}")

    answer(ctx, f"bookings {action_name}", "booking", fetch, human)


@bookings.command("request-confirmation")
def bookings_request_confirmation(ctx: typer.Context, order: str = ORDER_ARG) -> None:
    """Close the booking and ask the customer to accept what can be given (status 7 with the items).

    Example: maorders bookings request-confirmation MA-1042
    """
    _booking_action(ctx, order, "request-confirmation")


@bookings.command("ready")
def bookings_ready(ctx: typer.Context, order: str = ORDER_ARG) -> None:
    """The order is assembled and ready to be given (status 5).

    Example: maorders bookings ready MA-1042
    """
    _booking_action(ctx, order, "ready")


@bookings.command("issue")
def bookings_issue(ctx: typer.Context, order: str = ORDER_ARG) -> None:
    """The order was sold at the till (status 2); its booking stops holding stock.

    Example: maorders bookings issue MA-1042
    """
    _booking_action(ctx, order, "issue")


@bookings.command("delete")
def bookings_delete(ctx: typer.Context, order: str = ORDER_ARG) -> None:
    """Unbook: delete the booking and release its stock (status 3 unless the site cancelled it).

    Example: maorders bookings delete MA-1042
    """
    _booking_action(ctx, order, "delete")
