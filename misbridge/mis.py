"""ТМ:МИС paid-services wire client (/work/shared/protocols/tmmis.md). Knows nothing of the journal.

`new_invoices`/`by_number` return parsed, range-checked `Invoice`s; a reply of the wrong shape
is a malformed reply (retried, then 75) naming the field. `receive`/`pay` return a `Reply`
(HTTP code, Result, Message): 200 with Result 1 or 2 is success (2 = "already recorded"),
409 is a conflict for a person, 403 «Пользователь API не найден» ends the pass (69).
Receive and Pay are safe to repeat: the MIS dedupes them by invoice and by CheckNum
(Result 2), so the kernel's retries apply to them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from maorders.errors import RefusedError
from maorders.http import Remote, Retryable
from misbridge import replies

BASE = "/api/paidServices/IntegrationInvoice/v2"
ZERO_GUID = "00000000-0000-0000-0000-000000000000"
TAXES = ("0%", "5%", "7%", "10%", "20%", "22%", "без НДС")
MAX_MONEY = Decimal("1000000000")
MAX_NUMBER = 2**63 - 1
MAX_COUNT = 100000
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
MESSAGE_LIMIT = 1000


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
def _decimal(value: Any, where: str, strings: bool) -> Decimal:
    """A finite Decimal of any JSON number (an int of any size is exact; never an OverflowError)."""
    kinds = (int, float, str) if strings else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise BadInvoice(f"{where} must be a number")
    try:
        amount = Decimal(value) if isinstance(value, int) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise BadInvoice(f"{where} must be a number") from None
    if not amount.is_finite():
        raise BadInvoice(f"{where} must be a finite number")
    return amount


def money(value: Any, where: str) -> Decimal:
    amount = _decimal(value, where, strings=True)
    if amount < 0 or amount >= MAX_MONEY:
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
    amount = _decimal(value, where, strings=False)
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
    if isinstance(number, int) and not isinstance(number, bool) and 0 < number <= MAX_NUMBER:
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


def body_of(response: requests.Response) -> Any:
    """The reply's JSON (misbridge.replies: no value in it can crash us); else a malformed reply."""
    try:
        return replies.decode(response.content)
    except replies.Undecodable as exc:
        raise Retryable(f"malformed reply: {exc}") from None


def invoice_list(response: requests.Response) -> list[Any]:
    """The `invoices` array; anything else is a malformed reply (retried, then 75)."""
    if response.status_code == 403:
        raise api_user_refused(refusal_of(response))
    body = body_of(response)
    if not isinstance(body, dict) or not isinstance(body.get("invoices"), list):
        raise Retryable("malformed reply: no 'invoices' list")
    return body["invoices"]


def reply_of(response: requests.Response) -> Reply:
    """Receive/Pay/Cashdesks: 200 with Result 0..2, or a refusal (4xx) with the MIS's own words."""
    if response.status_code != 200:
        reply = refusal_of(response)
        if reply.http_code == 403:
            raise api_user_refused(reply)
        return reply
    body = body_of(response)
    result = body.get("Result") if isinstance(body, dict) else None
    if not _is_result(result):
        raise Retryable("malformed reply: no 'Result' 0, 1 or 2")
    return Reply(200, result, _message(body))


def refusal_of(response: requests.Response) -> Reply:
    """A 4xx as the MIS wrote it (tmmis.md «Errors»: {"Result": 0, "Message": "…"}), read whole by the
    JSON decoder, so «Номер чека 235 уже зафиксирован…» stays itself also when escaped as \\uXXXX (a
    .NET serialiser's default). A body that is not the MIS's JSON (a proxy's page) is kept as text."""
    try:
        body = replies.decode(response.content)
    except replies.Undecodable:
        body = None
    if isinstance(body, dict) and ("Message" in body or "Result" in body):
        result = body.get("Result")
        return Reply(response.status_code, result if _is_result(result) else 0, _message(body))
    text = replies.as_text(response.content.decode("utf-8", "replace"))
    return Reply(response.status_code, 0, text or response.reason or f"HTTP {response.status_code}")


def api_user_refused(reply: Reply) -> RefusedError:
    """403 «Пользователь API не найден»: the whole pass is refused (69)."""
    return RefusedError(f"tmmis: 403 {reply.message} (check MIS_OGRN and MIS_OID)")


def _is_result(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in (0, 1, 2)


def _message(body: dict[str, Any]) -> str:
    return replies.as_text(body.get("Message"), MESSAGE_LIMIT)


# 4xx bodies the parser reads itself (the MIS's Result and Message); 401, 408 and 429 stay the kernel's
REFUSALS = tuple(code for code in range(400, 500) if code not in (401, 408, 429))


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
        return self.remote.call("GET", f"{BASE}/New", safe=True, parse=invoice_list, accept=(403,),
                                params=self._ids() | {"cashdeskGuid": self.cashdesk_guid})

    def by_number(self, number: int) -> list[Any]:
        return self.remote.call("GET", f"{BASE}/ByNumber", safe=True, parse=invoice_list, accept=(403,),
                                params=self._ids() | {"number": str(number)})

    def _post(self, path: str, body: dict[str, Any]) -> Reply:
        return self.remote.call("POST", path, safe=True, parse=reply_of, accept=REFUSALS, json=self._ids() | body)

    def receive(self, invoice_guid: str, invoice_num: int) -> Reply:
        return self._post(f"{BASE}/Receive", {"invoiceGuid": invoice_guid, "invoiceNum": invoice_num,
                                              "cashdeskGuid": self.cashdesk_guid})

    def pay(self, invoice_guid: str, invoice_num: int, payments: dict[str, Any]) -> Reply:
        return self._post(f"{BASE}/Pay", {"invoiceGuid": invoice_guid, "invoiceNum": invoice_num,
                                          "Payments": payments})

    def push_cashdesks(self, cashdesks: list[dict[str, str]]) -> Reply:
        return self._post("/api/paidServices/Cashdesks", {"cashdesks": cashdesks})
