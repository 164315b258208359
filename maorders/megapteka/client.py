"""MegApteka partner API, the wire (shared/protocols/megapteka.md). Knows nothing of the journal.

`fetch_*` return plain data, `send_*`/`put_*` take plain data. Replies are parsed
strictly: a reply that does not have the contract's shape is a malformed reply
(retried, then 75), with the remote's words in the message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from maorders.errors import RefusedError
from maorders.http import Remote, Retryable, Unauthorized, json_body
from maorders.megapteka.booking import Order, OrderLine
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
        reply = self.remote.call("POST", "/auth/token", safe=True, parse=json_body,
                                 json={"pharmacy_code": self.code, "secret": self.secret})
        token = reply.get("access_token") if isinstance(reply, dict) else None
        if not isinstance(token, str) or not token:
            raise Retryable("malformed reply to /auth/token: no access_token")
        register_secret(token)
        self.token = token

    def _call(self, method: str, path: str, *, safe: bool, **kwargs: Any) -> Any:
        if self.token is None:
            self._login()
        extra_headers = kwargs.pop("headers", {})
        for attempt in (1, 2):
            try:
                headers = {**extra_headers, "Authorization": f"Bearer {self.token}"}
                return self.remote.call(method, path, safe=safe, parse=json_body, headers=headers, **kwargs)
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
        reply = self._call("PUT", f"/pharmacies/{self.code}/stock/{snapshot_id}/parts/{part}", safe=True,
                           data=body, headers={"Content-Type": "application/json"})
        _expect(reply, {"part": int, "received_parts": int, "complete": bool, "rejected": list}, "stock part")
        return reply

    def fetch_stock(self) -> dict[str, Any]:
        reply = self._call("GET", f"/pharmacies/{self.code}/stock", safe=True)
        _expect(reply, {"items": list}, "stock")
        return reply

    # -- feeds --------------------------------------------------------------------------
    def fetch_orders(self, since_id: int, limit: int = PAGE) -> Page:
        return self._page("orders", since_id, limit)

    def fetch_events(self, since_id: int, limit: int = PAGE) -> Page:
        return self._page("events", since_id, limit)

    def _page(self, feed: str, since_id: int, limit: int) -> Page:
        reply = self._call("GET", f"/pharmacies/{self.code}/{feed}", safe=True,
                           params={"since_id": since_id, "limit": limit})
        _expect(reply, {feed: list, "last_id": int, "has_more": bool}, feed)
        if any(not isinstance(item, dict) or not isinstance(item.get("id"), int) for item in reply[feed]):
            raise Retryable(f"malformed {feed} page: an entry without an integer id")
        return Page(reply[feed], reply["last_id"], reply["has_more"])

    # -- statuses: keyed by status_id, so a resend never applies twice --------------------
    def send_status(self, order_id: int, status_id: str, status: int, created_at: str,
                    items: list[dict[str, int]] | None = None, comment: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {"status_id": status_id, "status": status, "created_at": created_at}
        if items:
            body["items"] = items
        if comment:
            body["comment"] = comment
        reply = self._call("POST", f"/pharmacies/{self.code}/orders/{order_id}/statuses", safe=True, json=body)
        _expect(reply, {"status_id": str, "accepted": bool}, "status")
        return reply


def _expect(reply: Any, fields: dict[str, type], what: str) -> None:
    if not isinstance(reply, dict):
        raise Retryable(f"malformed {what} reply: not an object")
    for name, kind in fields.items():
        if not isinstance(reply.get(name), kind) or (kind is int and isinstance(reply.get(name), bool)):
            raise Retryable(f"malformed {what} reply: {name!r} missing or not {kind.__name__}")


def parse_order(raw: dict[str, Any]) -> Order:
    """An order from the feed, checked field by field; `BadOrder` names the field."""
    order_id = raw["id"]
    number = raw.get("number")
    if not isinstance(number, str) or not number.strip():
        raise BadOrder(f"order {order_id}: field 'number' is missing")
    items = raw.get("items")
    if not isinstance(items, list) or not items:
        raise BadOrder(f"order {number}: field 'items' is missing or empty")
    lines = tuple(_parse_line(number, index, item) for index, item in enumerate(items, 1))
    if len({line.line_id for line in lines}) != len(lines):
        raise BadOrder(f"order {number}: duplicated items[].line_id")
    return Order(order_id, number.strip(), str(raw.get("created_at") or ""), str(raw.get("comment") or ""),
                 lines)


def _parse_line(number: str, index: int, item: Any) -> OrderLine:
    where = f"order {number}: items[{index}]"
    if not isinstance(item, dict):
        raise BadOrder(f"{where} is not an object")
    line_id, quantity, price = item.get("line_id"), item.get("quantity"), item.get("price", 0)
    if not isinstance(line_id, int) or isinstance(line_id, bool):
        raise BadOrder(f"{where}: field 'line_id' is missing or not a whole number")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        raise BadOrder(f"{where}: field 'quantity' must be a whole number of packs >= 1, got {quantity!r}")
    if not isinstance(price, (int, float)) or isinstance(price, bool) or price < 0:
        raise BadOrder(f"{where}: field 'price' must be a number >= 0, got {price!r}")
    codes = {k: str(item.get(k) or "").strip() for k in ("sku", "barcode", "protek_code", "katren_code",
                                                         "egk_code")}
    if not any(codes.values()):
        raise BadOrder(f"{where}: none of sku, barcode, protek_code, katren_code, egk_code")
    return OrderLine(line_id, codes["sku"], str(item.get("name") or ""), codes["barcode"],
                     codes["protek_code"], codes["katren_code"], codes["egk_code"], quantity, float(price))
