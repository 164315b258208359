"""MegApteka partner API, the wire (shared/protocols/megapteka.md). Knows nothing of the journal.

`fetch_*` return plain data, `send_*`/`put_*` take plain data. Replies are parsed
strictly: a reply that does not have the contract's shape is a malformed reply
(retried, then 75), with the remote's words in the message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from maorders.errors import RefusedError, TransientError
from maorders.http import Remote, Retryable, Unauthorized, json_body
from maorders.megapteka.booking import Order, OrderLine
from maorders.megapteka.limits import MAX_ID, MAX_PACKS, MAX_PRICE, MAX_TEXT, is_id, is_packs, is_price
from maorders.redact import register_secret

PART_SIZE = 5000
PAGE = 500


class BadOrder(ValueError):
    """One order in the feed cannot be booked as it is (missing or wrong fields)."""


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    last_id: int
    has_more: bool


class MegaptekaClient:
    def __init__(self, remote: Remote, pharmacy_code: str, secret: str):
        self.remote = remote
        self.code = pharmacy_code
        self.secret = secret
        self.token: str | None = None

    # -- auth: one refresh on 401, then the refusal is final -----------------------
    def _login(self) -> None:
        reply = self.remote.call("POST", "/auth/token", safe=True, parse=shaped({"access_token": str}, "token"),
                                 whole_pass=True, json={"pharmacy_code": self.code, "secret": self.secret})
        token = reply["access_token"]
        if not token:
            raise TransientError("megapteka: malformed reply to /auth/token: an empty access_token")
        register_secret(token)
        self.token = token

    def _call(self, method: str, path: str, *, safe: bool, shape: dict[str, type], what: str,
              whole_pass: bool = True, **kwargs: Any) -> Any:
        """One call with the token; a reply without the contract's `shape` is malformed: it is
        checked inside the kernel's retry loop (retried, then 75). A 4xx refuses the whole
        pass (a feed, the stock: 69, or 78 for a URL with no such API) unless the call is
        about one item (`whole_pass=False`: a status, refused for good on its own)."""
        if self.token is None:
            self._login()
        extra_headers = kwargs.pop("headers", {})
        for attempt in (1, 2):
            try:
                headers = {**extra_headers, "Authorization": f"Bearer {self.token}"}
                return self.remote.call(method, path, safe=safe, parse=shaped(shape, what), headers=headers,
                                        whole_pass=whole_pass, **kwargs)
            except Unauthorized:
                if attempt == 2:
                    raise RefusedError(f"megapteka: {method} {path}: 401 after a token refresh; "
                                       "check MEGAPTEKA_PHARMACY_CODE and MEGAPTEKA_SECRET") from None
                self._login()

    def check_credentials(self) -> None:
        try:
            self._login()
        except Unauthorized:
            raise RefusedError("megapteka: the pharmacy code and secret were refused (401); "
                               "check MEGAPTEKA_PHARMACY_CODE and MEGAPTEKA_SECRET") from None

    # -- stock ------------------------------------------------------------------------
    def put_stock_part(self, snapshot_id: str, part: int, parts: int, generated_at: str,
                       pharmacy: dict[str, str], items_json: bytes) -> dict[str, Any]:
        """One part; `items_json` is the part's items already encoded (a JSON array)."""
        head = json.dumps({"parts": parts, "generated_at": generated_at, "pharmacy": pharmacy},
                          ensure_ascii=False).encode()
        body = head[:-1] + b', "items": ' + items_json + b"}"
        return self._call("PUT", f"/pharmacies/{self.code}/stock/{snapshot_id}/parts/{part}", safe=True,
                          shape={"part": int, "received_parts": int, "complete": bool, "rejected": list},
                          what="stock part", data=body, headers={"Content-Type": "application/json"})

    def fetch_stock(self) -> dict[str, Any]:
        return self._call("GET", f"/pharmacies/{self.code}/stock", safe=True, shape={"items": list}, what="stock")

    # -- feeds --------------------------------------------------------------------------
    def fetch_orders(self, since_id: int, limit: int = PAGE) -> Page:
        return self._page("orders", since_id, limit)

    def fetch_events(self, since_id: int, limit: int = PAGE) -> Page:
        return self._page("events", since_id, limit)

    def _page(self, feed: str, since_id: int, limit: int) -> Page:
        """One page; its entries are checked one by one by whoever applies them (a bad
        entry is one rejected item, not a stuck feed), the page's own frame here."""
        reply = self._call("GET", f"/pharmacies/{self.code}/{feed}", safe=True,
                           shape={feed: list, "last_id": int, "has_more": bool}, what=feed,
                           params={"since_id": since_id, "limit": limit})
        return Page(reply[feed], reply["last_id"], reply["has_more"])

    # -- statuses: keyed by status_id, so a resend never applies twice --------------------
    def send_status(self, order_id: int, status_id: str, status: int, created_at: str,
                    items: list[dict[str, int]] | None = None, comment: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {"status_id": status_id, "status": status, "created_at": created_at}
        if items:
            body["items"] = items
        if comment:
            body["comment"] = comment
        return self._call("POST", f"/pharmacies/{self.code}/orders/{order_id}/statuses", safe=True,
                          shape={"status_id": str, "accepted": bool}, what="status", whole_pass=False, json=body)


def shaped(fields: dict[str, type], what: str) -> Callable[[Any], dict[str, Any]]:
    """A parser of one reply: JSON with each of `fields` of its type, else `Retryable`."""
    def parse(response: Any) -> dict[str, Any]:
        try:
            reply = json_body(response)
        except RecursionError:  # `[[[[…` nested past the decoder's depth: undecodable, so malformed
            raise Retryable(f"malformed {what} reply: nested too deep to read") from None
        _expect(reply, fields, what)
        return reply
    return parse


def _expect(reply: Any, fields: dict[str, type], what: str) -> None:
    if not isinstance(reply, dict):
        raise Retryable(f"malformed {what} reply: not an object")
    for name, kind in fields.items():
        if not isinstance(reply.get(name), kind) or (kind is int and isinstance(reply.get(name), bool)):
            raise Retryable(f"malformed {what} reply: {name!r} missing or not {kind.__name__}")


def entry_id(raw: Any) -> int | None:
    """The id of a feed entry when it is one SQLite can keep (1 .. 2^63-1), else None."""
    value = raw.get("id") if isinstance(raw, dict) else None
    return value if is_id(value) else None


def parse_order(raw: dict[str, Any]) -> Order:
    """An order from the feed, checked field by field; `BadOrder` names the field.
    `raw["id"]` is known good (`entry_id`)."""
    order_id = raw["id"]
    number = raw.get("number")
    if not isinstance(number, str) or not number.strip():
        raise BadOrder(f"order {order_id}: field 'number' is missing")
    if len(number) > MAX_TEXT:
        raise BadOrder(f"order {order_id}: field 'number' is longer than {MAX_TEXT} characters")
    items = raw.get("items")
    if not isinstance(items, list) or not items:
        raise BadOrder(f"order {number}: field 'items' is missing or empty")
    lines = tuple(_parse_line(number, index, item) for index, item in enumerate(items, 1))
    if len({line.line_id for line in lines}) != len(lines):
        raise BadOrder(f"order {number}: duplicated items[].line_id")
    return Order(order_id, number.strip(), _text(raw.get("created_at")), _text(raw.get("comment")), lines)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _parse_line(number: str, index: int, item: Any) -> OrderLine:
    where = f"order {number}: items[{index}]"
    if not isinstance(item, dict):
        raise BadOrder(f"{where} is not an object")
    line_id, quantity, price = item.get("line_id"), item.get("quantity"), item.get("price", 0)
    if not is_id(line_id):
        raise BadOrder(f"{where}: field 'line_id' must be a whole number 1..{MAX_ID}, got {_shown(line_id)}")
    if not is_packs(quantity, least=1):
        raise BadOrder(f"{where}: field 'quantity' must be a whole number of packs 1..{MAX_PACKS}, "
                       f"got {_shown(quantity)}")
    if not is_price(price):
        raise BadOrder(f"{where}: field 'price' must be a number 0..{MAX_PRICE:.0f}, got {_shown(price)}")
    codes = {k: _code(item.get(k)) for k in ("sku", "barcode", "protek_code", "katren_code", "egk_code")}
    bad = [name for name, code in codes.items() if code is None]
    if bad:
        raise BadOrder(f"{where}: field '{bad[0]}' must be text of at most {MAX_TEXT} characters")
    if not any(codes.values()):
        raise BadOrder(f"{where}: none of sku, barcode, protek_code, katren_code, egk_code")
    return OrderLine(line_id, codes["sku"], _text(item.get("name"))[:MAX_TEXT * 5], codes["barcode"],
                     codes["protek_code"], codes["katren_code"], codes["egk_code"], quantity, float(price))


def _code(value: Any) -> str | None:
    """A code as text; a code sent as a JSON number is read as its digits. None when unusable."""
    if value is None or value == "":
        return ""
    if type(value) is int and 0 <= value <= MAX_ID:
        value = str(value)
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        return None
    return value.strip()


def _shown(value: Any) -> str:
    """A remote value in a message: short, whatever it is."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
