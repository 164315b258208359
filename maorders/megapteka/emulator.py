"""A strict in-memory MegApteka partner API, per /work/shared/protocols/megapteka.md.

Tests, benchmarks and `maorders sandbox` run the real client against this over real
HTTP. It is strict on purpose: whatever the contract forbids is refused exactly the
way the contract says, so a client that passes here does not lean on leniency.
Faults (5xx, 429, delays, drops, cut bodies) come from the shared base in
`maorders.emulation`; this module only speaks the protocol.

    server, app = serve()               # http://127.0.0.1:<port>/v1
    order = app.add_order([{"sku": "A-1", "name": "…", "barcode": "460…",
                            "quantity": 2, "price": 189.5}])
    app.cancel_order(order["id"])       # a site-side event 3
    app.orders_lag = 1                  # the newest order's events are out before the order
    app.faults.wrong_shape_rate = 1.0   # replies that fit each route in name only
    app.counters["status"]              # accepted pharmacy status records

Choices the contract leaves open, made here once:
- `since_id` defaults to 0 and `limit` to 100 when absent; a present but bad value is 400.
- A part whose `parts` differs from the other parts of the same snapshot → 409
  `parts_mismatch`.
- A part PUT again after its snapshot completed is accepted (200, `complete: true`)
  but does not replace the stock a second time.
- An item that breaks an item rule is listed in `rejected` and not stored; a body
  that breaks a part rule is 400 (422 for more than 5,000 items).
"""

from __future__ import annotations

import copy
import re
import secrets
import time
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import unquote

from maorders.emulation import DropConnection, EmulatorApp, EmulatorServer, Request, Response
from maorders.megapteka.emulator_rules import (CODE_FIELDS, ApiError, _bad, _is_int, _is_text, _is_timestamp,
                                               _is_uuid, _page_args, _parse_json, _split_items)

BASE_PATH = "/v1"
MAX_ITEMS_PER_PART = 5000
FIRST_ORDER_ID = 1001
MSK = timezone(timedelta(hours=3))
PHARMACY_FIELDS = ("region", "city", "brand")

# The statuses a pharmacy may send, each with the site statuses it may follow
# (0 = the site has no status yet; 8 = the customer confirmed a partial order).
ALLOWED_AFTER = {
    1: {0},
    3: {0, 1, 5, 6, 7, 8},
    5: {1, 6, 8},
    6: {1},
    7: {1, 6},
    2: {5},
}
FINAL_STATUSES = {2, 3}  # the site forbids anything after these
SAMPLE_CUSTOMER = {"name": "Иванова А.", "phone": "+79990001122"}


@dataclass
class _PendingSnapshot:
    """Parts of a snapshot not yet complete: part number -> accepted items."""

    parts: int
    started: int  # arrival order of the first part; a completed snapshot drops older ones
    received: dict[int, list[dict]] = field(default_factory=dict)
    pharmacy: dict = field(default_factory=dict)


@dataclass
class _Route:
    pattern: re.Pattern[str]
    methods: dict[str, str]  # HTTP method -> handler method name
    authenticated: bool = True


def _route(path: str, methods: dict[str, str], authenticated: bool = True) -> _Route:
    return _Route(re.compile(path.replace("{", "(?P<").replace("}", ">[^/]+)")), methods, authenticated)


ROUTES = [
    _route("/auth/token", {"POST": "_post_token"}, authenticated=False),
    _route("/pharmacies/{code}/stock", {"GET": "_get_stock"}),
    _route("/pharmacies/{code}/stock/{snapshot_id}/parts/{part}", {"PUT": "_put_stock_part"}),
    _route("/pharmacies/{code}/orders", {"GET": "_get_orders"}),
    _route("/pharmacies/{code}/events", {"GET": "_get_events"}),
    _route("/pharmacies/{code}/orders/{order_id}/statuses", {"POST": "_post_status"}),
]
PHARMACY_IN_PATH = re.compile(r"^/v1/pharmacies/([^/]+)/")


def _now() -> str:
    return datetime.now(MSK).isoformat(timespec="seconds")


# -- the emulator ---------------------------------------------------------------


class MegaptekaEmulator(EmulatorApp):
    """One pharmacy's view of the MegApteka partner API.

    Inspection attributes for tests: `orders` (id -> order dict with `site_status`),
    `order_statuses` (order id -> accepted status records), `events`, `stock_items`,
    `pharmacy_info`, `snapshot_id`, `snapshots_completed`, `counters`.

    Effects counted: "stock_part" (every accepted part PUT, repeats included),
    "stock_snapshot_complete" (once per snapshot), "status" (once per new status_id).
    `counters["stock_part_distinct"]` counts parts seen for the first time.

    Re-sent orders: order ids are the feed cursor, so a re-sent order (id below the
    client's cursor) cannot be placed "later" in the feed. `resend_order` instead
    queues the order to lead the next orders page whatever `since_id` is asked,
    once. `last_id` never moves back for it: it is the last id past the cursor
    returned, or `since_id` when none was.
    """

    name = "megapteka"

    def __init__(self, pharmacy_code: str = "1001", secret: str = "s3cret", token_ttl: int = 3600) -> None:
        super().__init__()
        self.pharmacy_code = pharmacy_code
        self.secret = secret
        self.token_ttl = token_ttl
        self.rate_limit_rps = 20
        self.tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._windows: dict[str, deque[float]] = {}
        # stock
        self.stock_items: list[dict] = []
        self.snapshot_id: str | None = None
        self.stock_updated_at: str | None = None
        self.pharmacy_info: dict = {}
        self.snapshots_completed = 0
        self._pending: dict[str, _PendingSnapshot] = {}
        self._completed_parts: dict[str, int] = {}  # snapshot id -> its parts count
        self._snapshot_seq = 0
        # orders, events, statuses
        self.orders: dict[int, dict] = {}
        self._order_ids: list[int] = []  # ascending, for bisect paging
        self._next_order_id = FIRST_ORDER_ID
        self._resend_queue: list[int] = []
        # Events before orders: the newest `orders_lag` orders are not in the orders feed yet
        # while their events already are (a site whose feeds are served by different nodes).
        self.orders_lag = 0
        self.events: list[dict] = []  # event id n is events[n - 1]
        self.order_statuses: dict[int, list[dict]] = {}
        self._status_ids: dict[str, tuple[int, str]] = {}  # lower-case id -> (order id, id as sent)

    @property
    def stock_snapshot_id(self) -> str | None:
        return self.snapshot_id

    # -- test helpers -------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Invalidate every token: the next call gets 401 and must refresh once."""
        with self.lock:
            self.tokens.clear()

    def add_order(self, items: list[dict], customer: dict | None = None,
                  number: str | None = None, comment: str = "") -> dict:
        """A new customer order in the feed; returns a copy of it."""
        with self.lock:
            order_id = self._next_order_id
            self._next_order_id += 1
            order = {
                "id": order_id,
                "number": number or f"MA-{order_id}",
                "created_at": _now(),
                "customer": dict(customer or SAMPLE_CUSTOMER),
                "comment": comment,
                "items": [self._order_line(n, item) for n, item in enumerate(items, start=1)],
                "site_status": 0,
            }
            self.orders[order_id] = order
            self._order_ids.append(order_id)
            return copy.deepcopy(order)

    @staticmethod
    def _order_line(line_id: int, item: dict) -> dict:
        line: dict[str, Any] = {"line_id": line_id}
        line.update({name: "" for name in CODE_FIELDS})
        line.update(item)
        return line

    def resend_order(self, order_id: int) -> None:
        """The site re-sends an order: it leads the next orders page once (see class doc)."""
        with self.lock:
            self._order(order_id)
            self._resend_queue.append(order_id)

    def cancel_order(self, order_id: int, reason: str = "Отмена покупателем") -> dict:
        """The customer or the service cancels: event 3, site status 3."""
        with self.lock:
            order = self._order(order_id)
            if order["site_status"] in FINAL_STATUSES:
                raise ValueError(f"order {order_id} is already final ({order['site_status']})")
            return self._add_event(order, 3, reason)

    def confirm_order(self, order_id: int, reason: str = "Подтвержден покупателем") -> dict:
        """The customer accepts a partial order: event 8; only after status 7."""
        with self.lock:
            order = self._order(order_id)
            if order["site_status"] != 7:
                raise ValueError(f"order {order_id} is not awaiting confirmation")
            return self._add_event(order, 8, reason)

    def _order(self, order_id: int) -> dict:
        if order_id not in self.orders:
            raise ValueError(f"no order {order_id}")
        return self.orders[order_id]

    def _add_event(self, order: dict, status: int, reason: str) -> dict:
        event = {"id": len(self.events) + 1, "order_id": order["id"], "status": status,
                 "created_at": _now(), "reason": reason}
        self.events.append(event)
        order["site_status"] = status
        return dict(event)

    # -- the fault layer's hooks ----------------------------------------------

    def handle(self, request: Request) -> Response:
        # The sandbox may reach the control routes through the base URL it was given.
        if request.path.startswith(BASE_PATH + "/_emulator/"):
            request.path = request.path[len(BASE_PATH):]
        return super().handle(request)

    def rate_limited(self, request: Request) -> Response | None:
        """A sliding one-second window per pharmacy code; refused requests do not count."""
        if self.rate_limit_rps <= 0:
            return None
        match = PHARMACY_IN_PATH.match(request.path)
        key = unquote(match.group(1)) if match else self.pharmacy_code
        now = time.monotonic()
        with self.lock:
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= self.rate_limit_rps:
                self.counters["rate_limited"] += 1
                return ApiError(429, "too_many_requests", f"above {self.rate_limit_rps} requests a second",
                                {"Retry-After": "1"}).response()
            window.append(now)
        return None

    def wrong_shape(self, request: Request) -> Response:
        """Valid JSON that fits the route's reply in name only: fields of the wrong type,
        a list where an object belongs (the fault knob `wrong_shape_rate`)."""
        path = request.path[len(BASE_PATH):] if request.path.startswith(BASE_PATH) else request.path
        if path == "/auth/token":
            return Response.json(200, {"access_token": {"value": "t"}, "expires_in": "3600"})
        if path.endswith("/orders") or path.endswith("/events"):
            feed = path.rsplit("/", 1)[1]
            return Response.json(200, {feed: {"1": {"id": 1}}, "last_id": "1", "has_more": "no"})
        if "/parts/" in path:
            return Response.json(200, {"part": "1", "received_parts": None, "complete": "yes", "rejected": {}})
        if path.endswith("/statuses"):
            return Response.json(201, {"status_id": 1, "accepted": "true"})
        return Response.json(200, [{"items": None}])

    # -- dispatch -------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        try:
            return self._dispatch(request)
        except ApiError as exc:
            return exc.response()

    def _dispatch(self, request: Request) -> Response:
        route, params = self._match(request.path)
        handler_name = route.methods.get(request.method)
        if handler_name is None:
            raise ApiError(405, "method_not_allowed", f"{request.method} is not allowed here",
                           {"Allow": ", ".join(route.methods)})
        if route.authenticated:
            self._check_token(request)
            if params["code"] != self.pharmacy_code:
                raise ApiError(403, "forbidden", "this token is not for that pharmacy")
        body = self._json_body(request) if request.method in ("POST", "PUT") else None
        handler: Callable[..., Response] = getattr(self, handler_name)
        return handler(request, params, body)

    @staticmethod
    def _match(path: str) -> tuple[_Route, dict[str, str]]:
        if path.startswith(BASE_PATH + "/"):
            local = path[len(BASE_PATH):]
            for route in ROUTES:
                match = route.pattern.fullmatch(local)
                if match:
                    return route, {k: unquote(v) for k, v in match.groupdict().items()}
        raise ApiError(404, "not_found", f"no route {path}")

    def _check_token(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expiry = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None or expiry <= time.monotonic():
            self.tokens.pop(token.strip(), None)
            raise ApiError(401, "unauthorized", "missing, unknown or expired token")

    @staticmethod
    def _json_body(request: Request) -> dict:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ApiError(415, "unsupported_media_type", "the body must be application/json")
        body = _parse_json(request.body)
        if not isinstance(body, dict):
            raise _bad("the body must be a JSON object")
        return body

    def _effects(self, *names: str) -> None:
        """Count several effects of one request; a drop hits only after all are counted."""
        dropped = None
        for name in names:
            try:
                self.effect(name)
            except DropConnection as exc:
                dropped = exc
        if dropped is not None:
            raise dropped

    # -- auth -------------------------------------------------------------------

    def _post_token(self, request: Request, params: dict, body: dict) -> Response:
        code, secret = body.get("pharmacy_code"), body.get("secret")
        if not isinstance(code, str) or not isinstance(secret, str):
            raise _bad("pharmacy_code and secret are required strings")
        if code != self.pharmacy_code or not secrets.compare_digest(secret, self.secret):
            raise ApiError(401, "unauthorized", "wrong pharmacy code or secret")
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.monotonic() + self.token_ttl
        return Response.json(200, {"access_token": token, "expires_in": self.token_ttl})

    # -- stock --------------------------------------------------------------------

    def _get_stock(self, request: Request, params: dict, body: None) -> Response:
        return Response.json(200, {"snapshot_id": self.snapshot_id, "updated_at": self.stock_updated_at,
                                   "items": self.stock_items})

    def _put_stock_part(self, request: Request, params: dict, body: dict) -> Response:
        snapshot_id = params["snapshot_id"]
        parts, pharmacy, items = self._part_body(body)
        part = self._part_number(params["part"], parts)
        accepted, rejected = _split_items(items)
        if snapshot_id in self._completed_parts:
            return self._repeat_of_completed(snapshot_id, part, parts, rejected)
        pending = self._pending.get(snapshot_id)
        if pending is None:
            self._snapshot_seq += 1
            pending = self._pending[snapshot_id] = _PendingSnapshot(parts, self._snapshot_seq)
        if pending.parts != parts:
            raise ApiError(409, "parts_mismatch", f"snapshot {snapshot_id} has {pending.parts} parts")
        if part not in pending.received:
            self.counters["stock_part_distinct"] += 1
        pending.received[part] = accepted  # a repeated part replaces itself
        pending.pharmacy = pharmacy
        received = len(pending.received)
        complete = received == parts
        if complete:
            self._complete(snapshot_id, pending)
        self._effects("stock_part", *(["stock_snapshot_complete"] if complete else []))
        return self._part_reply(snapshot_id, part, received, parts, complete, rejected)

    @staticmethod
    def _part_body(body: dict) -> tuple[int, dict, list]:
        parts, pharmacy, items = body.get("parts"), body.get("pharmacy"), body.get("items")
        if not _is_int(parts) or parts < 1:
            raise _bad("parts must be an integer >= 1")
        if not _is_timestamp(body.get("generated_at")):
            raise _bad("generated_at must be an ISO-8601 time with offset")
        if not isinstance(pharmacy, dict) or not all(_is_text(pharmacy.get(k)) for k in PHARMACY_FIELDS):
            raise _bad("pharmacy must carry region, city and brand")
        if not isinstance(items, list):
            raise _bad("items must be a list")
        if len(items) > MAX_ITEMS_PER_PART:
            raise ApiError(422, "too_many_items", f"at most {MAX_ITEMS_PER_PART} items a part")
        return parts, pharmacy, items

    @staticmethod
    def _part_number(raw: str, parts: int) -> int:
        if not re.fullmatch(r"[0-9]+", raw) or not 1 <= int(raw) <= parts:
            raise _bad(f"part must be 1..{parts}")
        return int(raw)

    def _complete(self, snapshot_id: str, pending: _PendingSnapshot) -> None:
        """Swap the shown stock in one assignment, then forget the parts."""
        self.stock_items = [item for n in range(1, pending.parts + 1) for item in pending.received[n]]
        self.snapshot_id = snapshot_id
        self.stock_updated_at = _now()
        self.pharmacy_info = pending.pharmacy
        self.snapshots_completed += 1
        self._completed_parts[snapshot_id] = pending.parts
        # a completed snapshot supersedes every snapshot begun before it
        for other_id, other in list(self._pending.items()):
            if other.started <= pending.started:
                del self._pending[other_id]

    def _repeat_of_completed(self, snapshot_id: str, part: int, parts: int, rejected: list) -> Response:
        """A retry of a part whose snapshot is already live: acknowledge, change nothing."""
        if self._completed_parts[snapshot_id] != parts:
            raise ApiError(409, "parts_mismatch", f"snapshot {snapshot_id} has "
                                                  f"{self._completed_parts[snapshot_id]} parts")
        self.effect("stock_part")
        return self._part_reply(snapshot_id, part, parts, parts, True, rejected)

    @staticmethod
    def _part_reply(snapshot_id: str, part: int, received: int, parts: int, complete: bool,
                    rejected: list) -> Response:
        return Response.json(200, {"snapshot_id": snapshot_id, "part": part, "received_parts": received,
                                   "parts": parts, "complete": complete, "rejected": rejected})

    # -- feeds ----------------------------------------------------------------------

    def _get_orders(self, request: Request, params: dict, body: None) -> Response:
        since_id, limit = _page_args(request)
        resent = [oid for oid in self._resend_queue if oid <= since_id]
        lead, left = resent[:limit], resent[limit:]
        self._resend_queue = left  # re-sends past the cursor come on their own anyway
        shown = self._order_ids[:max(0, len(self._order_ids) - self.orders_lag)]  # a lag hides the newest
        start = bisect_right(shown, since_id)
        fresh = shown[start:start + limit - len(lead)]
        has_more = bool(left) or start + len(fresh) < len(shown)
        orders = [self._wire_order(self.orders[oid]) for oid in lead + fresh]
        last_id = fresh[-1] if fresh else since_id
        return Response.json(200, {"orders": orders, "last_id": last_id, "has_more": has_more})

    @staticmethod
    def _wire_order(order: dict) -> dict:
        return {key: value for key, value in order.items() if key != "site_status"}

    def _get_events(self, request: Request, params: dict, body: None) -> Response:
        since_id, limit = _page_args(request)
        page = self.events[since_id:since_id + limit]  # event ids are 1..n, no gaps
        last_id = page[-1]["id"] if page else since_id
        return Response.json(200, {"events": page, "last_id": last_id,
                                   "has_more": since_id + len(page) < len(self.events)})

    # -- pharmacy statuses ------------------------------------------------------------

    def _post_status(self, request: Request, params: dict, body: dict) -> Response:
        status_id = body.get("status_id")
        if not _is_uuid(status_id):
            raise _bad("status_id must be a UUID")
        order = self._order_in_path(params["order_id"])
        known = self._status_ids.get(status_id.lower())
        if known is not None:
            return self._repeat_status(order, known)
        record = self._status_record(order, body)
        self._check_transition(order, record["status"])
        order["site_status"] = record["status"]
        self.order_statuses.setdefault(order["id"], []).append(record)
        self._status_ids[status_id.lower()] = (order["id"], status_id)
        self.effect("status")
        return Response.json(201, {"status_id": status_id, "accepted": True})

    def _order_in_path(self, raw: str) -> dict:
        order = self.orders.get(int(raw)) if re.fullmatch(r"[0-9]+", raw) else None
        if order is None:
            raise ApiError(404, "order_not_found", f"no order {raw}")
        return order

    @staticmethod
    def _repeat_status(order: dict, known: tuple[int, str]) -> Response:
        order_id, status_id = known
        if order_id != order["id"]:
            raise ApiError(409, "status_id_conflict", f"status_id already used for order {order_id}")
        return Response.json(200, {"status_id": status_id, "accepted": True})

    def _status_record(self, order: dict, body: dict) -> dict:
        status, comment = body.get("status"), body.get("comment", "")
        if not _is_int(status) or status not in ALLOWED_AFTER:
            raise _bad(f"status must be one of {sorted(ALLOWED_AFTER)}", "bad_status")
        if not _is_timestamp(body.get("created_at")):
            raise _bad("created_at must be an ISO-8601 time with offset")
        if comment is None:
            comment = ""
        if not isinstance(comment, str):
            raise _bad("comment must be a string")
        items = self._status_items(order, body.get("items"), required=status == 7)
        return {"status_id": body["status_id"], "status": status, "created_at": body["created_at"],
                "items": items, "comment": comment}

    @staticmethod
    def _status_items(order: dict, items: Any, required: bool) -> list | None:
        """The lines the pharmacy can give: known line ids, 1..ordered packs each."""
        if items is None and not required:
            return None
        if not isinstance(items, list) or (required and not items):
            raise _bad("status 7 needs a non-empty items list" if required else "items must be a list")
        ordered = {line["line_id"]: line["quantity"] for line in order["items"]}
        seen: set[int] = set()
        for entry in items:
            line_id = entry.get("line_id") if isinstance(entry, dict) else None
            if not _is_int(line_id) or line_id not in ordered or line_id in seen:
                raise _bad(f"items must name each order line once: bad line_id {line_id!r}")
            quantity = entry.get("quantity")
            if not _is_int(quantity) or not 1 <= quantity <= ordered[line_id]:
                raise _bad(f"line {line_id}: quantity must be 1..{ordered[line_id]}")
            seen.add(line_id)
        return [{"line_id": e["line_id"], "quantity": e["quantity"]} for e in items]

    @staticmethod
    def _check_transition(order: dict, status: int) -> None:
        current = order["site_status"]
        if current in FINAL_STATUSES or current not in ALLOWED_AFTER[status]:
            raise ApiError(409, "invalid_transition",
                           f"order {order['id']}: status {status} is not allowed after {current or 'none'}")


def serve(port: int = 0) -> tuple[EmulatorServer, MegaptekaEmulator]:
    """Make an emulator and start it on 127.0.0.1; its URL is `server.url` (ends in /v1)."""
    app = MegaptekaEmulator()
    server = EmulatorServer(app, port=port, base_path=BASE_PATH)
    return server.start(), app
