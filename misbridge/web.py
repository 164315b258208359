"""The clinic's cash desk on the staff desk (`maorders desk`): what `maorders receipts …` shows and does.

Invoices waiting, paid and annulled (the red ones: «Ошибка отправки …»); an invoice's send history
(«История МИС»: attempt, HTTP code, Result, Message); «Обработать все» (the resend-receipts pass);
«Отправить повторно»; the e-receipt queue with resend and delete; and the pay form for desks
without a till program (`receipts pay`). Each action calls the function its command calls.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlencode

from maorders.desk import Act, Actions, Button, Column, Facts, Field, Filters, Form, Note, Page, Pages, Table, View
from maorders.errors import ConfigError, InputError
from maorders.i18n import N_, _, money, wall_time, word
from misbridge.words import (CHANNELS, METHODS, NOTES, PAY, RECEIPT_TYPES, RECEIVE, counts_in_words,
                             ereceipts_in_words, in_words, list_in_words, notes_in_words)

FILTERS = (("waiting", N_("Waiting")), ("paid", N_("Paid")), ("annulled", N_("Annulled")),
           ("failed", N_("With errors")), ("all", N_("All")))
DONE_STATES = ("paid", "refunded", "annulled")


def _config(view: View) -> Any:
    if view.config is None:
        raise ConfigError(_("the cash desk is not configured: set MIS_URL (and MIS_OGRN, MIS_OID, "
                            "MIS_CASHDESK_GUID)"))
    return view.config


# -- invoices -------------------------------------------------------------------------------
def invoices(view: View) -> list[Any]:
    from misbridge import desk

    if view.arg("ref"):
        return _detail(view, view.arg("ref"))
    which = view.arg("show", "waiting")
    rows = desk.invoice_rows(view.journal, failed=which == "failed")
    if which == "waiting":
        rows = [r for r in rows if r["state"] not in DONE_STATES]
    elif which in ("paid", "annulled"):
        rows = [r for r in rows if r["state"] == which]
    rows = [r | {"link": "invoices?" + urlencode({"ref": r["number"]}), "problems": notes_in_words(r["errors"]),
                 "state_shown": in_words(r["state"]), "receive_shown": in_words(r["receive"]),
                 "pays_shown": list_in_words(r["pays"])} for r in rows]
    return [Form(_("Send everything now"), "process-all", (), _("Process all"),
                 note=_("«Обработать все»: every queued or failed Receive and Pay to ТМ:МИС, then the e-receipts "
                        "(the same as the resend-receipts pass).")),
            Filters("show", [(value, _(label)) for value, label in FILTERS], which),
            Table(_("Invoices"), [
                Column("number", _("Invoice"), link="link"), Column("date", _("Date"), kind="wall time"), Column("state_shown", _("State")),
                Column("pay_sum", _("To pay"), kind="money"), Column("receive_shown", _(RECEIVE)),
                Column("checks", _("Checks")), Column("pays_shown", _(PAY)), Column("problems", _("Errors"))],
                rows, empty=_("No invoices in this list."), problem_key="problems")]


def _detail(view: View, ref: str) -> list[Any]:
    from misbridge import desk

    d = desk.detail(view.journal, ref)
    blocks: list[Any] = [Facts(_("Invoice {number}").format(number=d["number"]), [
        (_("Guid"), d["guid"]), (_("Date"), wall_time(d["date"])), (_("State"), in_words(d["state"])), (_("Invoice sum"), money(d["invoice_sum"])),
        (_("To pay"), money(d["pay_sum"])), (_(RECEIVE), in_words(d["receive"])), (_("Child of"), d["child_of"])])]
    blocks += [Note(word(NOTES, flag), problem=True) for flag in d["errors"]]
    blocks.append(Actions(str(d["number"]), [Button("resend", _("Send again"))]))
    blocks.append(Table(_("Services"), [
        Column("code", _("Code")), Column("name", _("Name")), Column("count", _("Count"), kind="quantity"),
        Column("price", _("Price"), kind="money"), Column("cost", _("Cost"), kind="money"), Column("vat", _("VAT"))], d["services"]))
    receipts = [r | {"ereceipt_list": ereceipts_in_words(r["ereceipts"]), "pay_shown": in_words(r["pay"]),
                     "type_shown": word(RECEIPT_TYPES, r["type"])} for r in d["receipts"]]
    history = [h | {"method_shown": word(METHODS, h["method"])} for h in d["history"]]
    blocks.append(Table(_("Receipts"), [
        Column("check_num", _("Check")), Column("type_shown", _("Type")), Column("bill_date", _("Bill date"), kind="wall time"),
        Column("total", _("Total"), kind="money"), Column("pay_shown", _(PAY)), Column("error", _("Error")),
        Column("ereceipt_list", _("E-receipts"))], receipts, empty=_("No receipt yet."), problem_key="error"))
    blocks.append(Table(_("История МИС: every send"), [
        Column("at", _("Time"), kind="time"), Column("method_shown", _("Method")), Column("check_num", _("Check")),
        Column("attempt", _("Attempt")), Column("http_code", _("HTTP code")), Column("result", _("Result")),
        Column("message", _("Message"))], history, empty=_("Nothing sent yet.")))
    if d["state"] not in DONE_STATES:
        blocks.append(_pay_form(str(d["number"])))
    return blocks


def _pay_form(number: str) -> Form:
    return Form(_("Record a paid receipt"), "pay", (
        Field("check_num", _("Check number"), "number", required=True,
              help=_("The fiscal receipt's number, unique at this cash desk.")),
        Field("payment", _("Payment"), required=True, repeat=3,
              help=_("TYPE:SUM, TYPE cash, card or advance. Example: cash:1000")),
        Field("email", _("Buyer's e-mail for the e-receipt"), "email"),
        Field("phone", _("Buyer's phone for the e-receipt by SMS"), "tel"),
        Field("partial", _("Partial payment: type yes"), help=_("Less than is due is paid now."))),
        _("Record the receipt"), note=_("For desks without a till program: the same as `receipts pay`."),
        hidden={"ref": number})


# -- actions --------------------------------------------------------------------------------
def _process_all(act: Act) -> str:
    summary = act.run_pass("resend-receipts")
    result = summary.get("connectors", {}).get(act.connector, {})
    counts = counts_in_words(dict(sorted(result.get("counts", {}).items()))) or _("nothing to send")
    errors = result.get("errors") or []
    if result.get("exit_code"):
        raise InputError(_("Processed: {counts}. Not done: {errors}").format(counts=counts, errors="; ".join(errors)))
    return _("Processed: {counts}.").format(counts=counts) + (" " + "; ".join(errors) if errors else "")


def _resend(act: Act) -> str:
    from misbridge import operate

    result = operate.resend_invoice(act.app, act.journal, _config(act), act.field("ref"))
    counts = counts_in_words(result["counts"]) or _("nothing to send")
    return _("Invoice {number}: {counts}.").format(number=result["invoice"], counts=counts) + (
        " " + "; ".join(result["problems"]) if result["problems"] else "")


def _pay(act: Act) -> str:
    from misbridge import desk
    from misbridge.receipts import SALE

    try:
        check_num = int(act.field("check_num"))
    except ValueError:
        raise InputError(_("Check number: a whole number, e.g. 235")) from None
    payments = [p.strip() for p in act.form.getlist("payment") if p.strip()]
    partial = act.field("partial").lower() in ("yes", "y", "да", "1", "on")
    r = desk.record_receipt(act.journal, _config(act), act.field("ref"), check_num, payments, SALE, partial,
                            act.field("email") or None, act.field("phone") or None)
    return _("Receipt {check} ({total}) recorded for invoice {invoice}: invoice {state}; Pay queued").format(
        check=r["check_num"], total=money(r["total"]), invoice=r["invoice"], state=in_words(r["invoice_state"])) + (
        _(", e-receipt {id} queued").format(id=r["ereceipt_id"]) if r["ereceipt_id"] else "")


# -- the e-receipt queue ---------------------------------------------------------------------
def ereceipts(view: View) -> list[Any]:
    from misbridge import desk

    which = view.arg("show", "failed")
    rows = [r | {"ref": r["id"], "state_shown": in_words(r["state"]), "channel_shown": word(CHANNELS, r["channel"]),
                 "status_shown": word(NOTES, r["status_text"])}
            for r in desk.ereceipt_rows(view.journal, failed=which == "failed")]
    return [Filters("show", [("failed", _("Not sent")), ("all", _("All"))], which),
            Table(_("E-receipts"), [
                Column("id", _("Id")), Column("invoice", _("Invoice")), Column("check_num", _("Check")),
                Column("channel_shown", _("Channel")), Column("recipient", _("To")), Column("state_shown", _("State")),
                Column("status_code", _("Code")), Column("status_shown", _("Status")), Column("sent_at", _("Sent at"), kind="time")],
                rows, [Button("resend", _("Send again"), show=lambda r: r["state"] != "sent"),
                       Button("delete", _("Delete"), danger=True,
                              confirm=_("Delete this e-receipt from the queue? It will not be sent."))],
                empty=_("The queue is empty."))]


def _ereceipt_id(act: Act) -> int:
    try:
        return int(act.field("ref"))
    except ValueError:
        raise InputError(_("No such e-receipt.")) from None


def _ereceipt_resend(act: Act) -> str:
    from misbridge import operate

    result = operate.resend_ereceipt(act.app, act.journal, _config(act), _ereceipt_id(act))
    return _("E-receipt {id}: {state}").format(id=result["id"], state=in_words(result["state"]))


def _ereceipt_delete(act: Act) -> str:
    from misbridge import desk

    result = desk.requeue_ereceipt(act.journal, _ereceipt_id(act), delete=True)
    return _("E-receipt {id}: deleted from the queue").format(id=result["id"])


def _link(note: Mapping[str, Any]) -> str | None:
    """Notifications name an invoice's guid, a send ("receive/<guid>", "pay/12") or an e-receipt ("email/3")."""
    kind, _sep, key = str(note["subject"]).partition("/")
    if kind in ("email", "sms") or note["kind"] == "channel_down":
        return "ereceipts"
    if kind == "receive":
        return "invoices?" + urlencode({"ref": key})
    if kind == "pay":
        return "invoices?show=failed"
    return "invoices?" + urlencode({"ref": kind}) if kind else None


PAGES = Pages(
    pages=(Page("invoices", N_("Clinic cash desk"), invoices,
                {"process-all": _process_all, "resend": _resend, "pay": _pay}),
           Page("ereceipts", N_("E-receipt queue"), ereceipts,
                {"resend": _ereceipt_resend, "delete": _ereceipt_delete})),
    link=_link,
)
