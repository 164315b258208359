"""Loyalty operations on the staff desk (`maorders desk`): what `maorders loyalty …` shows.

Unfinished sales (sent, no answer yet: `scan-qr --reconcile` settles them) and those refunded
as never finished at the till, with their receipts, points and refunds, for the station's manager.
No name, card or code is kept, so none is shown.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlencode

from maorders.desk import Column, Facts, Filters, Note, Page, Pages, Table, View, shown
from maorders.i18n import N_, _

POINTS = ("balance_before", "points_redeemed", "points_accrued", "balance", "points_returned", "points_revoked")
FILTERS = (("unfinished", N_("Unfinished")), ("orphan_refunded", N_("Refunded, never finished at the till")),
           ("all", N_("All")))


def operations(view: View) -> list[Any]:
    from loyalty import desk

    if view.arg("ref"):
        return _detail(view, view.arg("ref"))
    which = view.arg("show", "unfinished")
    rows = desk.rows(view.journal, unfinished=which == "unfinished")
    if which == "orphan_refunded":
        rows = [r for r in rows if r["state"] == "orphan_refunded"]
    return [Filters("show", [(value, _(label)) for value, label in FILTERS], which),
            Table(_("Loyalty sales"), [
                Column("receipt_number", _("Receipt"), link="link"), Column("state_shown", _("State")),
                Column("operation_id", _("Operation")), Column("payment_shown", _("Payment")),
                Column("total_to_pay", _("To pay"), kind="money"), Column("points_redeemed", _("Redeemed")),
                Column("points_accrued", _("Accrued")), Column("balance", _("Balance")),
                Column("error_shown", _("Error")), Column("at", _("At"), kind="time")],
                [_sale(r) for r in rows], empty=_("No operations in this list."), problem_key="error_shown")]


def _detail(view: View, ref: str) -> list[Any]:
    from loyalty import desk, words

    d = _sale(desk.detail(view.journal, ref))
    blocks: list[Any] = [Facts(_("Receipt {number}").format(number=d["receipt_number"]), [
        (_("State"), d["state_shown"]), (_("Operation"), d["operation_id"]), (_("Request id"), d["request_id"]),
        (_("Payment"), d["payment_shown"]), (_("Balance before"), d["balance_before"]),
        (_("To pay"), shown(d["total_to_pay"], "money")), (_("Redeemed"), d["points_redeemed"]),
        (_("Accrued"), d["points_accrued"]), (_("Balance"), d["balance"]),
        (_("Updated"), shown(d["updated_at"], "time"))])]
    if d["error"]:
        blocks.append(Note(d["error_shown"], problem=True))
    lines = [line | {"code": words.line_code(line["code"])} for line in d["lines"]]
    blocks.append(Table(_("Lines"), [Column("code", _("Code")), Column("price", _("Price"), kind="money"),
                                     Column("amount", _("Amount"), kind="money"),
                                     Column("discount", _("Discount"), kind="money")], lines))
    blocks.append(Table(_("Refunds"), [
        Column("refund_operation_id", _("Refund")), Column("state_shown", _("State")),
        Column("reason_shown", _("Reason")), Column("amount_shown", _("Amount")),
        Column("return_receipt", _("Return receipt")), Column("points_returned", _("Returned")),
        Column("points_revoked", _("Revoked")), Column("balance", _("Balance"))],
        [_refund(r) for r in d["refunds"]], empty=_("No refunds.")))
    blocks.append(Table(_("Sends"), [
        Column("kind_shown", _("Kind")), Column("state_shown", _("State")),
        Column("at", _("Attempt at"), kind="time"), Column("http_code", _("HTTP")),
        Column("result_shown", _("Result")), Column("message_shown", _("Message"))],
        [_send(s) for s in d["sends"]]))
    return blocks


# -- the journal's words and figures as people read them (the desk shows a row as it is given) ------
def _sale(row: Mapping[str, Any]) -> dict[str, Any]:
    from loyalty import words

    return _points(row) | {
        "link": "operations?" + urlencode({"ref": row["request_id"]}), "at": row["confirmed_at"] or row["updated_at"],
        "state_shown": words.sale_state(row["state"]), "payment_shown": words.payment_type(row["payment_type"]),
        "error_shown": words.note(row["error"])}


def _refund(row: Mapping[str, Any]) -> dict[str, Any]:
    from loyalty import words

    return _points(row) | {"state_shown": words.refund_state(row["state"]),
                           "reason_shown": words.refund_reason(row["reason"]),
                           "amount_shown": shown(row["amount"], "money") or _("all")}


def _send(row: Mapping[str, Any]) -> dict[str, Any]:
    from loyalty import words

    return {**row, "kind_shown": words.send_kind(row["kind"]), "state_shown": words.send_state(row["state"]),
            "result_shown": words.send_state(row["result"]), "message_shown": words.note(row["message"])}


def _points(row: Mapping[str, Any]) -> dict[str, Any]:
    """Points as `maorders loyalty` shows them (`1 520`, `12,35`)."""
    from maorders.i18n import points

    return {**row, **{key: points(row[key]) for key in POINTS if key in row}}


def _link(note: Mapping[str, Any]) -> str | None:
    # the orphan's notice names "receipt 0042": the sale is found by its receipt number
    return "operations?" + urlencode({"ref": str(note["subject"]).removeprefix("receipt ")})


PAGES = Pages(pages=(Page("operations", N_("Loyalty operations"), operations),), link=_link)
