"""`maorders shipments …`: CRM orders sent to MeaSoft, their delivery statuses and problems."""

from __future__ import annotations

from typing import Any, Optional

import typer

from courier import words
from maorders.i18n import _, money, wall_time
from maorders.words import outbox_state
from maorders.operator import answer

shipments = typer.Typer(help=_("Courier shipments: RetailCRM orders sent to MeaSoft and their delivery statuses.\n\n"
                               "Example: {command}").format(command="maorders shipments list --problems"),
                        no_args_is_help=True)

SHIPMENT_ARG = typer.Argument(..., help=_("The CRM order number (1001A), the CRM order id (1) "
                                          "or the MeaSoft orderno."))


@shipments.command("list", help=_("List shipments, newest first: CRM order ↔ MeaSoft orderno, last statuses, "
                                  "problems.\n\nExample: {command}").format(
                                      command="maorders shipments list --problems"))
def shipments_list(
    ctx: typer.Context,
    shipment_state: Optional[str] = typer.Option(None, "--state", help=_(
        "Only this shipment state (queued, sent, rejected, cancelling, cancelled), MeaSoft status or CRM "
        "status. Example: {option}").format(option="--state COMPLETE")),
    problems: bool = typer.Option(False, "--problems", help=_("Only shipments with a problem a person must see.")),
) -> None:
    def fetch(journal: Any) -> list[dict[str, Any]]:
        from courier import desk

        return desk.rows(journal, shipment_state, problems)

    answer(ctx, "shipments list", "shipments", fetch, lambda out, rows: out.table(
        _("Shipments"), [_("CRM order"), _("CRM id"), _("MeaSoft orderno"), _("State"), _("MeaSoft status"),
                         _("CRM status"), _("Problem")],
        [(r["crm_number"], r["crm_order_id"], r["orderno"], words.shipment_state(r["state"]),
          f"{r['measoft_status'] or '-'} {r['measoft_title'] or ''}".strip(), r["crm_status"] or "-", r["error"] or "")
         for r in rows]))


@shipments.command("show", help=_("Show one shipment: both numbers, every MeaSoft status it went through, every "
                                  "send.\n\nExample: {command}").format(command="maorders shipments show 1001A"))
def shipments_show(ctx: typer.Context, shipment: str = SHIPMENT_ARG) -> None:
    def fetch(journal: Any) -> dict[str, Any]:
        from courier import desk

        return desk.detail(journal, shipment)

    def human(out: Any, detail: dict[str, Any]) -> None:
        out.result(_("CRM order {number} (id {id}) ↔ MeaSoft {orderno}{awb}: {state}, MeaSoft {measoft}, "
                     "CRM {crm}").format(number=detail["crm_number"], id=detail["crm_order_id"],
                                         orderno=detail["orderno"], awb=f" ({detail['awb']})" if detail["awb"] else "",
                                         state=words.shipment_state(detail["state"]),
                                         measoft=detail["measoft_status"] or "-",
                                         crm=detail["crm_status"] or "-"))
        if detail["error"]:
            out.warn(detail["error"])
        out.table(_("MeaSoft statuses"), [_("Status"), _("Title"), _("Event time"), _("Pay type"), _("Price"),
                                          _("Refused items"), _("CRM status")],
                  [(s["status"], s["title"], wall_time(s["event_time"]), words.pay_type(s["paytype"]), money(s["price"]),
                    s["returns"], s["crm_status"] or "-") for s in detail["statuses"]])
        out.table(_("Sends"), [_("Kind"), _("State"), _("Attempts"), _("Last error"), _("Sent at")],
                  [(words.send_kind(s["kind"]), outbox_state(s["state"]), s["attempts"], s["last_error"],
                    s["sent_at"]) for s in detail["sends"]])

    answer(ctx, "shipments show", "shipment", fetch, human)
