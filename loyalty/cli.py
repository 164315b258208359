"""`maorders loyalty …`: the till's loyalty operations, their request ids, points and refunds."""

from __future__ import annotations

from typing import Any

import typer

from maorders.i18n import _
from maorders.operator import answer

app = typer.Typer(help=_("Loyalty operations at the till (Megainsight): receipts, request ids, points, refunds.\n\n"
                       "Example: maorders loyalty list --unfinished"),
                  no_args_is_help=True)

OPERATION_ARG = typer.Argument(..., help=_("The operation id scan-qr printed (op-17), the receipt number or the "
                                         "request id. Example: op-17"))


@app.command("list")
def loyalty_list(
    ctx: typer.Context,
    unfinished: bool = typer.Option(False, "--unfinished", help=_("Only sales whose outcome is not known yet "
                                    "(sent, unanswered): `scan-qr --reconcile` settles them. "
                                    "Example: maorders loyalty list --unfinished")),
) -> None:
    """List the till's loyalty sales, newest first: receipt, state, operation, points.

    Example: maorders loyalty list --unfinished
    """
    def fetch(journal: Any) -> list[dict[str, Any]]:
        from loyalty import desk

        return desk.rows(journal, unfinished)

    answer(ctx, "loyalty list", "sales", fetch, _list)


def _list(out: Any, sales: list[dict[str, Any]]) -> None:
    from maorders.i18n import _, money

    out.table(_("Loyalty sales"), [_("receipt"), _("state"), _("operation"), _("to pay"), _("redeemed"),
                                   _("accrued"), _("balance"), _("at")],
              [(s["receipt_number"], s["state"], s["operation_id"] or "-", money(s["total_to_pay"]) or "-",
                _points(s["points_redeemed"]), _points(s["points_accrued"]), _points(s["balance"]),
                s["confirmed_at"] or s["updated_at"]) for s in sales])


def _points(value: Any) -> str:
    from maorders.i18n import points

    return points(value) or "-"


@app.command("show")
def loyalty_show(ctx: typer.Context, operation: str = OPERATION_ARG) -> None:
    """Show one sale: receipt, request id, lines, points, refunds and every send.

    Example: maorders loyalty show op-17
    """
    def fetch(journal: Any) -> dict[str, Any]:
        from loyalty import desk

        return desk.detail(journal, operation)

    answer(ctx, "loyalty show", "sale", fetch, _show)


def _show(out: Any, detail: dict[str, Any]) -> None:
    from maorders.i18n import _, money

    out.info(_("receipt {receipt}: {state}, operation {operation}, request id {request}, {payment}").format(
        receipt=detail["receipt_number"], state=detail["state"], operation=detail["operation_id"] or "-",
        request=detail["request_id"], payment=detail["payment_type"]))
    out.info(_("balance before {before}, to pay {total}, redeemed {redeemed}, accrued {accrued}, "
               "balance {balance}").format(
        before=_points(detail["balance_before"]), total=money(detail["total_to_pay"]) or "-",
        redeemed=_points(detail["points_redeemed"]), accrued=_points(detail["points_accrued"]),
        balance=_points(detail["balance"])))
    if detail["error"]:
        out.warn(detail["error"])
    out.table(_("Lines"), [_("code"), _("price"), _("amount"), _("discount")],
              [(l["code"], money(l["price"]), money(l["amount"]), money(l["discount"])) for l in detail["lines"]])
    out.table(_("Refunds"), [_("refund"), _("state"), _("reason"), _("amount"), _("return receipt"), _("returned"),
                             _("revoked"), _("balance")],
              [(r["refund_operation_id"] or "-", r["state"], r["reason"], money(r["amount"]) or _("all"),
                r["return_receipt"] or "-", _points(r["points_returned"]), _points(r["points_revoked"]),
                _points(r["balance"])) for r in detail["refunds"]])
    out.table(_("Sends"), [_("kind"), _("state"), _("attempt at"), _("HTTP"), _("result"), _("message")],
              [(s["kind"], s["state"], s["at"] or "-", s["http_code"] or "-", s["result"] or "-",
                s["message"] or "") for s in detail["sends"]])
