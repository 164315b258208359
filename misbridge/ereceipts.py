"""The buyer's electronic receipt (54-ФЗ): what it shows, as plain text, HTML and a short SMS.

It shows what a receipt shows the buyer: the organisation (ОГРН, place of settlement), the
cash desk, the operation (приход / возврат прихода), check number, date and time, each
service with its price, quantity and VAT rate (or «без НДС»), the total and the payment
types. It goes only to the contact the buyer gave at payment (tag 1008), never to the
invoice's own contacts. The SMS stays within one or two SMS (sms.ru code 205 refuses a
text over 8), so it carries the essentials only.
"""

from __future__ import annotations

import html
from datetime import datetime
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from misbridge.receipts import PAYMENT_NAMES, SALE

OPERATION = {1: "Приход", 2: "Возврат прихода"}
SMS_LIMIT = 140  # one Cyrillic SMS is 70 characters; two are plenty for the essentials


def money(value: str | Decimal) -> str:
    return f"{Decimal(value):,.2f}".replace(",", " ").replace(".", ",")


def lines_of(receipt: dict[str, Any], services: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"name": s["name"], "price": money(s["price"]), "count": f"{Decimal(s['count']).normalize():f}",
             "cost": money(s["cost"]), "vat": s["vat"]} for s in services]


def payments_of(receipt: dict[str, Any], payments: dict[str, Any]) -> list[tuple[str, str]]:
    return [(PAYMENT_NAMES.get(p["PaymentType"], str(p["PaymentType"])), money(str(p["paySum"])))
            for p in payments["Payments"]]


def compose(receipt: dict[str, Any], payments: dict[str, Any], invoice: dict[str, Any],
            services: list[dict[str, Any]], org: dict[str, str]) -> dict[str, str]:
    """subject, body_text, body_html, sms_text for one receipt."""
    when = datetime.strptime(payments["BillDate"], "%Y-%m-%dT%H:%M:%S").strftime("%d.%m.%Y %H:%M")
    operation = OPERATION[payments["Type"]]
    lines = lines_of(receipt, services)
    paid = payments_of(receipt, payments)
    total = money(receipt["total"])
    partial = " (частичная оплата)" if receipt["partial"] else ""
    head = [f"Кассовый чек. {operation}{partial}", f"{org['shop']}", f"ОГРН {org['ogrn']}",
            f"Касса: {org['cashdesk']}", f"Чек № {payments['CheckNum']}   {when}",
            f"Счёт № {invoice['number']}"]
    body = [f"{l['name']}\n  {l['price']} × {l['count']} = {l['cost']}   НДС: {l['vat']}" for l in lines]
    tail = [f"ИТОГО: {total}"] + [f"  {name}: {value}" for name, value in paid]
    text = "\n".join(head + [""] + body + [""] + tail) + "\n"
    rows = "".join(f"<tr><td>{html.escape(l['name'])}</td><td>{l['price']}</td><td>{l['count']}</td>"
                   f"<td>{l['cost']}</td><td>{html.escape(l['vat'])}</td></tr>" for l in lines)
    pays = "".join(f"<li>{html.escape(n)}: {v}</li>" for n, v in paid)
    page = (f"<html><body><h3>Кассовый чек. {operation}{html.escape(partial)}</h3>"
            f"<p>{html.escape(org['shop'])}<br>ОГРН {html.escape(org['ogrn'])}<br>"
            f"Касса: {html.escape(org['cashdesk'])}<br>Чек № {payments['CheckNum']} {when}<br>"
            f"Счёт № {invoice['number']}</p>"
            "<table border=\"1\" cellpadding=\"4\"><tr><th>Услуга</th><th>Цена</th><th>Кол-во</th>"
            f"<th>Сумма</th><th>НДС</th></tr>{rows}</table><p><b>ИТОГО: {total}</b></p><ul>{pays}</ul>"
            "</body></html>")
    sms = f"Чек №{payments['CheckNum']} {when} {org['shop']}: {operation.lower()} {total} руб."
    if len(sms) > SMS_LIMIT:
        sms = f"Чек №{payments['CheckNum']} {when}: {operation.lower()} {total} руб."
    subject = f"Кассовый чек № {payments['CheckNum']} от {when}"
    return {"subject": subject, "body_text": text, "body_html": page, "sms_text": sms[:SMS_LIMIT]}


def message_id(sender: str | None, ereceipt_key: str) -> str:
    """Made once, when the e-receipt is queued: a resend carries the same Message-ID."""
    domain = sender.rpartition("@")[2] if sender else "maorders.local"
    return make_msgid(idstring=ereceipt_key, domain=domain)


def email_message(row: dict[str, Any], sender: str, created: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row["recipient"]
    message["Subject"] = row["subject"]
    message["Date"] = format_datetime(created)
    message["Message-ID"] = row["message_id"]
    message.set_content(row["body_text"])
    message.add_alternative(row["body_html"], subtype="html")
    return message


def is_sale(payments: dict[str, Any]) -> bool:
    return payments["Type"] == SALE
