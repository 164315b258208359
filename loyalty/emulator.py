"""A Megainsight loyalty API v3.2 emulator: a real HTTP server on 127.0.0.1, state in memory.

It speaks shared/protocols/megainsight.md and is no kinder than the contract. Megainsight's
API is not public (shared/research/retail_apis.md §2); where the contract is silent the
rules follow the public loyalty APIs it is modelled on, each named next to its rule:
UDS partner API v2 (uds-lib-test `uds_lib_test/__init__.py`: 2-decimal amounts, a UUID
`nonce` per operation, refund of part or all of an operation), RapidSoft PosConnector
(ePlus.ARMCasher.Loyalty_2 `PosConnector.cs`: a RequestId on every request, find by it).

    server, app = serve()
    client = app.add_client("Алексей", card="79093184923", balance="1520.00")
    code = app.issue_qr(client)            # the app's dynamic QR text, valid for 300 s
    app.faults.error_rate = 0.3            # the kernel's fault knobs, and app.on_effect
    app.confirm_delay = 4.0                # a slow confirm: held in flight (another body: 409)
    app.ascii_json = True                  # replies ensure_ascii-escaped, as many serialisers write them

Effects counted: `confirm`, `refund` (GET /_emulator/counters).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import unquote

from maorders.emulation import EmulatorApp, EmulatorServer, Request, Response

BASE_PATH = "/api/v3.2"
TOKEN = "mi-network-token"
PLACE_ID = "azs-0042"
CODE_TTL_S = 300  # the contract: identify → "expires_in": 300
CALC_TTL_S = 300
ACCRUAL_RATE = Decimal("0.01")  # the contract's example: 20.16 accrued on 2016.00 paid
MAX_REDEEM_SHARE = Decimal("0.5")  # the contract's example: max_redeem 1058.00 of 2116.00
CENT = Decimal("0.01")
QR = re.compile(r"[\x20-\x7e]{1,128}")  # the contract: at most 128 printable ASCII characters
CARD = re.compile(r"\d{8,20}")  # the contract: a card number is 8-20 digits
ORIGINS = ("fuel", "shop")


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def _bad(message: str, error: str = "bad_request") -> ApiError:
    return ApiError(400, error, message)


@dataclass
class Client:
    id: str
    name: str
    card: str
    balance: Decimal
    offers: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Operation:
    id: str
    request_id: str
    kind: str  # purchase | refund
    client_id: str
    body: dict[str, Any]  # the reply, given again for the same request id
    fingerprint: str  # what the request asked, to refuse the same request id for another thing
    total: Decimal = Decimal(0)
    redeemed: Decimal = Decimal(0)
    accrued: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    returned: Decimal = Decimal(0)
    revoked: Decimal = Decimal(0)
    receipt_number: str = ""
    origin_id: str | None = None
    created_at: float = field(default_factory=time.time)


# -- validators: as strict as the contract ------------------------------------------------------
def _money(body: dict[str, Any], name: str, positive: bool = False) -> Decimal:
    """The contract: "Money: number, 2 decimals" (UDS: "All amounts have 2 decimals")."""
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f"{name} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(f"{name} must be finite")
    number = Decimal(repr(value))
    if number < 0 or (positive and number == 0) or number != number.quantize(CENT):
        raise _bad(f"{name} must be {'more than 0' if positive else '>= 0'} with at most 2 decimals")
    return number


def _text(body: dict[str, Any], name: str, limit: int = 128) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise _bad(f"{name} must be a text of 1-{limit} characters")
    return value


def _uuid(body: dict[str, Any], name: str) -> str:
    """The contract: "request_id": "<uuid made once by the client>" (UDS `nonce`: a UUID)."""
    value = body.get(name)
    try:
        if isinstance(value, str) and str(uuid.UUID(value)) == value.lower():
            return value
    except ValueError:
        pass
    raise _bad(f"{name} must be a UUID (8-4-4-4-12)")


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{name} must be an object")
    return value


def _parse(body: bytes) -> dict[str, Any]:
    def constant(name: str) -> None:
        raise ValueError(f"{name} is not JSON")
    try:
        return _object(json.loads(body.decode("utf-8"), parse_constant=constant), "the body")
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(f"body is not valid JSON: {exc}", "bad_json") from None


def _receipt_number(body: bytes) -> str:
    try:
        return str(json.loads(body)["receipt"]["number"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return ""


def _j(value: Decimal) -> float:
    return float(value)


class MegainsightEmulator(EmulatorApp):
    name = "megainsight"

    def __init__(self, token: str = TOKEN, place_id: str = PLACE_ID) -> None:
        super().__init__()
        self.token, self.place_id = token, place_id
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, tuple[str, float]] = {}  # QR text -> (client id, expires at)
        self.client_tokens: dict[str, tuple[str, float]] = {}
        self.calculations: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, Operation] = {}
        self.by_request: dict[str, Operation] = {}
        self.in_flight: dict[str, str] = {}  # request id -> fingerprint of a confirm being applied
        self.settled = threading.Condition(self.lock)
        self.confirm_delay = 0.0  # a slow confirm: applied this long after it arrived
        self.token_length = 0  # client_token this long (the contract allows up to 512: a JWT), else short
        self.null_offers = False  # `"offers": null` for a client without offers
        self.ascii_json = False  # replies with \uXXXX escapes, as many serialisers write by default
        self.arrivals: list[tuple[float, str]] = []  # (monotonic time, receipt number) of each confirm
        self.clock = time.time  # tests move time by replacing this

    # -- test and demo helpers ------------------------------------------------------------
    def add_client(self, name: str, card: str, balance: str | Decimal = "0", offers: list[dict] | None = None,
                   client_id: str | None = None) -> Client:
        with self.lock:
            client = Client(client_id or f"c-{len(self.clients) + 881}", name, card, Decimal(str(balance)),
                            list(offers or []))
            self.clients[client.id] = client
            return client

    def issue_qr(self, client: Client, ttl: float = CODE_TTL_S) -> str:
        """The app's dynamic QR text (the seed: megainsight_3baf961b-e463-4e41-813e…)."""
        with self.lock:
            code = f"megainsight_{uuid.uuid4()}"
            self.codes[code] = (client.id, self.clock() + ttl)
            return code

    def purchases(self) -> list[Operation]:
        return [op for op in self.operations.values() if op.kind == "purchase"]

    def wrong_shape(self, request: Request) -> Response:
        return Response.json(200, {"operations": "none", "client": [], "lines": {"x": 1}})

    # -- routing --------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.path.startswith(BASE_PATH + "/_emulator/"):
            request.path = request.path[len(BASE_PATH):]
        elif request.path.endswith("/purchases/confirm"):  # when each confirm arrived (crash tests)
            self.arrivals.append((time.monotonic(), _receipt_number(request.body)))
        return super().handle(request)

    def route(self, request: Request) -> Response:
        try:
            response = self._dispatch(request)
        except ApiError as exc:
            response = Response.json(exc.status, {"error": exc.error, "message": exc.message})
        if self.ascii_json and response.body:  # the same JSON, escaped (Python's and .NET's default)
            response.body = json.dumps(json.loads(response.body)).encode("ascii")
        return response

    def _dispatch(self, request: Request) -> Response:
        path = request.path[len(BASE_PATH):] if request.path.startswith(BASE_PATH + "/") else None
        self._authorize(request)  # the contract: "Every request sends Authorization: Token …"; 401
        if path == "/operations" and request.method == "GET":
            self._place(request.arg("place_id"))
            return Response.json(200, self._find(request.arg("request_id")))
        if request.method != "POST" or path is None:
            raise ApiError(404, "not_found", f"no route {request.method} {request.path}")
        body = _parse(request.body)
        self._place(body.get("place_id"))  # "every body carries place_id"; another station's: 403
        if path == "/clients/identify":
            return Response.json(200, self._identify(body))
        if path == "/purchases/calculate":
            return Response.json(200, self._calculate(body))
        if path == "/purchases/confirm":
            return self._confirm(body)
        match = re.fullmatch(r"/operations/([^/]+)/refund", path)
        if match:
            return self._refund(unquote(match.group(1)), body)
        raise ApiError(404, "not_found", f"no route POST {request.path}")

    def _authorize(self, request: Request) -> None:
        if request.headers.get("authorization") != f"Token {self.token}":
            raise ApiError(401, "unauthorized", "bad network token")

    def _place(self, place_id: Any) -> None:
        if not isinstance(place_id, str) or not place_id:
            raise _bad("place_id is required")
        if place_id != self.place_id:
            raise ApiError(403, "forbidden", "this token may not act for that place")

    # -- identify -----------------------------------------------------------------------------
    def _identify(self, body: dict[str, Any]) -> dict[str, Any]:
        code = body.get("code")
        if not isinstance(code, str) or not (CARD.fullmatch(code) or QR.fullmatch(code)):
            raise _bad("code must be a QR text of 1-128 printable ASCII characters or a card of 8-20 digits")
        client = self._client_of(code)
        token = f"ct_{uuid.uuid4().hex}"
        if self.token_length:
            token = (token + "." + uuid.uuid4().hex * 20)[:self.token_length]
        self.client_tokens[token] = (client.id, self.clock() + CODE_TTL_S)
        offers = client.offers if client.offers or not self.null_offers else None
        return {"client_token": token, "expires_in": CODE_TTL_S,
                "client": {"id": client.id, "name": client.name, "card": client.card},
                "balance": _j(client.balance), "offers": offers}

    def _client_of(self, code: str) -> Client:
        if CARD.fullmatch(code):
            for client in self.clients.values():
                if client.card == code:
                    return client
            raise ApiError(404, "client_not_found", "no client with this card")
        if code not in self.codes:
            raise ApiError(404, "client_not_found", "unknown code")
        client_id, expires = self.codes[code]
        if self.clock() > expires:
            raise ApiError(404, "code_expired", "the QR code has expired; ask for a fresh one")
        return self.clients[client_id]

    # -- calculate ------------------------------------------------------------------------------
    def _calculate(self, body: dict[str, Any]) -> dict[str, Any]:
        client = self._client_of_token(body.get("client_token"))
        lines = self._lines(_object(body.get("receipt"), "receipt").get("lines"))
        offers = self._offers(client, body.get("offer_ids", []))
        redeem = _money(body, "redeem_points")
        priced = [self._priced(line, offers) for line in lines]
        total = sum((p["amount"] for p in priced), Decimal(0))
        max_redeem = (total * MAX_REDEEM_SHARE).quantize(CENT, ROUND_DOWN)
        if redeem > max_redeem or redeem > client.balance:  # the contract: 422 insufficient_points
            raise ApiError(422, "insufficient_points",
                           f"at most {min(max_redeem, client.balance)} points can be redeemed here")
        to_pay = total - redeem
        accrue = (to_pay * ACCRUAL_RATE).quantize(CENT, ROUND_HALF_UP)
        calc_id = f"calc-{uuid.uuid4().hex[:12]}"
        discount = sum((p["discount"] for p in priced), Decimal(0))
        self.calculations[calc_id] = {"client_id": client.id, "redeem": redeem, "accrue": accrue,
                                      "total": to_pay, "expires": self.clock() + CALC_TTL_S}
        return {"calculation_id": calc_id, "expires_in": CALC_TTL_S,
                "lines": [{k: (_j(v) if isinstance(v, Decimal) else v) for k, v in p.items()} for p in priced],
                "discount": _j(discount), "points_redeemed": _j(redeem), "max_redeem": _j(max_redeem),
                "points_to_accrue": _j(accrue), "total_to_pay": _j(to_pay)}

    def _client_of_token(self, token: Any) -> Client:
        if not isinstance(token, str) or token not in self.client_tokens:
            raise ApiError(404, "client_token_unknown", "unknown client_token; identify again")
        client_id, expires = self.client_tokens[token]
        if self.clock() > expires:
            raise ApiError(422, "client_token_expired", "client_token expired; identify again")
        return self.clients[client_id]

    def _lines(self, raw: Any) -> list[dict[str, Any]]:
        if not isinstance(raw, list) or not 1 <= len(raw) <= 200:
            raise _bad("receipt.lines must be a list of 1-200 lines")
        lines = []
        for number, item in enumerate(raw, 1):
            line = _object(item, f"line {number}")
            quantity = line.get("quantity")
            if isinstance(quantity, bool) or not isinstance(quantity, (int, float)) or not math.isfinite(quantity) \
                    or quantity <= 0 or quantity > 100000:
                raise _bad(f"line {number}: quantity must be a number more than 0")
            qty = Decimal(repr(quantity))
            price, amount = _money(line, "price", positive=True), _money(line, "amount")
            # the contract: "amount = quantity × price" (to the kopeck, half-up as a till rounds)
            if amount != (qty * price).quantize(CENT, ROUND_HALF_UP):
                raise _bad(f"line {number}: amount {amount} is not quantity × price", "amount_mismatch")
            kind = line.get("kind")
            if kind not in ORIGINS:
                raise _bad(f"line {number}: kind must be fuel or shop")
            lines.append({"code": _text(line, "code", 64), "kind": kind, "qty": qty, "price": price,
                          "amount": amount})
        return lines

    def _offers(self, client: Client, offer_ids: Any) -> list[dict[str, Any]]:
        if not isinstance(offer_ids, list) or not all(isinstance(i, str) for i in offer_ids):
            raise _bad("offer_ids must be a list of offer ids")
        own = {offer["id"]: offer for offer in client.offers}
        missing = [i for i in offer_ids if i not in own]
        if missing:  # the seed: the cashier picks among the client's own coupons
            raise ApiError(422, "offer_not_available", f"the client has no offer {missing[0]}")
        return [own[i] for i in dict.fromkeys(offer_ids)]

    @staticmethod
    def _priced(line: dict[str, Any], offers: list[dict[str, Any]]) -> dict[str, Any]:
        """The seed: with a coupon "the price will be the price from the personal offer"."""
        price = line["price"]
        for offer in offers:
            personal = Decimal(str(offer["personal_price"]))
            if offer["product_code"] == line["code"] and offer["kind"] == line["kind"] and personal < price:
                price = personal
        amount = (line["qty"] * price).quantize(CENT, ROUND_HALF_UP)
        return {"code": line["code"], "price": price, "amount": amount, "discount": line["amount"] - amount}

    # -- confirm -------------------------------------------------------------------------------------
    def _confirm(self, body: dict[str, Any]) -> Response:
        request_id = _uuid(body, "request_id")
        calc_id = _text(body, "calculation_id")
        receipt = _object(body.get("receipt"), "receipt")
        fingerprint = json.dumps([calc_id, receipt], sort_keys=True, ensure_ascii=False)
        done = self._replay(request_id, fingerprint)
        if done is not None:
            return done
        number = _text(receipt, "number", 64)
        self._datetime(receipt.get("datetime"))
        if receipt.get("payment_type") not in ("cash", "card"):  # the seed: one payment type per sale
            raise _bad("receipt.payment_type must be cash or card")
        total = _money(receipt, "total")
        calc = self.calculations.get(calc_id)
        if calc is None:
            raise ApiError(404, "calculation_not_found", "unknown calculation_id")
        if self.clock() > calc["expires"]:
            raise ApiError(422, "calculation_expired", "the calculation has expired; calculate again")
        if total != calc["total"]:
            raise ApiError(422, "total_mismatch", f"receipt.total {total} is not the calculated {calc['total']}")
        if self.confirm_delay:
            self._in_flight(request_id, fingerprint)
            if request_id in self.by_request:  # settled meanwhile by a twin of this very request
                return Response.json(200, self.by_request[request_id].body)
        client = self.clients[calc["client_id"]]
        if calc["redeem"] > client.balance:
            raise ApiError(422, "insufficient_points", "the balance no longer covers the points")
        client.balance += calc["accrue"] - calc["redeem"]
        op_id = f"op-{len(self.operations) + 1}"
        reply = {"operation_id": op_id, "points_redeemed": _j(calc["redeem"]), "points_accrued": _j(calc["accrue"]),
                 "balance": _j(client.balance)}
        del self.calculations[calc_id]  # a calculation is confirmed once
        self._record(Operation(op_id, request_id, "purchase", client.id, reply, fingerprint, total=total,
                               redeemed=calc["redeem"], accrued=calc["accrue"], receipt_number=number))
        self.effect("confirm")
        return Response.json(201, reply)

    def _datetime(self, value: Any) -> None:
        try:
            if isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None:
                return
        except ValueError:
            pass
        raise _bad("receipt.datetime must be an ISO 8601 time with its offset")

    def _in_flight(self, request_id: str, fingerprint: str) -> None:
        """A slow confirm: its request id is taken when it arrives, the effect comes later
        (meanwhile GET /operations finds nothing: "not applied yet, not never")."""
        self.in_flight[request_id] = fingerprint
        try:
            self.settled.wait(self.confirm_delay)  # the lock is free meanwhile: other requests go on
        finally:
            del self.in_flight[request_id]
            self.settled.notify_all()

    def _replay(self, request_id: str, fingerprint: str) -> Response | None:
        """The contract: the same request_id again → 200 with the same body, no second effect;
        with another body → 409 request_id_reused, also while the first is still being applied
        ("the first request was applied or is still being applied")."""
        if request_id in self.in_flight:
            if self.in_flight[request_id] != fingerprint:
                raise ApiError(409, "request_id_reused", "this request_id is being used for another request")
            self.settled.wait_for(lambda: request_id not in self.in_flight)  # the same request: its answer
        done = self.by_request.get(request_id)
        if done is None:
            return None
        if done.fingerprint != fingerprint:
            raise ApiError(409, "request_id_reused", "this request_id was used for another request")
        self.counters["replayed"] += 1
        return Response.json(200, done.body)

    def _record(self, operation: Operation) -> None:
        self.operations[operation.id] = operation
        self.by_request[operation.request_id] = operation

    # -- operations by request id ----------------------------------------------------------------------
    def _find(self, request_id: str | None) -> dict[str, Any]:
        try:
            if request_id is None or str(uuid.UUID(request_id)) != request_id.lower():
                raise ValueError
        except ValueError:
            raise _bad("request_id must be a UUID") from None
        op = self.by_request.get(request_id)
        if op is None:
            return {"operations": []}
        return {"operations": [op.body | {"request_id": op.request_id, "kind": op.kind,
                                          "receipt_number": op.receipt_number, "total": _j(op.total),
                                          "refunded": _j(op.refunded)}]}

    # -- refund ----------------------------------------------------------------------------------------
    def _refund(self, op_id: str, body: dict[str, Any]) -> Response:
        request_id = _uuid(body, "request_id")
        fingerprint = json.dumps([op_id, body.get("amount")], sort_keys=True)
        done = self._replay(request_id, fingerprint)
        if done is not None:
            return done
        origin = self.operations.get(op_id)
        if origin is None or origin.kind != "purchase":
            raise ApiError(404, "operation_not_found", "no purchase with this operation id")
        left = origin.total - origin.refunded
        amount = _money(body, "amount", positive=True) if "amount" in body else left
        if amount <= 0:
            raise ApiError(422, "already_refunded", "the operation is refunded in full")
        if amount > left:  # UDS: a partial refund never exceeds what is left of the operation
            raise ApiError(422, "amount_exceeds_paid", f"at most {left} can be refunded")
        share = amount / origin.total if origin.total else Decimal(1)
        last = amount == left
        returned = (origin.redeemed - origin.returned) if last else \
            min((origin.redeemed * share).quantize(CENT, ROUND_HALF_UP), origin.redeemed - origin.returned)
        revoked = (origin.accrued - origin.revoked) if last else \
            min((origin.accrued * share).quantize(CENT, ROUND_HALF_UP), origin.accrued - origin.revoked)
        client = self.clients[origin.client_id]
        client.balance += returned - revoked
        origin.refunded += amount
        origin.returned += returned
        origin.revoked += revoked
        ref_id = f"op-r-{len(self.operations) + 1}"
        reply = {"operation_id": ref_id, "origin_id": op_id, "points_returned": _j(returned),
                 "points_revoked": _j(revoked), "balance": _j(client.balance)}
        self._record(Operation(ref_id, request_id, "refund", client.id, reply, fingerprint, total=amount,
                               origin_id=op_id))
        self.effect("refund")
        return Response.json(201, reply)


def serve(port: int = 0, **kwargs: Any) -> tuple[EmulatorServer, MegainsightEmulator]:
    """Start an emulator on 127.0.0.1; `server.url` ends in /api/v3.2."""
    app = MegainsightEmulator(**kwargs)
    server = EmulatorServer(app, port=port, base_path=BASE_PATH)
    return server.start(), app


SAMPLE_OFFERS = [
    {"id": "of-1", "title": "АИ-95 по 52.90", "kind": "fuel", "product_code": "AI95", "product_name": "АИ-95",
     "personal_price": 52.90},
    {"id": "of-2", "title": "Капучино 0.3", "kind": "shop", "product_code": "2000000001234",
     "product_name": "Капучино 0.3", "personal_price": 99.00},
]


def sample_client(app: MegainsightEmulator) -> Client:
    """The contract's example client: Алексей, card 79093184923, 1520.00 points, two offers."""
    return app.add_client("Алексей", card="79093184923", balance="1520.00", offers=SAMPLE_OFFERS)
