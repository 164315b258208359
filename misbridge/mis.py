"""ТМ:МИС paid-services wire client (/work/shared/protocols/tmmis.md). Knows nothing of the journal.

`new_invoices`/`by_number` return parsed, range-checked `Invoice`s; a reply of the wrong shape
is a malformed reply (retried, then 75) naming the field. `receive`/`pay` return a `Reply`
(HTTP code, Result, Message): 200 with Result 1 or 2 is success (2 = "already recorded"),
409 is a conflict for a person, 403 «Пользователь API не найден» ends the pass (69).
Receive and Pay are safe to repeat: the MIS dedupes them by invoice and by CheckNum
(Result 2), so the kernel's retries apply to them.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from maorders.errors import PermanentError
from maorders.http import Remote, Retryable, json_body

BASE = "/api/paidServices/IntegrationInvoice/v2"
ZERO_GUID = "00000000-0000-0000-0000-000000000000"
TAXES = ("0%", "5%", "7%", "10%", "20%", "22%", "без НДС")
MAX_MONEY = Decimal("1000000000")
MAX_NUMBER = 2**63 - 1
MAX_COUNT = 100000
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


class BadInvoice(ValueError):
    """One invoice the MIS sent that we cannot take: names the field, never the payer."""


@dataclass(frozen=True)
class Service:
    sm_guid: str
    code: str
    name: str
    count: Decimal
    price: Decimal
    cost: Decimal
    tax: str


@dataclass(frozen=True)
class Payer:
    guid: str
    family: str
    name: str
    ot: str
    birthday: str
    phone: str
    email: str


@dataclass(frozen=True)
class Invoice:
    guid: str
    number: int
    date: str
    parent_guid: str | None
    cancelled: bool
    cashdesk_guid: str | None
    payer: Payer
    invoice_sum: Decimal
    pay_sum: Decimal
    services: tuple[Service, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Reply:
    http_code: int
    result: int
    message: str

    @property
    def ok(self) -> bool:
        return self.http_code == 200 and self.result in (1, 2)


# -- parsing: every value from outside range-checked ------------------------------------
def money(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadInvoice(f"{where} must be a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise BadInvoice(f"{where} must be a number") from None
    if not amount.is_finite() or amount < 0 or amount >= MAX_MONEY:
        raise BadInvoice(f"{where} must be a finite amount between 0 and {MAX_MONEY}")
    if amount != amount.quantize(Decimal("0.01")):
        raise BadInvoice(f"{where} has more than 2 decimals")
    return amount.quantize(Decimal("0.01"))


def guid(value: Any, where: str, zero_ok: bool = False) -> str | None:
    if not isinstance(value, str):
        raise BadInvoice(f"{where} must be a GUID")
    try:
        parsed = str(uuid.UUID(value))
    except ValueError:
        raise BadInvoice(f"{where} must be a GUID") from None
    if parsed == ZERO_GUID:
        if zero_ok:
            return None
        raise BadInvoice(f"{where} must not be the all-zero GUID")
    return parsed


def whole(value: Any, where: str, low: int = 1, high: int = MAX_NUMBER) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadInvoice(f"{where} must be a whole number {low}..{high}")
    return value


def text(value: Any, where: str, limit: int = 1000, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise BadInvoice(f"{where} must be text of 1..{limit} characters")
    return value.strip()


def date(value: Any, where: str) -> str:
    # tmmis.md: dates are YYYY-MM-DDTHH:MM:SS local time; the seed shows fractions (…:04.26)
    if not isinstance(value, str):
        raise BadInvoice(f"{where} must be a date YYYY-MM-DDTHH:MM:SS")
    try:
        return datetime.fromisoformat(value[:19]).strftime(DATE_FORMAT)
    except ValueError:
        raise BadInvoice(f"{where} must be a date YYYY-MM-DDTHH:MM:SS") from None


def count(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadInvoice(f"{where} must be a number")
    amount = Decimal(str(value))
    if amount <= 0 or amount > MAX_COUNT:
        raise BadInvoice(f"{where} must be more than 0 and at most {MAX_COUNT}")
    return amount


def parse_service(raw: Any, where: str) -> Service:
    if not isinstance(raw, dict):
        raise BadInvoice(f"{where} must be an object")
    tax = raw.get("tax")
    if tax not in TAXES:
        raise BadInvoice(f"{where}.tax must be one of {', '.join(TAXES)}")
    return Service(sm_guid=guid(raw.get("smGuid"), f"{where}.smGuid"),
                   code=text(raw.get("smCode"), f"{where}.smCode", 100),
                   name=text(raw.get("smName"), f"{where}.smName", 1000),
                   count=count(raw.get("count"), f"{where}.count"),
                   price=money(raw.get("smPrice"), f"{where}.smPrice"),
                   cost=money(raw.get("smCost"), f"{where}.smCost"), tax=tax)


def parse_payer(raw: dict[str, Any]) -> Payer:
    birthday = raw.get("birthday")
    return Payer(guid=guid(raw.get("payerGuid"), "payerGuid"),
                 family=text(raw.get("family"), "family", 200, required=False),
                 name=text(raw.get("name"), "name", 200, required=False),
                 ot=text(raw.get("ot"), "ot", 200, required=False),
                 birthday=date(birthday, "birthday")[:10] if birthday else "",
                 phone=text(raw.get("contactIMPhone"), "contactIMPhone", 50, required=False),
                 email=text(raw.get("contactEmail"), "contactEmail", 254, required=False))


def parse_invoice(raw: Any, where: str = "invoice") -> Invoice:
    """One invoice; `BadInvoice` names the field (and the invoice number when it is known)."""
    if not isinstance(raw, dict):
        raise BadInvoice(f"{where} must be an object")
    number = raw.get("invoiceNum")
    if isinstance(number, int) and not isinstance(number, bool):
        where = f"invoice {number}"
    try:
        services = raw.get("services")
        if not isinstance(services, list) or not services or len(services) > 1000:
            raise BadInvoice("services must be a list of 1..1000 services")
        cancelled = raw.get("isCancelled", False)
        if not isinstance(cancelled, bool):
            raise BadInvoice("isCancelled must be true or false")
        return Invoice(guid=guid(raw.get("invoiceGuid"), "invoiceGuid"),
                       number=whole(number, "invoiceNum"),
                       date=date(raw.get("date"), "date"),
                       parent_guid=guid(raw.get("parentInvoiceGuid", ZERO_GUID), "parentInvoiceGuid", True),
                       cancelled=cancelled,
                       cashdesk_guid=guid(raw.get("cashdeskGuid", ZERO_GUID), "cashdeskGuid", True),
                       payer=parse_payer(raw),
                       invoice_sum=money(raw.get("invoiceSum"), "invoiceSum"),
                       pay_sum=money(raw.get("paySum"), "paySum"),
                       services=tuple(parse_service(s, f"services[{i}]") for i, s in enumerate(services)),
                       raw=raw)
    except BadInvoice as exc:
        raise BadInvoice(f"{where}: {exc}") from None


def invoice_list(response: requests.Response) -> list[Any]:
    """The `invoices` array; anything else is a malformed reply (retried, then 75)."""
    body = json_body(response)
    if not isinstance(body, dict) or not isinstance(body.get("invoices"), list):
        raise Retryable("malformed reply: no 'invoices' list")
    return body["invoices"]


def reply_of(response: requests.Response) -> Reply:
    body = json_body(response)
    if not isinstance(body, dict) or not isinstance(body.get("Result"), int) or isinstance(body.get("Result"), bool):
        raise Retryable("malformed reply: no 'Result' number")
    if body["Result"] not in (0, 1, 2):
        raise Retryable(f"malformed reply: Result {body['Result']}")
    message = body.get("Message")
    return Reply(response.status_code, body["Result"], message if isinstance(message, str) else "")


def refusal(exc: PermanentError) -> Reply:
    """A 4xx the kernel turned into PermanentError: our Reply with the MIS's own Message.

    The kernel's error text carries the body (up to 200 characters); the Message is read
    back out of it, else the whole text is kept.
    """
    text = str(exc)
    found = re.search(r'"Message"\s*:\s*"((?:[^"\\]|\\.)*)"', text)
    if found:
        return Reply(exc.status or 400, 0, json.loads(f'"{found.group(1)}"'))
    plain = re.search(r"\b\d{3} (.*)$", text)  # "tmmis: POST …: 409 <the remote's words>"
    return Reply(exc.status or 400, 0, plain.group(1) if plain else text)


class MisClient:
    def __init__(self, remote: Remote, ogrn: str, oid: str, cashdesk_guid: str):
        self.remote = remote
        self.ogrn = ogrn
        self.oid = oid
        self.cashdesk_guid = cashdesk_guid

    def _ids(self) -> dict[str, str]:
        return {"OGRN": self.ogrn, "OID": self.oid}

    def new_invoices(self) -> list[Any]:
        """Raw invoices waiting for this cash desk (parse each with `parse_invoice`)."""
        return self.remote.call("GET", f"{BASE}/New", safe=True, parse=invoice_list,
                                params=self._ids() | {"cashdeskGuid": self.cashdesk_guid})

    def by_number(self, number: int) -> list[Any]:
        return self.remote.call("GET", f"{BASE}/ByNumber", safe=True, parse=invoice_list,
                                params=self._ids() | {"number": str(number)})

    def _post(self, path: str, body: dict[str, Any]) -> Reply:
        try:
            return self.remote.call("POST", path, safe=True, parse=reply_of, json=self._ids() | body)
        except PermanentError as exc:
            return refusal(exc)

    def receive(self, invoice_guid: str, invoice_num: int) -> Reply:
        return self._post(f"{BASE}/Receive", {"invoiceGuid": invoice_guid, "invoiceNum": invoice_num,
                                              "cashdeskGuid": self.cashdesk_guid})

    def pay(self, invoice_guid: str, invoice_num: int, payments: dict[str, Any]) -> Reply:
        return self._post(f"{BASE}/Pay", {"invoiceGuid": invoice_guid, "invoiceNum": invoice_num,
                                          "Payments": payments})

    def push_cashdesks(self, cashdesks: list[dict[str, str]]) -> Reply:
        return self._post("/api/paidServices/Cashdesks", {"cashdesks": cashdesks})
