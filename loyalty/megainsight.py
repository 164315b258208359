"""Megainsight loyalty API v3.2, the wire (shared/protocols/megainsight.md). No journal here.

identify → calculate → confirm (keyed by a request id made once by the caller) →
operations by request id → refund (keyed by its own request id). Every request carries
`Authorization: Token <network token>` (the session header) and `place_id` (in the body,
and in the query of the one GET). The API is not public: the shape follows the contract
and the public loyalty APIs that work the same way (UDS partner v2: find → calc →
operation with `nonce` → refund; RapidSoft PosConnector: RequestId, find by request id).

Parsing is strict: a reply of the wrong shape, money that is not a 2-decimal number in
range, or an id that is not a short printable string is a malformed reply (retried, then
75), never a silent default. Where the contract leaves a field out (the elements of
`GET /operations`), only what we need is required and the rest is optional.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests

from loyalty.money import BadNumber, as_json, money
from maorders.errors import PermanentError
from maorders.http import Remote, Retryable, decode_json

# ids the service gives us (calculation_id, operation_id, client id)
SERVICE_ID = re.compile(r"[\x21-\x7e]{1,128}")
# the client's session token: the contract allows up to 512 characters (a JWT is longer than 128)
CLIENT_TOKEN = re.compile(r"[\x21-\x7e]{1,512}")
OFFER_KINDS = ("fuel", "shop")
MAX_OFFERS = 200
MAX_LINES = 200
NOT_FOUND_CODES = ("client_not_found", "code_expired")


class Malformed(Retryable):
    """The reply is JSON of the wrong shape; `Remote.call` retries it, then gives 75."""


@dataclass(frozen=True)
class Offer:
    id: str
    title: str
    kind: str
    product_code: str
    product_name: str
    personal_price: Decimal


@dataclass(frozen=True)
class Identity:
    client_token: str = field(repr=False)
    client_id: str
    name: str = field(repr=False)  # personal data: shown to the cashier, never logged or stored
    card: str = field(repr=False)
    balance: Decimal
    offers: tuple[Offer, ...]


@dataclass(frozen=True)
class CalculatedLine:
    code: str
    price: Decimal
    amount: Decimal
    discount: Decimal


@dataclass(frozen=True)
class Calculation:
    calculation_id: str
    lines: tuple[CalculatedLine, ...]
    discount: Decimal
    points_redeemed: Decimal
    max_redeem: Decimal
    points_to_accrue: Decimal
    total_to_pay: Decimal


@dataclass(frozen=True)
class Operation:
    """A confirmed purchase (or a refund found by request id); None where a listing omits it."""

    operation_id: str
    points_redeemed: Decimal | None = None
    points_accrued: Decimal | None = None
    balance: Decimal | None = None
    points_returned: Decimal | None = None  # a refund's, when found by its request id
    points_revoked: Decimal | None = None


@dataclass(frozen=True)
class Refund:
    operation_id: str
    origin_id: str
    points_returned: Decimal
    points_revoked: Decimal
    balance: Decimal


# -- strict readers of reply fields -----------------------------------------------------
def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Malformed(f"malformed reply to {what}: not a JSON object")
    return body


def _text(body: dict[str, Any], name: str, what: str, pattern: re.Pattern[str] | None = SERVICE_ID,
          limit: int = 256, required: bool = True) -> str:
    value = body.get(name)
    if not required and (value is None or value == ""):  # the contract allows an empty name or card
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Malformed(f"malformed reply to {what}: {name} is not a text of 1-{limit} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise Malformed(f"malformed reply to {what}: {name} is not a short printable id")
    return value


def _money(body: dict[str, Any], name: str, what: str, required: bool = True) -> Decimal | None:
    if name not in body and not required:
        return None
    try:
        return money(body.get(name))
    except BadNumber as exc:
        raise Malformed(f"malformed reply to {what}: {name} {exc}") from None


def _list(body: dict[str, Any], name: str, what: str, limit: int, null_empty: bool = False) -> list[Any]:
    value = body.get(name)
    if value is None and null_empty:  # `"offers": null` is no offers
        return []
    if not isinstance(value, list) or len(value) > limit:
        raise Malformed(f"malformed reply to {what}: {name} is not a list of at most {limit}")
    return value


def _parser(what: str, reader):
    """A `parse` for Remote.call: JSON with Decimal money, then the strict reader."""
    def parse(response: requests.Response):
        try:
            body = decode_json(response.content, parse_float=Decimal)
        except ValueError as exc:  # NaN, Infinity, cut, nested past the decoder, not UTF-8
            raise Malformed(f"malformed reply to {what}: {exc}") from None
        return reader(_object(body, what))
    return parse


def read_offer(raw: Any) -> Offer:
    what = "identify (offer)"
    body = _object(raw, what)
    kind = _text(body, "kind", what, None, 16)
    if kind not in OFFER_KINDS:
        raise Malformed(f"malformed reply to identify: offer kind {kind[:16]!r} is not fuel or shop")
    return Offer(_text(body, "id", what), _text(body, "title", what, None, 200), kind,
                 _text(body, "product_code", what), _text(body, "product_name", what, None, 200),
                 _money(body, "personal_price", what))


def read_identity(body: dict[str, Any]) -> Identity:
    what = "identify"
    client = _object(body.get("client"), what)
    offers = tuple(read_offer(o) for o in _list(body, "offers", what, MAX_OFFERS, null_empty=True))
    return Identity(_text(body, "client_token", what, CLIENT_TOKEN, 512), _text(client, "id", what),
                    _text(client, "name", what, None, 200, required=False),
                    _text(client, "card", what, required=False), _money(body, "balance", what), offers)


def read_calculation(body: dict[str, Any]) -> Calculation:
    what = "calculate"
    lines = []
    for raw in _list(body, "lines", what, MAX_LINES):
        line = _object(raw, what)
        lines.append(CalculatedLine(_text(line, "code", what), _money(line, "price", what),
                                    _money(line, "amount", what), _money(line, "discount", what)))
    return Calculation(_text(body, "calculation_id", what), tuple(lines), _money(body, "discount", what),
                       _money(body, "points_redeemed", what), _money(body, "max_redeem", what),
                       _money(body, "points_to_accrue", what), _money(body, "total_to_pay", what))


def read_operation(body: dict[str, Any], what: str = "confirm", strict: bool = True) -> Operation:
    found = Operation(_text(body, "operation_id", what),
                      *(_money(body, name, what, required=strict)
                        for name in ("points_redeemed", "points_accrued", "balance")))
    if strict:
        return found
    return Operation(found.operation_id, found.points_redeemed, found.points_accrued, found.balance,
                     _money(body, "points_returned", what, required=False),
                     _money(body, "points_revoked", what, required=False))


def read_operations(body: dict[str, Any]) -> list[Operation]:
    what = "operations"
    # the contract does not spell out the elements: only operation_id is required of them
    return [read_operation(_object(raw, what), what, strict=False) for raw in _list(body, "operations", what, 100)]


def read_refund(body: dict[str, Any]) -> Refund:
    what = "refund"
    return Refund(_text(body, "operation_id", what), _text(body, "origin_id", what),
                  _money(body, "points_returned", what), _money(body, "points_revoked", what),
                  _money(body, "balance", what))


class MegainsightClient:
    """One station (place id) of the network (token) at one Megainsight base URL."""

    def __init__(self, remote: Remote, place_id: str):
        self.remote = remote
        self.place_id = place_id

    def _post(self, path: str, payload: dict[str, Any], reader, what: str):
        # every call here is safe to repeat: identify and calculate change nothing, confirm and
        # refund carry a request id the service dedupes on (same id → 200, same body)
        return self.remote.call("POST", path, safe=True, json={"place_id": self.place_id, **payload},
                                parse=_parser(what, reader))

    def identify(self, code: str) -> Identity:
        """The client behind a scanned QR text or card. 404 client_not_found/code_expired."""
        return self._post("/clients/identify", {"code": code}, read_identity, "identify")

    def calculate(self, client_token: str, lines: list[dict[str, Any]], offer_ids: list[str],
                  redeem_points: Decimal) -> Calculation:
        payload = {"client_token": client_token, "receipt": {"lines": lines}, "offer_ids": offer_ids,
                   "redeem_points": as_json(redeem_points)}
        return self._post("/purchases/calculate", payload, read_calculation, "calculate")

    def confirm(self, request_id: str, calculation_id: str, receipt: dict[str, Any]) -> Operation:
        payload = {"request_id": request_id, "calculation_id": calculation_id, "receipt": receipt}
        return self._post("/purchases/confirm", payload, read_operation, "confirm")

    def operations(self, request_id: str) -> list[Operation]:
        """What the service did under a request id: [] means it never happened."""
        return self.remote.call("GET", "/operations", safe=True,
                                params={"request_id": request_id, "place_id": self.place_id},
                                parse=_parser("operations", read_operations))

    def refund(self, operation_id: str, request_id: str, amount: Decimal | None) -> Refund:
        payload: dict[str, Any] = {"request_id": request_id}
        if amount is not None:
            payload["amount"] = as_json(amount)
        path = f"/operations/{requests.utils.quote(operation_id, safe='')}/refund"
        return self._post(path, payload, read_refund, "refund")


def error_code(exc: PermanentError) -> str:
    return exc.code or ""
