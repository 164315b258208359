"""`maorders shipments …`: CRM orders sent to MeaSoft, their delivery statuses and problems."""

from __future__ import annotations

from typing import Any, Optional

import typer

from maorders.operator import answer

shipments = typer.Typer(help="Courier shipments: RetailCRM orders sent to MeaSoft and their delivery statuses.\n\n"
                             "Example: maorders shipments list --problems",
                        no_args_is_help=True)

SHIPMENT_ARG = typer.Argument(..., help="The CRM order number (1001A), the CRM order id (1) "
                                        "or the MeaSoft orderno.")


@shipments.command("list")
def shipments_list(
    ctx: typer.Context,
    shipment_state: Optional[str] = typer.Option(None, "--state", help="Only this shipment state (queued, sent, "
                                                 "rejected, cancelling, cancelled), MeaSoft status or CRM "
                                                 "status. Example: --state COMPLETE"),
    problems: bool = typer.Option(False, "--problems", help="Only shipments with a problem a person must see."),
) -> None:
    """List shipments, newest first: CRM order ↔ MeaSoft orderno, last statuses, problems.

    Example: maorders shipments list --problems
    """
    def fetch(journal: Any) -> list[dict[str, Any]]:
        from courier import desk

        return desk.rows(journal, shipment_state, problems)

    answer(ctx, "shipments list", "shipments", fetch, lambda out, rows: out.table(
        "Shipments", ["CRM order", "CRM id", "MeaSoft orderno", "state", "MeaSoft status", "CRM status", "problem"],
        [(r["crm_number"], r["crm_order_id"], r["orderno"], r["state"],
          f"{r['measoft_status'] or '-'} {r['measoft_title'] or ''}".strip(), r["crm_status"] or "-", r["error"] or "")
         for r in rows]))


@shipments.command("show")
def shipments_show(ctx: typer.Context, shipment: str = SHIPMENT_ARG) -> None:
    """Show one shipment: both numbers, every MeaSoft status it went through, every send.

    Example: maorders shipments show 1001A
    """
    def fetch(journal: Any) -> dict[str, Any]:
        from courier import desk

        return desk.detail(journal, shipment)

    def human(out: Any, detail: dict[str, Any]) -> None:
        out.info(f"CRM order {detail['crm_number']} (id {detail['crm_order_id']}) ↔ MeaSoft {detail['orderno']}"
                 f"{' (' + detail['awb'] + ')' if detail['awb'] else ''}: {detail['state']}, MeaSoft "
                 f"{detail['measoft_status'] or '-'}, CRM {detail['crm_status'] or '-'}")
        if detail["error"]:
            out.warn(detail["error"])
        out.table("MeaSoft statuses", ["status", "title", "event time", "paytype", "price", "refused items",
                                       "CRM status"],
                  [(s["status"], s["title"], s["event_time"], s["paytype"], s["price"], s["returns"],
                    s["crm_status"] or "-") for s in detail["statuses"]])
        out.table("Sends", ["kind", "state", "attempts", "last error", "sent at"],
                  [tuple(s.values()) for s in detail["sends"]])

    answer(ctx, "shipments show", "shipment", fetch, human)
