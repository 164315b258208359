"""`maorders loyalty …`: the till's loyalty operations, their request ids, points and refunds."""

from __future__ import annotations

from typing import Any

import typer

from maorders.operator import answer

app = typer.Typer(help="Loyalty operations at the till (Megainsight): receipts, request ids, points, refunds.\n\n"
                       "Example: maorders loyalty list --unfinished",
                  no_args_is_help=True)

OPERATION_ARG = typer.Argument(..., help="The operation id scan-qr printed (op-17), the receipt number or the "
                                         "request id. Example: op-17")


@app.command("list")
def loyalty_list(
    ctx: typer.Context,
    unfinished: bool = typer.Option(False, "--unfinished", help="Only sales whose outcome is not known yet "
                                    "(sent, unanswered): `scan-qr --reconcile` settles them. "
                                    "Example: maorders loyalty list --unfinished"),
) -> None:
    """List the till's loyalty sales, newest first: receipt, state, operation, points.

    Example: maorders loyalty list --unfinished
    """
    def fetch(journal: Any) -> list[dict[str, Any]]:
        from loyalty import desk

        return desk.rows(journal, unfinished)

    answer(ctx, "loyalty list", "sales", fetch, lambda out, sales: out.table(
        "Loyalty sales", ["receipt", "state", "operation", "to pay", "redeemed", "accrued", "balance", "at"],
        [(s["receipt_number"], s["state"], s["operation_id"] or "-", s["total_to_pay"], s["points_redeemed"] or "-",
          s["points_accrued"] or "-", s["balance"] or "-", s["confirmed_at"] or s["updated_at"]) for s in sales]))


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
    out.info(f"receipt {detail['receipt_number']}: {detail['state']}, operation {detail['operation_id'] or '-'}, "
             f"request id {detail['request_id']}, {detail['payment_type']}")
    out.info(f"balance before {detail['balance_before'] or '-'}, to pay {detail['total_to_pay'] or '-'}, "
             f"redeemed {detail['points_redeemed'] or '-'}, accrued {detail['points_accrued'] or '-'}, "
             f"balance {detail['balance'] or '-'}")
    if detail["error"]:
        out.warn(detail["error"])
    out.table("Lines", ["code", "price", "amount", "discount"],
              [(l["code"], l["price"], l["amount"], l["discount"]) for l in detail["lines"]])
    out.table("Refunds", ["refund", "state", "reason", "amount", "return receipt", "returned", "revoked", "balance"],
              [(r["refund_operation_id"] or "-", r["state"], r["reason"], r["amount"] or "all",
                r["return_receipt"] or "-", r["points_returned"] or "-", r["points_revoked"] or "-",
                r["balance"] or "-") for r in detail["refunds"]])
    out.table("Sends", ["kind", "state", "attempt at", "HTTP", "result", "message"],
              [(s["kind"], s["state"], s["at"] or "-", s["http_code"] or "-", s["result"] or "-",
                s["message"] or "") for s in detail["sends"]])
