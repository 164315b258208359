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


@app.command("list", help=_("List the till's loyalty sales, newest first: receipt, state, operation, points."
                           "\n\nExample: {command}").format(command="maorders loyalty list --unfinished"))
def loyalty_list(
    ctx: typer.Context,
    unfinished: bool = typer.Option(False, "--unfinished", help=_("Only sales whose outcome is not known yet "
                                    "(sent, unanswered): `scan-qr --reconcile` settles them. "
                                    "Example: maorders loyalty list --unfinished")),
) -> None:
    def fetch(journal: Any) -> list[dict[str, Any]]:
        from loyalty import desk

        return desk.rows(journal, unfinished)

    answer(ctx, "loyalty list", "sales", fetch, _list)


def _list(out: Any, sales: list[dict[str, Any]]) -> None:
    from loyalty.words import sale_state
    from maorders.i18n import _, money

    out.table(_("Loyalty sales"), [_("Receipt"), _("State"), _("Operation"), _("To pay"), _("Redeemed"),
                                   _("Accrued"), _("Balance"), _("At")],
              [(s["receipt_number"], sale_state(s["state"]), s["operation_id"] or "-", money(s["total_to_pay"]) or "-",
                _points(s["points_redeemed"]), _points(s["points_accrued"]), _points(s["balance"]),
                s["confirmed_at"] or s["updated_at"]) for s in sales])


def _points(value: Any) -> str:
    from maorders.i18n import points

    return points(value) or "-"


@app.command("show", help=_("Show one sale: receipt, request id, lines, points, refunds and every send."
                           "\n\nExample: {command}").format(command="maorders loyalty show op-17"))
def loyalty_show(ctx: typer.Context, operation: str = OPERATION_ARG) -> None:
    def fetch(journal: Any) -> dict[str, Any]:
        from loyalty import desk

        return desk.detail(journal, operation)

    answer(ctx, "loyalty show", "sale", fetch, _show)


def _show(out: Any, detail: dict[str, Any]) -> None:
    from loyalty import words
    from maorders.i18n import _, money

    out.info(_("receipt {receipt}: {state}, operation {operation}, request id {request}, {payment}").format(
        receipt=detail["receipt_number"], state=words.sale_state(detail["state"]),
        operation=detail["operation_id"] or "-", request=detail["request_id"],
        payment=words.payment_type(detail["payment_type"])))
    out.info(_("balance before {before}, to pay {total}, redeemed {redeemed}, accrued {accrued}, "
               "balance {balance}").format(
        before=_points(detail["balance_before"]), total=money(detail["total_to_pay"]) or "-",
        redeemed=_points(detail["points_redeemed"]), accrued=_points(detail["points_accrued"]),
        balance=_points(detail["balance"])))
    if detail["error"]:
        out.warn(words.note(detail["error"]))
    out.table(_("Lines"), [_("Code"), _("Price"), _("Amount"), _("Discount")],
              [(words.line_code(l["code"]), money(l["price"]), money(l["amount"]), money(l["discount"]))
               for l in detail["lines"]])
    out.table(_("Refunds"), [_("Refund"), _("State"), _("Reason"), _("Amount"), _("Return receipt"), _("Returned"),
                             _("Revoked"), _("Balance")],
              [(r["refund_operation_id"] or "-", words.refund_state(r["state"]), words.refund_reason(r["reason"]),
                money(r["amount"]) or _("all"), r["return_receipt"] or "-", _points(r["points_returned"]),
                _points(r["points_revoked"]), _points(r["balance"])) for r in detail["refunds"]])
    out.table(_("Sends"), [_("Kind"), _("State"), _("Attempt at"), _("HTTP"), _("Result"), _("Message")],
              [(words.send_kind(s["kind"]), words.send_state(s["state"]), s["at"] or "-",
                s["http_code"] or "-", words.send_state(s["result"]) or "-", words.note(s["message"]))
               for s in detail["sends"]])
