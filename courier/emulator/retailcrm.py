"""The RetailCRM (Simla) API v5 emulator (serve with base path "").

Follows shared/protocols/public-apis.md and, in detail, shared/research/courier_apis.md and
real_services.md. Strict wherever the real service is known to be strict. What an edit does
to an order and the history it writes is in `crm_changes.py`.

Strict about:
* paths under `/api/v5/`; unknown method → 404 "API method not found" [unsure text];
  wrong HTTP verb → 405 "Method Not Allowed";
* `X-API-KEY` header (or `apiKey` query/form parameter): missing → 403 `"apiKey" is
  missing.`, wrong → 403 `Wrong "apiKey" value.`;
* POST bodies are read only when `application/x-www-form-urlencoded`; other bodies carry
  no parameters, so a JSON body fails with `Parameter 'order' is missing` (400), as it
  would on the real PHP backend. JSON fields (`order`, `payment`) must hold a JSON object;
  otherwise 400 "Errors in the entity format" with `errors`;
* an account that does not exist (`account_exists = False`) answers as each verb really
  gets it: any request but a GET → 405 with an HTML page (api-client-php
  `AccountNotFoundHandler`, which skips GET); a GET → 404 `{"success": false, "errorMsg":
  "Account does not exist."}` (api-client-php 91b5666 leaves GET to the JSON error handler,
  whose `ApiExceptionFactory` maps that errorMsg to `AccountDoesNotExistException`; its v5
  client, lib/RetailCrm/Http/Client.php 75b70be, looked for the text in a 404; api-client-go
  `error.go` maps the same errorMsg). `missing_account_get = "html"` answers a GET with a 404
  HTML page instead (api-client-go: a 4xx body starting with "<"), `"redirect"` with a 302 to
  `/account-not-found`, an HTML page [which of the three the real one serves is unsure];
* `/orders/history` with `filter[sinceId]` and `page` together → 400 (RetailCRM docs
  «Working with history API», since 15.05.2023);
* `limit` only 20/50/100/250, `page` ≥ 1; filters are checked: names the real API does not
  know → 400 "This form should not contain extra fields."; real filters this emulator does
  not implement → 400 "not supported by the emulator" (loud rather than silently wrong).
  Implemented: orders `ids`, `externalIds`, `numbers`, `extendedStatus`, `sites` (arrays,
  `filter[ids][]=1`); history `sinceId`, `orderId`, `orderExternalId`, `startDate`,
  `endDate`;
* `payments/{id}/edit` needs `by` explicitly (the real default is unconfirmed);
* a payment externalId must be unique across the account (it addresses the payment in
  `payments/{externalId}/edit?by=externalId`), a duplicate → 400 with errors [the exact
  real message is unsure];
* `site`, when sent, must equal the emulator's site, else 400 `Wrong "site" value.`
  [unsure text];
* rate limit: more than `rate_limit_rps` (10) accepted requests in any sliding one-second
  window → HTTP 503 with nginx's HTML page (counter "rate_limited"). Refused requests do
  not extend the window (nginx limit_req behaves so); `max_rps_seen` counts every request
  that reached the limiter, refused or not.

Shapes: `payments` in an order is an object keyed by payment id as a string, `[]` when
empty (the real quirk; `customFields` likewise). `errors` is an object; set
`errors_as_list = True` for a list of "field: message" strings. Lists are ascending by id.
Payment create answers 201, everything else 200. `totalCount` 0 → `totalPageCount` 0.

History (`GET /api/v5/orders/history`): records ascending by id, `createdAt` "Y-m-d H:i:s";
the creation record has `created: true`, field `status` (null → {code}) and the full order;
other records carry a reduced order {id, externalId, number, site, status}. `source` is
"api" with `apiKey.current = true` for changes made with the emulator's key, "user" with
`user: {id: 1}` and no apiKey for manager changes (`create_order`, `manager_edit`), "api"
with `apiKey.current = false` for `other_api_edit` (another integration). Field names as
RetailCRM's own objects.xml lists them (retailcrm/bitrix-module, woocommerce-module;
snake_case where the research had none):
  status {code}, first_name, last_name, patronymic, phone, additional_phone, email,
  manager_comment, customer_comment, status_comment, external_id, number, order_type
  {code}, order_method {code}, manager {id}, weight, length, width, height, shipped,
  shipment_date, shipment_store {code}; delivery.code → delivery_type {code}, cost →
  delivery_cost, netCost → delivery_net_cost, date → delivery_date, time → delivery_time
  ({from,to}), address → one record per changed part: delivery_address.city, .street,
  .building, .flat, .index, .text … (old and new part values), service → delivery_service,
  data → integration_delivery_data; items (the list replaces all items; an item keeps its id
  when its offer is still there) → per changed part order_product.quantity, .initial_price,
  .discount_total, .discount_percent, .status, .summ, and a bare order_product only for an
  item added (oldValue null) or removed (newValue null); customFields.X → X; any other key → its
  snake_case. Payments: payments.type {code}, payments.amount, payments.status {code},
  each with `payment: {id, type, externalId?}`; creation records all three from null;
  deletion records one payments.type ({code} → null) with `payment.deleted = true`.
  `summ`/`totalSumm`/`prepaySum` are recomputed (prepaySum = paid payments) without
  history records.

Helpers (act like a manager in the CRM UI): `create_order(**fields)`,
`manager_edit(order_id, **changes)`, `other_api_edit(order_id, **changes)`; inspection:
`orders` (id → order), `history`, `payments` (id → payment incl. `order: {id}`),
`max_rps_seen`, `counters`. Default orders get externalId "shop-<id>" (a form distinct
from id so by=id/by=externalId mix-ups show; pass externalId=None to omit it, as with
orders really made in the UI) and number "<1000+id>A".
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import datetime, timedelta
from typing import Any, Callable
from urllib.parse import parse_qs, unquote

from courier.emulator.crm_changes import (_STAMP, ApiError, OrderChanges, _code,
                                          _entity_error, _int_param, _is_number, _one, _stamp)
from maorders.emulation import EmulatorApp, Request, Response, SlidingWindow

RATE_LIMIT_HTML = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
).encode()
ACCOUNT_NOT_FOUND_HTML = (
    "<!DOCTYPE html>\n<html><head><title>Account does not exist</title></head>\n"
    "<body><h1>Account does not exist</h1></body></html>\n"
).encode()
ACCOUNT_NOT_FOUND_PAGE = "/account-not-found"
PAGE_LIMITS = (20, 50, 100, 250)
ORDER_FILTERS = {"ids": "id", "externalIds": "externalId", "numbers": "number",
                 "extendedStatus": "status", "sites": "site"}
HISTORY_FILTERS = {"sinceId", "orderId", "orderExternalId", "startDate", "endDate"}
# Real /orders filters this emulator does not implement: refused loudly, never ignored.
UNSUPPORTED_FILTERS = {
    "customer", "customerId", "customerExternalId", "countries", "city", "region", "index",
    "metro", "email", "deliveryTimeFrom", "deliveryTimeTo", "minPrepaySumm", "maxPrepaySumm",
    "minPrice", "maxPrice", "product", "vip", "bad", "expired", "call", "online",
    "deliveryStates", "minDeliveryCost", "maxDeliveryCost", "managerComment",
    "customerComment", "trackNumber", "deliveryExternalId", "contragentName",
    "contragentTypes", "shipped", "customerType", "companyName", "orderTypes", "managers",
    "paymentStatuses", "paymentTypes", "deliveryTypes", "deliveryServices", "orderMethods",
    "couriers", "managerGroups", "shipmentStores", "createdAtFrom", "createdAtTo",
    "fullPaidAtFrom", "fullPaidAtTo", "paidAtFrom", "paidAtTo", "deliveryDateFrom",
    "deliveryDateTo", "statusUpdatedAtFrom", "statusUpdatedAtTo", "shipmentDateFrom",
    "shipmentDateTo", "customFields", "sourceName",
}


class RetailcrmEmulator(OrderChanges, EmulatorApp):
    """RetailCRM API v5: orders, orders history, order payments, a 10 rps limit."""

    name = "retailcrm"
    rate_limit_rps = 10
    errors_as_list = False

    ROUTES: list[tuple[str, re.Pattern[str], str]] = [
        ("GET", re.compile(r"orders/history"), "_history"),
        ("GET", re.compile(r"orders"), "_list"),
        ("POST", re.compile(r"orders/payments/create"), "_payment_create"),
        ("POST", re.compile(r"orders/payments/(?P<ident>[^/]+)/edit"), "_payment_edit"),
        ("POST", re.compile(r"orders/payments/(?P<ident>[^/]+)/delete"), "_payment_delete"),
        ("POST", re.compile(r"orders/(?P<ident>[^/]+)/edit"), "_edit"),
        ("GET", re.compile(r"orders/(?P<ident>[^/]+)"), "_get"),
    ]

    def __init__(self, api_key: str = "crm-key", site: str = "shop") -> None:
        super().__init__()
        self.api_key, self.site = api_key, site
        self.orders: dict[int, dict[str, Any]] = {}
        self.history: list[dict[str, Any]] = []
        self.payments: dict[int, dict[str, Any]] = {}
        self.clock = time.monotonic  # tests freeze it to put many requests in one instant
        # refused requests do not extend the window (nginx limit_req behaves so)
        self._window = SlidingWindow(1.0, self.rate_limit_rps)
        self.account_exists = True  # False: an unknown account (see the module's notes)
        self.missing_account_get = "json"  # how a GET to an unknown account is answered: json | html | redirect
        self._ids = {"order": 0, "item": 0, "history": 0, "payment": 0}
        self._fixed_sums: dict[int, set[str]] = {}  # sums create_order was given explicitly

    # -- rate limit ---------------------------------------------------------------
    def rate_limited(self, request: Request) -> Response | None:
        with self.lock:
            self._window.limit = self.rate_limit_rps
            if not self._window.admit(self.clock()):
                self.counters["rate_limited"] += 1
                return Response(503, RATE_LIMIT_HTML, {"Content-Type": "text/html"})
        return None

    @property
    def max_rps_seen(self) -> int:
        """The most requests that reached the limiter in any one second, refused or not."""
        return self._window.most

    # -- transport ------------------------------------------------------------------
    def _missing_account(self, request: Request) -> Response:
        """An unknown account, as each verb gets it (the module's notes give the sources)."""
        html = {"Content-Type": "text/html; charset=utf-8"}
        if request.path == ACCOUNT_NOT_FOUND_PAGE:
            return Response(200, ACCOUNT_NOT_FOUND_HTML, html)
        if request.method != "GET":
            return Response(405, ACCOUNT_NOT_FOUND_HTML, html)
        if self.missing_account_get == "redirect":
            return Response(302, b"", {"Location": ACCOUNT_NOT_FOUND_PAGE})
        if self.missing_account_get == "html":
            return Response(404, ACCOUNT_NOT_FOUND_HTML, html)
        return Response.json(404, {"success": False, "errorMsg": "Account does not exist."})

    def route(self, request: Request) -> Response:
        if not self.account_exists:
            return self._missing_account(request)
        try:
            if not request.path.startswith("/api/v5/"):
                raise ApiError(404, "API method not found")
            params = self._params(request)
            self._check_key(request, params)
            handler, ident = self._resolve(request.method, request.path[len("/api/v5/"):])
            return handler(params, ident)
        except ApiError as exc:
            return self._fail(exc)

    def _fail(self, exc: ApiError) -> Response:
        payload: dict[str, Any] = {"success": False, "errorMsg": exc.message}
        if exc.errors:
            payload["errors"] = ([f"{k}: {v}" for k, v in exc.errors.items()]
                                 if self.errors_as_list else dict(exc.errors))
        return Response.json(exc.status, payload)

    def _params(self, request: Request) -> dict[str, list[str]]:
        params = dict(request.query)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if request.method == "POST" and ctype == "application/x-www-form-urlencoded":
            try:
                form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                raise ApiError(400, "Request body must be UTF-8") from None
            params.update(form)
        return params

    def _check_key(self, request: Request, params: dict[str, list[str]]) -> None:
        key = request.headers.get("x-api-key") or _one(params, "apiKey")
        if not key:
            raise ApiError(403, '"apiKey" is missing.')
        if key != self.api_key:
            raise ApiError(403, 'Wrong "apiKey" value.')

    def _resolve(self, method: str, path: str) -> tuple[Callable[..., Response], str | None]:
        path = path.strip("/")
        matched = False
        for verb, pattern, name in self.ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            matched = True
            if verb == method:
                ident = match.groupdict().get("ident")
                return getattr(self, name), unquote(ident) if ident is not None else None
        if matched:
            raise ApiError(405, "Method Not Allowed")
        raise ApiError(404, "API method not found")

    # -- parameters -----------------------------------------------------------------------
    def _check_site(self, params: dict[str, list[str]]) -> None:
        site = _one(params, "site")
        if site is not None and site != self.site:
            raise ApiError(400, 'Wrong "site" value.')

    def _by(self, params: dict[str, list[str]], default: str | None) -> str:
        by = _one(params, "by") or default
        if by is None:
            raise ApiError(400, "Parameter 'by' is missing")
        if by not in ("id", "externalId"):
            raise _entity_error("by", 'Value must be "id" or "externalId".')
        return by

    def _json_field(self, params: dict[str, list[str]], name: str) -> dict[str, Any]:
        raw = _one(params, name)
        if raw is None:
            raise ApiError(400, f"Parameter '{name}' is missing")
        try:
            value = json.loads(raw)
        except ValueError:
            raise _entity_error(name, "Invalid JSON.") from None
        if not isinstance(value, dict):
            raise _entity_error(name, "This value should be a JSON object.")
        return value

    def _filters(self, params: dict[str, list[str]], allowed: set[str],
                 arrays: set[str]) -> dict[str, Any]:
        """`filter[name]=v` and `filter[name][]=v` → {name: v or [v…]}, checked."""
        filters: dict[str, Any] = {}
        for key, values in params.items():
            if not key.startswith("filter"):
                continue
            match = re.fullmatch(r"filter\[(\w+)\](\[\d*\])?", key)
            if match is None:
                raise _entity_error("filter", "This form should not contain extra fields.")
            name, is_array = match.group(1), match.group(2) is not None
            if name in UNSUPPORTED_FILTERS and name not in allowed:
                raise _entity_error(f"filter[{name}]", "not supported by the emulator")
            if name not in allowed:
                raise _entity_error("filter", "This form should not contain extra fields.")
            if is_array != (name in arrays):
                raise _entity_error(f"filter[{name}]", "This value is not valid.")
            filters[name] = filters.get(name, []) + values if is_array else values[0]
        return filters

    def _page(self, items: list[Any], params: dict[str, list[str]]
              ) -> tuple[list[Any], dict[str, int]]:
        limit = _int_param(_one(params, "limit"), "limit", 20)
        if limit not in PAGE_LIMITS:
            raise _entity_error("limit", "The value you selected is not a valid choice.")
        page = _int_param(_one(params, "page"), "page", 1)
        if page < 1:
            raise _entity_error("page", "This value should be greater than or equal to 1.")
        start = (page - 1) * limit
        pagination = {"limit": limit, "totalCount": len(items), "currentPage": page,
                      "totalPageCount": math.ceil(len(items) / limit)}
        return items[start:start + limit], pagination

    def _find_order(self, ident: str, by: str) -> dict[str, Any] | None:
        if by == "id":
            return self.orders.get(int(ident)) if ident.isdigit() else None
        return next((o for o in self.orders.values() if o.get("externalId") == ident), None)

    # -- orders -----------------------------------------------------------------------------
    def _list(self, params: dict[str, list[str]], _ident: None) -> Response:
        filters = self._filters(params, set(ORDER_FILTERS), set(ORDER_FILTERS))
        if not all(v.isdigit() for v in filters.get("ids", [])):
            raise _entity_error("filter[ids]", "This value should be of type integer.")
        found = [o for o in sorted(self.orders.values(), key=lambda o: o["id"])
                 if all(str(o.get(ORDER_FILTERS[name])) in values
                        for name, values in filters.items())]
        page, pagination = self._page(found, params)
        return Response.json(200, {"success": True, "pagination": pagination,
                                   "orders": [self._render(o) for o in page]})

    def _get(self, params: dict[str, list[str]], ident: str) -> Response:
        by = self._by(params, "externalId")
        self._check_site(params)
        order = self._find_order(ident, by)
        if order is None:
            raise ApiError(404, "Not found")
        return Response.json(200, {"success": True, "order": self._render(order)})

    def _edit(self, params: dict[str, list[str]], ident: str) -> Response:
        by = self._by(params, "externalId")
        self._check_site(params)
        changes = self._json_field(params, "order")
        order = self._find_order(ident, by)
        if order is None:
            raise ApiError(404, "Not found")
        self._apply_changes(order, changes, "api")
        self.effect("order_edited")
        return Response.json(200, {"success": True, "id": order["id"],
                                   "order": self._render(order)})

    def _history(self, params: dict[str, list[str]], _ident: None) -> Response:
        filters = self._filters(params, HISTORY_FILTERS, set())
        if "sinceId" in filters and _one(params, "page") is not None:
            # since 15.05.2023 (RetailCRM docs «Working with history API»; retailcrm/woocommerce-module
            # 9a533b9 dropped `page` for it): walk by moving sinceId, never by pages [text unsure]
            raise ApiError(400, "Parameter 'page' is not allowed together with filter[sinceId]; "
                                "use filter[sinceId] alone")
        since = _int_param(filters.get("sinceId"), "filter[sinceId]", 0)
        order_id = filters.get("orderId")
        if order_id is not None:
            order_id = _int_param(order_id, "filter[orderId]", 0)
        start, end = self._date_range(filters)
        found = [h for h in self.history
                 if h["id"] > since
                 and (order_id is None or h["order"]["id"] == order_id)
                 and ("orderExternalId" not in filters
                      or h["order"].get("externalId") == filters["orderExternalId"])
                 and start <= h["createdAt"] <= end]
        page, pagination = self._page(found, params)
        return Response.json(200, {"success": True, "generatedAt": _stamp(),
                                   "history": page, "pagination": pagination})

    @staticmethod
    def _date_range(filters: dict[str, Any]) -> tuple[str, str]:
        bounds = []
        for name, default, day_end in (("startDate", "0000", " 00:00:00"),
                                       ("endDate", "9999", " 23:59:59")):
            value = filters.get(name)
            if value is None:
                bounds.append(default)
            elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                bounds.append(value + day_end)
            elif re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", value):
                bounds.append(value)
            else:
                raise _entity_error(f"filter[{name}]", "This value is not a valid datetime.")
        return bounds[0], bounds[1]

    # -- payments -------------------------------------------------------------------------------
    def _payment_create(self, params: dict[str, list[str]], _ident: None) -> Response:
        self._check_site(params)
        data = self._json_field(params, "payment")
        order = self._payment_order(data.get("order"))
        self._validate_payment(data, required_type=True)
        self._ids["payment"] += 1
        pid = self._ids["payment"]
        paid_so_far = sum(p["amount"] for p in self.payments.values()
                          if p["order"]["id"] == order["id"])
        payment = {"id": pid, "type": data["type"], "status": data.get("status", "not-paid"),
                   "amount": data.get("amount", max(order["totalSumm"] - paid_so_far, 0))}
        for key in ("externalId", "paidAt", "comment"):
            if data.get(key) is not None:
                payment[key] = data[key]
        payment["order"] = {"id": order["id"]}
        self._attach_payment(order, payment, "api")
        self.effect("payment_created")
        return Response.json(201, {"success": True, "id": pid})

    def _payment_order(self, ref: Any) -> dict[str, Any]:
        if not isinstance(ref, dict) or not any(ref.get(k) for k in ("id", "externalId", "number")):
            raise _entity_error("order", "Set one of the following fields: id, externalId, number")
        for key in ("id", "externalId", "number"):
            if ref.get(key) is not None:
                found = next((o for o in self.orders.values()
                              if str(o.get(key)) == str(ref[key])), None)
                if found is None:
                    raise _entity_error("order", "Order not found.")
                return found
        raise AssertionError("unreachable")

    def _validate_payment(self, data: dict[str, Any], required_type: bool,
                          own_id: int | None = None) -> None:
        if required_type and not data.get("type"):
            raise _entity_error("type", "This value should not be blank.")
        for key in ("type", "status", "externalId", "comment"):
            if key in data and not isinstance(data[key], str):
                raise _entity_error(key, "This value should be of type string.")
        if "amount" in data and not (_is_number(data["amount"]) and data["amount"] >= 0):
            raise _entity_error("amount", "This value should be a non-negative number.")
        if data.get("paidAt") is not None:
            try:
                datetime.strptime(str(data["paidAt"]), _STAMP)
            except ValueError:
                raise _entity_error("paidAt", "This value is not a valid datetime.") from None
        external = data.get("externalId")
        if external and any(p.get("externalId") == external and p["id"] != own_id
                            for p in self.payments.values()):
            raise _entity_error("externalId",
                                f'Payment with externalId "{external}" already exists.')

    def _attach_payment(self, order: dict[str, Any], payment: dict[str, Any], source: str
                        ) -> None:
        self.payments[payment["id"]] = payment
        self._sync_payments(order)
        ref = self._payment_ref(payment)
        for field, new in (("payments.type", _code(payment["type"])),
                           ("payments.amount", payment["amount"]),
                           ("payments.status", _code(payment["status"]))):
            self._record(order, field, None, new, source, payment=dict(ref))

    @staticmethod
    def _payment_ref(payment: dict[str, Any]) -> dict[str, Any]:
        ref = {"id": payment["id"], "type": payment["type"]}
        if payment.get("externalId"):
            ref["externalId"] = payment["externalId"]
        return ref

    def _sync_payments(self, order: dict[str, Any]) -> None:
        """The order shows its payments as an object keyed by id (without `order`)."""
        order["payments"] = {
            str(pid): {k: v for k, v in p.items() if k != "order"}
            for pid, p in sorted(self.payments.items()) if p["order"]["id"] == order["id"]}
        self._recompute(order)

    def _find_payment(self, ident: str, by: str) -> dict[str, Any]:
        if by == "id":
            payment = self.payments.get(int(ident)) if ident.isdigit() else None
        else:
            payment = next((p for p in self.payments.values()
                            if p.get("externalId") == ident), None)
        if payment is None:
            raise ApiError(404, "Not found")
        return payment

    def _payment_edit(self, params: dict[str, list[str]], ident: str) -> Response:
        by = self._by(params, None)   # required explicitly: the real default is unconfirmed
        self._check_site(params)
        data = self._json_field(params, "payment")
        payment = self._find_payment(ident, by)
        self._validate_payment(data, required_type=False, own_id=payment["id"])
        if "order" in data and self._payment_order(data["order"])["id"] != payment["order"]["id"]:
            raise _entity_error("order", "A payment cannot be moved to another order.")
        order = self.orders[payment["order"]["id"]]
        changed = [(key, payment.get(key), data[key])
                   for key in ("type", "amount", "status", "externalId", "paidAt", "comment")
                   if key in data and payment.get(key) != data[key]]
        for key, _, new in changed:
            payment[key] = new
        self._sync_payments(order)
        for key, old, new in changed:
            if key in ("type", "amount", "status"):
                wrap = (lambda v: v) if key == "amount" else _code
                self._record(order, f"payments.{key}", wrap(old), wrap(new), "api",
                             payment=self._payment_ref(payment))
        self.effect("payment_edited")
        return Response.json(200, {"success": True, "id": payment["id"]})

    def _payment_delete(self, params: dict[str, list[str]], ident: str) -> Response:
        payment = self._find_payment(ident, "id")
        del self.payments[payment["id"]]
        order = self.orders[payment["order"]["id"]]
        self._sync_payments(order)
        self._record(order, "payments.type", _code(payment["type"]), None, "api",
                     payment={**self._payment_ref(payment), "deleted": True})
        self.effect("payment_deleted")
        return Response.json(200, {"success": True})

    # -- helpers acting like a manager in the CRM UI ----------------------------------------------
    def create_order(self, **fields: Any) -> dict[str, Any]:
        """Create an order as a manager would (source "user"); returns it as the API shows it."""
        with self.lock:
            self._ids["order"] += 1
            oid = self._ids["order"]
            order = self._default_order(oid)
            payments = fields.pop("payments", None)
            if "delivery" in fields:
                delivery = fields.pop("delivery")
                order["delivery"] = {**order["delivery"], **delivery}
            if "items" in fields:
                order["items"] = self._new_items(fields.pop("items"))
            else:
                order["items"] = self._new_items(order["items"])
            order.update(fields)
            order = {k: v for k, v in order.items() if v is not None}
            self.orders[oid] = order
            # explicit sums win over computed ones, now and after later edits
            self._fixed_sums[oid] = {k for k in ("summ", "totalSumm", "prepaySum") if k in fields}
            self._recompute(order)
            self._create_payments(order, payments)
            self._record(order, "status", None, _code(order["status"]), "user", created=True)
            return self._render(order)

    def _default_order(self, oid: int) -> dict[str, Any]:
        now = _stamp()
        tomorrow = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%d")
        return {
            "id": oid, "externalId": f"shop-{oid}", "number": f"{1000 + oid}A",
            "site": self.site, "status": "new", "statusUpdatedAt": now, "createdAt": now,
            "orderType": "eshop-individual", "orderMethod": "shopping-cart",
            "firstName": "Иван", "lastName": "Петров", "patronymic": "Сергеевич",
            "phone": "+79161234567", "email": "ivan.petrov@example.com",
            "contragent": {"contragentType": "individual"}, "currency": "RUB",
            "items": [{"initialPrice": 450, "quantity": 2, "vatRate": "none", "weight": 150,
                       "offer": {"name": "Аспирин Кардио 100 мг №28", "externalId": "sku-1001"}}],
            "delivery": {"code": "courier", "cost": 300, "netCost": 0, "date": tomorrow,
                         "time": {"from": "10:00", "to": "18:00"},
                         "address": {"index": "125480", "city": "Москва",
                                     "text": "ул. Ленина, д. 1, кв. 2"}},
            "summ": 0, "totalSumm": 0, "prepaySum": 0, "purchaseSumm": 0,
            "weight": 300, "length": 20, "width": 15, "height": 10,
            "fromApi": False, "customFields": {}, "payments": {},
        }

    def _create_payments(self, order: dict[str, Any], payments: Any) -> None:
        if payments is None:
            payments = [{"type": "cash"}]
        if isinstance(payments, dict):
            payments = list(payments.values())
        for data in payments:
            self._ids["payment"] += 1
            payment = {"id": self._ids["payment"], "type": data.get("type", "cash"),
                       "status": data.get("status", "not-paid"),
                       "amount": data.get("amount", order["totalSumm"])}
            payment.update({k: v for k, v in data.items() if k not in payment})
            payment["order"] = {"id": order["id"]}
            self.payments[payment["id"]] = payment
        self._sync_payments(order)

    def manager_edit(self, order_id: int, **changes: Any) -> dict[str, Any]:
        """Change an order as a manager in the UI would: source "user", no apiKey."""
        with self.lock:
            self._apply_changes(self.orders[order_id], changes, "user")
            return self._render(self.orders[order_id])

    def other_api_edit(self, order_id: int, **changes: Any) -> dict[str, Any]:
        """Change an order as another integration would: source "api", apiKey.current false."""
        with self.lock:
            order = self.orders[order_id]
            start = len(self.history)
            self._apply_changes(order, changes, "api")
            for entry in self.history[start:]:
                entry["apiKey"] = {"current": False}
            return self._render(order)
