"""`maorders receipts …` and `maorders cashdesks push`: the clinic cash desk's operator commands.

Only typer here (imported for `--help`); the work is in misbridge.desk and misbridge.operate.
"""

from __future__ import annotations

from typing import Any, List, Optional

import typer

from maorders.i18n import _, money, ngettext, quantity, wall_time, word
from maorders.operator import answer, app_state, with_journal
from misbridge.words import (CHANNELS, METHODS, NOTES, PAY, RECEIPT_TYPES, RECEIVE, counts_in_words,
                             ereceipts_in_words, in_words, list_in_words, notes_in_words)

receipts = typer.Typer(help=_("Receipts at the clinic's cash desk (ТМ:МИС invoices, Pay, e-receipts).") + "\n\n"
                       + _("Example: {command}").format(command="maorders receipts list --failed"),
                       no_args_is_help=True)
cashdesks = typer.Typer(help=_("The cash desk as ТМ:МИС knows it.") + "\n\n"
                        + _("Example: {command}").format(command="maorders cashdesks push"), no_args_is_help=True)

INVOICE = typer.Argument(..., help=_("The invoice: its ТМ:МИС number (6902) or its guid."))
CHECK = typer.Option(..., "--check-num", help=_("The fiscal receipt's number (unique at this cash desk, one series "
                                              "for sales and refunds). Example: --check-num 235"))
PAYMENT = typer.Option(..., "--payment", help=_("TYPE:SUM, TYPE cash, card or advance; repeat for a mixed payment. "
                                              "Example: --payment cash:1000 --payment card:500"))
EMAIL = typer.Option(None, "--email", help=_("Send the buyer's e-receipt to this address (given at payment). "
                                           "Example: --email buyer@example.org"))
PHONE = typer.Option(None, "--phone", help=_("Send the buyer's e-receipt by SMS to this number (given at payment). "
                                           "Example: --phone +79991234567"))
DATE = typer.Option(None, "--date", help=_("When the receipt was fiscalised (ISO, local time); default now. "
                                         "Example: --date 2023-06-21T09:48:26"))


def _config(ctx: typer.Context) -> Any:
    from maorders.errors import ConfigError

    config = app_state(ctx).settings().of("misbridge")
    if config is None:
        raise ConfigError(_("the cash desk is not configured: set MIS_URL (and MIS_OGRN, MIS_OID, MIS_CASHDESK_GUID)"))
    return config


def _record(ctx: typer.Context, command: str, invoice: str, check_num: int, payment: list[str], kind: int,
            partial: bool, email: Optional[str], phone: Optional[str], date: Optional[str]) -> None:
    def fetch(journal: Any) -> Any:
        from misbridge import desk

        return desk.record_receipt(journal, _config(ctx), invoice, check_num, payment, kind, partial, email,
                                   phone, date)

    def human(out: Any, result: Any) -> None:
        queued = (_("Pay and e-receipt {id} queued").format(id=result["ereceipt_id"]) if result["ereceipt_id"]
                  else _("Pay queued"))
        out.result(_("Receipt {check} ({type} {total}, {date}) recorded for invoice {invoice}: invoice {state}; "
                     "{queued} (resend-receipts sends them)").format(
            check=result["check_num"], type=word(RECEIPT_TYPES, result["type"]), total=money(result["total"]),
            date=wall_time(result["bill_date"]), invoice=result["invoice"], state=in_words(result["invoice_state"]),
            queued=queued))

    answer(ctx, command, "receipt", fetch, human)


@receipts.command("pay", help=_(
    "Record a fiscalised sale receipt for an invoice; queue its Pay and the buyer's "
    "e-receipt.\n\nWorks while ТМ:МИС is down (journal only). Bad input exits 65 naming the "
    "field, nothing queued.")
    + "\n\n" + _("Example: {command}").format(command="maorders receipts pay 6902 --check-num 235 --payment cash:5000 --email buyer@example.org"))
def receipts_pay(ctx: typer.Context, invoice: str = INVOICE, check_num: int = CHECK, payment: List[str] = PAYMENT,
                 partial: bool = typer.Option(False, "--partial", help=_("Less than is due is paid now (a partial "
                                                                       "payment). Example: --partial")),
                 email: Optional[str] = EMAIL, phone: Optional[str] = PHONE, date: Optional[str] = DATE) -> None:
    from misbridge.receipts import SALE

    _record(ctx, "receipts pay", invoice, check_num, payment, SALE, partial, email, phone, date)


@receipts.command("refund", help=_(
    "Record a refund receipt (возврат прихода, Type 2) for an invoice; queue its Pay.")
    + "\n\n" + _("Example: {command}").format(command="maorders receipts refund 6902 --check-num 236 --payment cash:5000"))
def receipts_refund(ctx: typer.Context, invoice: str = INVOICE, check_num: int = CHECK,
                    payment: List[str] = PAYMENT, email: Optional[str] = EMAIL, phone: Optional[str] = PHONE,
                    date: Optional[str] = DATE) -> None:
    from misbridge.receipts import REFUND

    _record(ctx, "receipts refund", invoice, check_num, payment, REFUND, False, email, phone, date)


@receipts.command("list", help=_(
    "List invoices, their Receive, their receipts and their Pay states, newest first.")
    + "\n\n" + _("Example: {command}").format(command="maorders receipts list --failed"))
def receipts_list(ctx: typer.Context, failed: bool = typer.Option(
        False, "--failed", help=_("Only the red ones: «Ошибка отправки "
                                "«Получения»/«Оплаты»» and e-receipts not sent. Example: --failed"))) -> None:
    def fetch(journal: Any) -> Any:
        from misbridge import desk

        return desk.invoice_rows(journal, failed)

    def human(out: Any, rows: Any) -> None:
        out.table(_("Invoices"), [_("Invoice"), _("Date"), _("State"), _("To pay"), _(RECEIVE), _("Checks"),
                                  _(PAY), _("Errors")],
                  [(r["number"], wall_time(r["date"]), in_words(r["state"]), money(r["pay_sum"]), in_words(r["receive"]),
                    r["checks"], list_in_words(r["pays"]), notes_in_words(r["errors"])) for r in rows])

    answer(ctx, "receipts list", "invoices", fetch, human)


@receipts.command("show", help=_(
    "Show one invoice: services and VAT, receipts, e-receipts and every attempt with its "
    "Payments JSON.")
    + "\n\n" + _("Example: {command}").format(command="maorders receipts show 6902"))
def receipts_show(ctx: typer.Context, invoice: str = INVOICE) -> None:
    def fetch(journal: Any) -> Any:
        from misbridge import desk

        return desk.detail(journal, invoice)

    def human(out: Any, d: Any) -> None:
        out.result(_("Invoice {number} ({guid}): {state}, to pay {sum}").format(
            number=d["number"], guid=d["guid"], state=in_words(d["state"]), sum=money(d["pay_sum"]))
            + (_(", child of {invoice}").format(invoice=d["child_of"]) if d["child_of"] else "")
            + (_(", ANNULLED") if d["cancelled"] else ""))
        for flag in d["errors"]:
            out.warn(word(NOTES, flag))
        out.table(_("Services"), [_("Code"), _("Name"), _("Count"), _("Price"), _("Cost"), _("VAT")],
                  [(s["code"], s["name"], quantity(s["count"]), money(s["price"]), money(s["cost"]), s["vat"])
                   for s in d["services"]])
        out.table(_("Receipts"), [_("Check"), _("Type"), _("Bill date"), _("Total"), _(PAY), _("Error"),
                                  _("E-receipts")],
                  [(r["check_num"], word(RECEIPT_TYPES, r["type"]), wall_time(r["bill_date"]), money(r["total"]),
                    in_words(r["pay"]), r["error"] or "", ereceipts_in_words(r["ereceipts"])) for r in d["receipts"]])
        out.table(_("History of sends"), [_("Time"), _("Method"), _("Check"), _("Attempt"), _("HTTP code"),
                                          _("Result"), _("Message"), _("Payments")],
                  [(h["at"], word(METHODS, h["method"]), h["check_num"] or "", h["attempt"], h["http_code"] or "", h["result"],
                    h["message"] or "", h["payments"] or "") for h in d["history"]])

    answer(ctx, "receipts show", "invoice", fetch, human)


@receipts.command("resend", help=_(
    "«Отправить повторно»: send the invoice's unsent Receive and Pays to ТМ:МИС now (a "
    "refused one too).")
    + "\n\n" + _("Example: {command}").format(command="maorders receipts resend 6902"))
def receipts_resend(ctx: typer.Context, invoice: str = INVOICE) -> None:
    def fetch(journal: Any) -> Any:
        from misbridge import operate

        return operate.resend_invoice(app_state(ctx), journal, _config(ctx), invoice)

    def human(out: Any, result: Any) -> None:
        out.result(_("Invoice {invoice}: {counts}").format(
            invoice=invoice, counts=counts_in_words(result["counts"]) or _("nothing to send")))
        for problem in result["problems"]:
            out.warn(problem)

    answer(ctx, "receipts resend", "result", fetch, human)


@receipts.command("ereceipts", help=_(
    "The e-receipt queue: each buyer's e-mail or SMS and its status (recipients masked).")
    + "\n\n" + _("Example: {command}").format(command="maorders receipts ereceipts --failed"))
def receipts_ereceipts(ctx: typer.Context, failed: bool = typer.Option(
        False, "--failed", help=_("Only e-receipts not sent (failed, held, unknown, waiting to retry). "
                                "Example: --failed"))) -> None:
    def fetch(journal: Any) -> Any:
        from misbridge import desk

        return desk.ereceipt_rows(journal, failed)

    def human(out: Any, rows: Any) -> None:
        out.table(_("E-receipts"), [_("Id"), _("Invoice"), _("Check"), _("Channel"), _("To"), _("State"), _("Code"),
                                    _("Status"), _("Sent at")],
                  [(r["id"], r["invoice"], r["check_num"], word(CHANNELS, r["channel"]), r["recipient"],
                    in_words(r["state"]), r["status_code"] or "", word(NOTES, r["status_text"]), r["sent_at"] or "")
                   for r in rows])

    answer(ctx, "receipts ereceipts", "ereceipts", fetch, human)


EREC = typer.Argument(..., help=_("The e-receipt's id (receipts ereceipts shows it)."))


@receipts.command("ereceipt-resend", help=_(
    "Send one e-receipt again now (after its error was fixed; an SMS whose reply was lost "
    "too).")
    + "\n\n" + _("Example: {command}").format(command="maorders receipts ereceipt-resend 12"))
def receipts_ereceipt_resend(ctx: typer.Context, ereceipt: int = EREC) -> None:
    def fetch(journal: Any) -> Any:
        from misbridge import operate

        return operate.resend_ereceipt(app_state(ctx), journal, _config(ctx), ereceipt)

    def human(out: Any, result: Any) -> None:
        out.result(_("E-receipt {id}: {state}").format(id=ereceipt, state=in_words(result["state"])))

    answer(ctx, "receipts ereceipt-resend", "ereceipt", fetch, human)


@receipts.command("ereceipt-delete", help=_(
    "Delete one e-receipt from the queue: it is not sent (the receipt itself stays).")
    + "\n\n" + _("Example: {command}").format(command="maorders receipts ereceipt-delete 12"))
def receipts_ereceipt_delete(ctx: typer.Context, ereceipt: int = EREC) -> None:
    def fetch(journal: Any) -> Any:
        from misbridge import desk

        return desk.requeue_ereceipt(journal, ereceipt, delete=True)

    def human(out: Any, result: Any) -> None:
        out.result(_("E-receipt {id}: deleted from the queue").format(id=ereceipt))

    answer(ctx, "receipts ereceipt-delete", "ereceipt", fetch, human)


@receipts.command("history", help=_(
    "«История МИС»: every invoice as ТМ:МИС sent it, each time it came (kept "
    "MIS_RETENTION_DAYS).")
    + "\n\n" + _("Example: {command}").format(command="maorders receipts history --number 814"))
def receipts_history(
    ctx: typer.Context,
    number: Optional[int] = typer.Option(None, "--number", help=_("Only this invoice number. Example: --number 814")),
    payer: Optional[str] = typer.Option(None, "--payer", help=_("Only this payer guid. Example: --payer "
                                                              "3de9ed1b-e4fc-499f-a0de-51c5a415c5b1")),
    service: Optional[str] = typer.Option(None, "--service", help=_("Only invoices with this service guid. "
                                                                  "Example: --service 787e53f6-36a1-406d-bc1b-767a04a2390a")),
    since: Optional[str] = typer.Option(None, "--since", help=_("Only what came since (ISO). Example: --since 2021-07-14")),
) -> None:
    def fetch(journal: Any) -> Any:
        from misbridge import desk

        return desk.register_rows(journal, number, payer, service, since)

    def human(out: Any, rows: Any) -> None:
        out.table(_("MIS history"), [_("Fetched"), _("Invoice"), _("Invoice guid"), _("Payer guid"), _("Services"),
                                     _("Annulled"), _("Taken"), _("Problem")],
                  [(r["fetched_at"], r["number"], r["invoice_guid"], r["payer_guid"], r["services"],
                    _("yes") if r["cancelled"] else "", _("yes") if r["accepted"] else _("NO"), word(NOTES, r["problem"]))
                   for r in rows])

    answer(ctx, "receipts history", "register", fetch, human)


@receipts.command("service-edit", help=_(
    "Correct a service's name or VAT rate locally (seed §12); unpaid invoices take it at "
    "once.\n\nKept over the MIS's data while MIS_UPDATE_SERVICES=no.")
    + "\n\n" + _("Example: {command}").format(command="maorders receipts service-edit B01.065.008 --vat \"без НДС\""))
def receipts_service_edit(
    ctx: typer.Context,
    service: str = typer.Argument(..., help=_("The service: its smCode (B01.065.008) or smGuid.")),
    name: Optional[str] = typer.Option(None, "--name", help=_("The name to print on receipts. "
                                                            "Example: --name \"Приём врача-стоматолога\"")),
    vat: Optional[str] = typer.Option(None, "--vat", help=_("The VAT rate: 0%, 5%, 7%, 10%, 20%, 22% or «без НДС». "
                                                          "Example: --vat \"без НДС\"")),
) -> None:
    def fetch(journal: Any) -> Any:
        from misbridge import desk

        return desk.edit_service(journal, _config(ctx), service, name, vat)

    def human(out: Any, result: Any) -> None:
        out.result(ngettext("Service {code}: changed on {count} unpaid invoice line",
                            "Service {code}: changed on {count} unpaid invoice lines", result["lines_changed"]).format(
            code=result["code"], count=result["lines_changed"])
            + ("" if result["kept_over_the_mis"] else _("; MIS_UPDATE_SERVICES=yes: the MIS's next invoice with it "
                                                        "replaces this")))

    answer(ctx, "receipts service-edit", "service", fetch, human)


@cashdesks.command("push", help=_(
    "«Отправить кассы в МИС»: send this cash desk (MIS_CASHDESK_GUID, MIS_CASHDESK_NAME, "
    "MIS_SHOP) to ТМ:МИС.")
    + "\n\n" + _("Example: {command}").format(command="maorders cashdesks push"))
def cashdesks_push(ctx: typer.Context) -> None:
    def action(journal: Any) -> int:
        from misbridge import operate

        result = operate.push_cashdesks(app_state(ctx), journal, _config(ctx))
        out = app_state(ctx).output
        if out.json_mode:
            out.emit_json({"command": "cashdesks push", "exit_code": 0 if result["state"] == "sent" else 69,
                           "result": result})
        else:
            out.result(_("Cash desk {guid}: {state}").format(guid=result["cashdeskGuid"], state=in_words(result["state"])))
        return 0 if result["state"] == "sent" else 69

    with_journal(ctx, action)
