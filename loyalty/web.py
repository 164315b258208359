"""Loyalty operations on the staff desk (`maorders desk`): what `maorders loyalty …` shows.

Unfinished sales (sent, no answer yet: `scan-qr --reconcile` settles them) and those refunded
as never finished at the till, with their receipts, points and refunds, for the station's manager.
No name, card or code is kept, so none is shown.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlencode

from maorders.desk import Column, Facts, Filters, Note, Page, Pages, Table, View
from maorders.i18n import N_, _

FILTERS = (("unfinished", N_("Unfinished")), ("orphan_refunded", N_("Refunded, never finished at the till")),
           ("all", N_("All")))


def operations(view: View) -> list[Any]:
    from loyalty import desk, words

    if view.arg("ref"):
        return _detail(view, view.arg("ref"))
    which = view.arg("show", "unfinished")
    rows = desk.rows(view.journal, unfinished=which == "unfinished")
    if which == "orphan_refunded":
        rows = [r for r in rows if r["state"] == "orphan_refunded"]
    rows = [r | {"link": "operations?" + urlencode({"ref": r["request_id"]}), "at": r["confirmed_at"] or r["updated_at"],
                 "state_shown": words.sale_state(r["state"]), "payment_shown": words.payment_type(r["payment_type"]),
                 "error_shown": words.note(r["error"])} for r in rows]
    return [Filters("show", [(value, _(label)) for value, label in FILTERS], which),
            Table(_("Loyalty sales"), [
                Column("receipt_number", _("Receipt"), link="link"), Column("state_shown", _("State")),
                Column("operation_id", _("Operation")), Column("payment_shown", _("Payment")),
                Column("total_to_pay", _("To pay")), Column("points_redeemed", _("Redeemed")),
                Column("points_accrued", _("Accrued")), Column("balance", _("Balance")), Column("error_shown", _("Error")),
                Column("at", _("At"))], rows, empty=_("No operations in this list."), problem_key="error_shown")]


def _detail(view: View, ref: str) -> list[Any]:
    from loyalty import desk, words

    d = desk.detail(view.journal, ref)
    blocks: list[Any] = [Facts(_("Receipt {number}").format(number=d["receipt_number"]), [
        (_("State"), words.sale_state(d["state"])), (_("Operation"), d["operation_id"]),
        (_("Request id"), d["request_id"]), (_("Payment"), words.payment_type(d["payment_type"])),
        (_("Balance before"), d["balance_before"]),
        (_("To pay"), d["total_to_pay"]), (_("Redeemed"), d["points_redeemed"]),
        (_("Accrued"), d["points_accrued"]), (_("Balance"), d["balance"]), (_("Updated"), d["updated_at"])])]
    if d["error"]:
        blocks.append(Note(words.note(d["error"]), problem=True))
    lines = [line | {"code": words.line_code(line["code"])} for line in d["lines"]]
    blocks.append(Table(_("Lines"), [Column("code", _("Code")), Column("price", _("Price")),
                                     Column("amount", _("Amount")), Column("discount", _("Discount"))], lines))
    refunds = [r | {"state_shown": words.refund_state(r["state"]), "reason_shown": words.refund_reason(r["reason"])}
               for r in d["refunds"]]
    blocks.append(Table(_("Refunds"), [
        Column("refund_operation_id", _("Refund")), Column("state_shown", _("State")),
        Column("reason_shown", _("Reason")),
        Column("amount", _("Amount")), Column("return_receipt", _("Return receipt")),
        Column("points_returned", _("Returned")), Column("points_revoked", _("Revoked")),
        Column("balance", _("Balance"))], refunds, empty=_("No refunds.")))
    sends = [s | {"kind_shown": words.send_kind(s["kind"]), "state_shown": words.send_state(s["state"]),
                  "result_shown": words.send_state(s["result"]), "message_shown": words.note(s["message"])}
             for s in d["sends"]]
    blocks.append(Table(_("Sends"), [
        Column("kind_shown", _("Kind")), Column("state_shown", _("State")), Column("at", _("Attempt at")),
        Column("http_code", _("HTTP")), Column("result_shown", _("Result")), Column("message_shown", _("Message"))],
        sends))
    return blocks


def _link(note: Mapping[str, Any]) -> str | None:
    # the orphan's notice names "receipt 0042": the sale is found by its receipt number
    return "operations?" + urlencode({"ref": str(note["subject"]).removeprefix("receipt ")})


PAGES = Pages(pages=(Page("operations", N_("Loyalty operations"), operations),), link=_link)
