"""Strict in-memory emulators of MeaSoft «Курьерская служба 2008» (XML) and RetailCRM API v5.

Both follow shared/protocols/public-apis.md and, in detail, shared/research/courier_apis.md.
They are strict wherever the real service is known to be strict, so a client that passes
against them has a fair chance against the real thing. Faults (500, 429, delay, drops,
malformed bodies) come from the shared base `maorders.emulation.EmulatorApp`.

MeaSoft (`MeasoftEmulator`, serve under base path "/api/")
---------------------------------------------------------------
Strict about:
* one URL (`/api/` or `/api`), `POST` only (405 otherwise), `Content-Type: text/xml`
  (any parameters such as charset allowed), body at most 10 MB;
* XML parsed with defusedxml with DTDs forbidden: any DTD, entity declaration or external
  reference (billion laughs, XXE) gives a root error 1, never a crash;
* the root element names the method (`neworder`, `editorder`, `statusreq`,
  `commitlaststatus`, `cancelorder`); any other → root error 14 «Неизвестная функция»;
* `<auth extra login pass/>` attributes must match exactly: neworder and editorder answer root error 1
  (ordering table), the other methods root error 25 (general table) [unsure in research:
  the two tables clash; this is the reading the research suggests];
* numbers use a dot and are non-negative (`387,5`, `-1`, `1e3` are refused);
* `paytype` only CASH, CARD, NO, OTHER (OPTION "cannot be sent").

Error format (one format, chosen because the research leaves it open):
* a whole-request error is the root element named after the method when the method is
  known, else `error`:  `<neworder error="1" errormsg="Authorization error"
  errormsgru="Ошибка авторизации"/>`. Invalid XML, wrong Content-Type, oversized body
  and unknown functions therefore answer `<error error="N" errormsg=… errormsgru=…/>`;
* per-order results carry `error`, `errormsg`, `errormsgru` (0 / OK / Успешно);
* successful replies NEVER carry `error` on the root (MeaSoft's own 2019 PHP class fails
  as soon as the root has any `error` attribute);
* `fail_next(method, code, level)` can also produce the `<error error=N …/>` child form.
HTTP status is 200 for every logical error, as on the real service.

Choices where the research is [unsure]:
* several `<order>` per `neworder` / `cancelorder` are accepted; results come in order;
* neworder validation reports the first failing code per order, checked in this order:
  orderno missing (2), price (3; also an unknown paytype), weight (4), receiver town empty
  (5), address empty and no `<pvz>` (7), phone (8), both person and company empty (9),
  inshprice (11), orderno already exists (17). Absent price/weight count as 0 (SDKs drop
  empty elements); with paytype NO the price is ignored and stored as 0. The `<sender>`
  block is optional and not validated (the cabinet supplies defaults);
* `<createorder>` carries only orderno/error/errormsg/errormsgru (extra attributes such as
  awb are unconfirmed); ordercode and awb are readable through `statusreq`;
* a created order counts as a status change (NEW), so it shows up in ONLY_LAST polls;
* ONLY_LAST: per stream (`<streamid>` 100..10000, absent = default stream) a committed
  marker; each poll remembers a snapshot point and returns every order changed after the
  marker, the same set again until `commitlaststatus` for that stream moves the marker to
  the snapshot of its last poll. Changes made after the poll are kept for the next one.
  Switching `<quickstatus>` (YES default / NO) on a stream resends every order, standing in
  for the documented "do not mix YES and NO". Other `changes` values, a bad streamid or
  quickstatus → root error 1;
* `commitlaststatus` answers an empty `<commitlaststatus/>`;
* `statusreq` without `changes` looks up by `orderno`, `ordercode`, `done`
  (ONLY_DONE/ONLY_NOT_DONE/ONLY_NEW/ONLY_DELIVERY), `datefrom`/`dateto` (bad date → root
  error 12); nothing found → `<statusreq count="0"/>`;
* `<statushistory>` children are `<status>` elements like the current status;
  `eventtime` is local `YYYY-MM-DD HH:MM:SS`, `createtimegmt` the same in UTC;
  `<deliveryprice total= delivery= return=/>` uses the attribute form SEMIVAN reads;
* `cancelorder` error 52 = not found (documented); 53 "order is in work, cannot be
  cancelled" for anything not NEW/AWAITING_SYNC — the real code is UNCONFIRMED. Cancelling
  an order already cancelled by the customer answers OK again without a new effect. An
  empty neworder/cancelorder → root error 2 «Отправлен пустой запрос».
* `editorder` (documented on the MeaSoft wiki, «Изменение заказа» / "Changing Order",
  2021–2022: the neworder structure under an `editorder` root, the whole order again, no
  barcode, items addressed by MeaSoft's own `code` from statusreq, an item left out kept
  with quantity 0, the reply shaped like neworder's under `editorder`; only for orders not
  yet in work, and only when the courier service allows editing). Stored items get a
  `code` (shown in statusreq). Error codes are UNCONFIRMED choices: 52 not found, 53 "order
  is in work, cannot be changed", 56 editing not allowed (`allow_edit = False`, the
  cabinet's «Разрешить отмену и изменение заказов» switched off); the neworder checks
  (3, 4, 5, 7, 8, 9, 11) apply too. An accepted edit is the effect "order_edited" and does
  not change the status.

Test helpers: `orders` (orderno → dict), `set_status(orderno, code, title=None,
paytype=None, price=None, returns=None, deliveredto=None)` (`returns`: item extcode →
refused quantity), `fail_next(method, code, level="root"|"child"|"item")` ("item" only
for neworder, editorder and cancelorder), `allow_edit`.

RetailCRM (`RetailcrmEmulator`, serve with base path "")
--------------------------------------------------------
Strict about:
* paths under `/api/v5/`; unknown method → 404 "API method not found" [unsure text];
  wrong HTTP verb → 405 "Method Not Allowed";
* `X-API-KEY` header (or `apiKey` query/form parameter): missing → 403 `"apiKey" is
  missing.`, wrong → 403 `Wrong "apiKey" value.`;
* POST bodies are read only when `application/x-www-form-urlencoded`; other bodies carry
  no parameters, so a JSON body fails with `Parameter 'order' is missing` (400), as it
  would on the real PHP backend. JSON fields (`order`, `payment`) must hold a JSON object;
  otherwise 400 "Errors in the entity format" with `errors`;
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
with `apiKey.current = false` for `other_api_edit` (another integration). Field names
[unsure where the research had none; snake_case like the real feed]:
  status {code}, first_name, last_name, patronymic, phone, additional_phone, email,
  manager_comment, customer_comment, status_comment, external_id, number, order_type
  {code}, order_method {code}, manager {id}, weight, length, width, height, shipped,
  shipment_date, shipment_store {code}; delivery.code → delivery_type {code}, cost →
  delivery_cost, netCost → delivery_net_cost, date → delivery_date, time → delivery_time
  ({from,to}), address → delivery_address (the merged address object), service →
  delivery_service, data → integration_delivery_data; items → order_product (old and new
  item lists; the list replaces all items); customFields.X → X; any other key → its
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

`serve_measoft(port=0)` / `serve_retailcrm(port=0)` return a started `(EmulatorServer, app)`.
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
import xml.etree.ElementTree as ET
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import parse_qs, unquote

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from maorders.emulation import EmulatorApp, EmulatorServer, Request, Response

# ======================================================================== MeaSoft

MAX_XML_BYTES = 10 * 1024 * 1024
MEASOFT_METHODS = ("neworder", "editorder", "statusreq", "commitlaststatus", "cancelorder")
ORDERING_METHODS = ("neworder", "editorder")

# Ordering error codes: English from the wiki table, Russian from MeaSoft's own 2014 class.
ORDER_ERRORS: dict[int, tuple[str, str]] = {
    0: ("OK", "Успешно"),
    1: ("Authorization error", "Ошибка авторизации"),
    2: ("Empty request", "Отправлен пустой запрос"),
    3: ("Order amount is set incorrectly", "Некорректно указана сумма заказа"),
    4: ("Order weight is set incorrectly", "Некорректный общий вес заказа"),
    5: ("Receiver's town not found", "Не найден город получатель"),
    6: ("Sender's town not found", "Не найден город отправитель"),
    7: ("Receiver's address not filled in", "Не заполнен адрес получателя"),
    8: ("Receiver's phone not filled in", "Не заполнен телефон получателя"),
    9: ("Receiver's contact name not filled in", "Не заполнено контактное имя получателя"),
    10: ("Receiver's company name not filled in", "Не заполнено название компании получателя"),
    11: ("Declared value is incorrect", "Некорректная сумма объявленной ценности"),
    12: ("Article number not found", "Артикул не найден"),
    13: ("Sender's company not filled in", "Не заполнено название компании отправителя"),
    14: ("Sender's contact name not filled in", "Не заполнено контактное имя отправителя"),
    15: ("Sender's phone not filled in", "Не заполнен телефон отправителя"),
    16: ("Sender's address not filled in", "Не заполнен адрес отправителя"),
    17: ("Order with this number already exists", "Заказ с таким номером уже существует"),
}
GENERAL_ERRORS: dict[int, tuple[str, str]] = {
    1: ("Invalid XML", "Неверный xml"),
    2: ("Empty request", "Отправлен пустой запрос"),
    11: ("Orders not found", "Заказы не найдены"),
    12: ("Invalid request date and time", "Неверные дата и время запроса"),
    13: ("mysql error", "Ошибка mysql"),
    14: ("Unknown function", "Неизвестная функция"),
    25: ("Authorization error", "Ошибка авторизации"),
    33: ("Connection error", "Ошибка соединения"),
}
CANCEL_ERRORS: dict[int, tuple[str, str]] = {
    0: ("OK", "Успешно"),
    52: ("order not found", "Заказ не найден"),
    53: ("order is in work, cannot be cancelled", "Заказ в работе, отмена невозможна"),
}
STATUS_TITLES = {
    "AWAITING_SYNC": "Ожидание синхронизации", "NEW": "Новый", "NEWPICKUP": "Создан забор",
    "PICKUP": "Забран у отправителя", "ACCEPTED": "Получен складом",
    "CONFIRM": "Согласована доставка", "UNCONFIRM": "Не удалось согласовать доставку",
    "DEPARTURING": "Планируется отправка", "DEPARTURE": "Отправлено со склада",
    "INVENTORY": "Инвентаризация", "PICKUPREADY": "Готов к выдаче",
    "DELIVERY": "Выдан курьеру на доставку", "COURIERDELIVERED": "Доставлен (предварительно)",
    "COURIERRETURN": "Курьер вернул на склад", "DATECHANGE": "Перенос",
    "COMPLETE": "Доставлен", "PARTIALLY": "Доставлен частично",
    "CANCELED": "Не доставлен (Возврат/Отмена)", "RETURNING": "Планируется возврат",
    "RETURNED": "Возвращен",
}
EDIT_ERRORS: dict[int, tuple[str, str]] = {
    52: ("order not found", "Заказ не найден"),
    53: ("order is in work, cannot be changed", "Заказ в работе, изменение невозможно"),
    56: ("editing orders is not allowed", "Изменение заказов не разрешено"),
}
CANCELLED_BY_CUSTOMER = "Отменен заказчиком"
CANCELLABLE = {"NEW", "AWAITING_SYNC"}
DELIVERED = {"COURIERDELIVERED", "COURIERPARTIALLY", "COMPLETE", "PARTIALLY"}
DONE_FILTERS: dict[str, Callable[[str], bool]] = {
    "ONLY_DONE": lambda code: code in {"COMPLETE", "PARTIALLY"},
    "ONLY_NOT_DONE": lambda code: code in {"CANCELED", "LOST"},
    "ONLY_NEW": lambda code: code in {"NEW", "AWAITING_SYNC"},
    "ONLY_DELIVERY": lambda code: code not in {
        "COMPLETE", "PARTIALLY", "CANCELED", "RETURNED", "LOST", "PARTLYRETURNED"},
}
PAYTYPES = {"CASH", "CARD", "NO", "OTHER"}
RECEIVER_FIELDS = ("company", "person", "phone", "zipcode", "town", "address", "pvz",
                   "date", "time_min", "time_max")
SENDER_FIELDS = ("company", "person", "phone", "town", "address", "date", "time_min", "time_max")
_NUMBER = re.compile(r"^\d+(\.\d+)?$")  # non-negative, dot decimals only
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _RequestError(Exception):
    """A whole-request error: answered as attributes on the root element."""

    def __init__(self, root: str | None, code: int, en: str, ru: str) -> None:
        super().__init__(en)
        self.root, self.code, self.en, self.ru = root or "error", code, en, ru

    def xml(self) -> str:
        return _xml_text(ET.Element(self.root, {
            "error": str(self.code), "errormsg": self.en, "errormsgru": self.ru}))


def _general(root: str | None, code: int, en: str | None = None) -> _RequestError:
    default_en, ru = GENERAL_ERRORS[code]
    return _RequestError(root, code, en or default_en, ru)


def _xml_text(element: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element, encoding="unicode")


def _text(parent: ET.Element | None, tag: str) -> str:
    node = parent.find(tag) if parent is not None else None
    return (node.text or "").strip() if node is not None else ""


def _bad_number(text: str) -> bool:
    return bool(text) and not _NUMBER.match(text)


def _num_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _now() -> tuple[str, str]:
    """(local, GMT) timestamps as MeaSoft writes them."""
    stamp = "%Y-%m-%d %H:%M:%S"
    return datetime.now().strftime(stamp), datetime.now(timezone.utc).strftime(stamp)


def _result(tag: str, attrs: dict[str, str], code: int, table: dict[int, tuple[str, str]]
            ) -> ET.Element:
    en, ru = table.get(code, (f"Error {code}", f"Ошибка {code}"))
    return ET.Element(tag, {**attrs, "error": str(code), "errormsg": en, "errormsgru": ru})


class MeasoftEmulator(EmulatorApp):
    """MeaSoft XML API: neworder, statusreq (+ONLY_LAST), commitlaststatus, cancelorder."""

    name = "measoft"

    def __init__(self, extra: str = "8", login: str = "test", password: str = "testm") -> None:
        super().__init__()
        self.extra, self.login, self.password = extra, login, password
        self.orders: dict[str, dict[str, Any]] = {}
        self._seq = 0                  # bumps on every status change; orders keep theirs
        self._next_code = 7000000      # ordercode generator
        self._next_item = 34000        # item code generator (statusreq items/item/@code)
        self.allow_edit = True         # «Разрешить отмену и изменение заказов» in the cabinet
        self._streams: dict[int, dict[str, Any]] = {}
        self._injected: dict[str, tuple[int, str]] = {}

    # -- transport --------------------------------------------------------
    def route(self, request: Request) -> Response:
        if request.path not in ("/api/", "/api"):
            return Response(404, b"Not Found", {"Content-Type": "text/plain"})
        if request.method != "POST":
            return Response(405, b"Method Not Allowed", {"Content-Type": "text/plain"})
        try:
            root = self._parse(request)
            method = root.tag
            if method not in MEASOFT_METHODS:
                raise _general(None, 14)
            self._check_auth(root, method)
            injected = self._take_injected(method, root)
            reply = injected if injected is not None else self._dispatch(method, root)
        except _RequestError as exc:
            return Response.xml(200, exc.xml())
        return Response.xml(200, _xml_text(reply))

    def _parse(self, request: Request) -> ET.Element:
        if len(request.body) > MAX_XML_BYTES:
            raise _general(None, 1, "Request body exceeds 10 MB")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "text/xml":
            raise _general(None, 1, "Content-Type must be text/xml")
        try:
            # forbid_dtd too: a courier API has no use for DTDs, and they are an attack surface
            return SafeET.fromstring(request.body, forbid_dtd=True)
        except (ET.ParseError, DefusedXmlException, ValueError, UnicodeError):
            raise _general(None, 1) from None

    def _check_auth(self, root: ET.Element, method: str) -> None:
        auth = root.find("auth")
        given = (auth.get("extra"), auth.get("login"), auth.get("pass")) if auth is not None else None
        if given != (self.extra, self.login, self.password):
            if method in ORDERING_METHODS:
                raise _RequestError(method, 1, *ORDER_ERRORS[1])
            raise _general(method, 25)

    def _dispatch(self, method: str, root: ET.Element) -> ET.Element:
        handlers = {"neworder": self._neworder, "editorder": self._editorder, "statusreq": self._statusreq,
                    "commitlaststatus": self._commit, "cancelorder": self._cancel}
        return handlers[method](root)

    # -- neworder -----------------------------------------------------------
    def _neworder(self, root: ET.Element) -> ET.Element:
        nodes = root.findall("order")
        if not nodes:
            raise _RequestError("neworder", 2, *ORDER_ERRORS[2])
        results: list[tuple[str, int]] = []
        for node in nodes:
            orderno = (node.get("orderno") or "").strip()
            code = self._order_problem(node, orderno)
            if code == 0:
                self._store_order(node, orderno)
            results.append((orderno, code))
        for _, code in results:
            if code == 0:
                self.effect("order_created")
        reply = ET.Element("neworder")
        for orderno, code in results:
            reply.append(_result("createorder", {"orderno": orderno}, code, ORDER_ERRORS))
        return reply

    def _order_problem(self, node: ET.Element, orderno: str) -> int:
        """The first ordering error code that applies, 0 when the order is acceptable."""
        receiver = node.find("receiver")
        paytype = _text(node, "paytype")
        checks = [
            (2, not orderno),
            (3, _bad_number(_text(node, "price")) or bool(paytype and paytype not in PAYTYPES)),
            (4, _bad_number(_text(node, "weight"))),
            (5, not _text(receiver, "town")),
            (7, not _text(receiver, "address") and not _text(receiver, "pvz")),
            (8, not _text(receiver, "phone")),
            (9, not _text(receiver, "person") and not _text(receiver, "company")),
            (11, _bad_number(_text(node, "inshprice"))),
            (17, orderno in self.orders),
        ]
        return next((code for code, failed in checks if failed), 0)

    def _store_order(self, node: ET.Element, orderno: str) -> dict[str, Any]:
        self._next_code += 1
        receiver_node = node.find("receiver")
        receiver = {tag: _text(receiver_node, tag) for tag in RECEIVER_FIELDS}
        sender_node = node.find("sender")
        paytype = _text(node, "paytype") or "CASH"
        order: dict[str, Any] = {
            "orderno": orderno,
            "ordercode": str(self._next_code),
            "awb": f"MS{self._next_code}",
            "barcode": _text(node, "barcode"),
            "receiver": receiver,
            "sender": ({tag: _text(sender_node, tag) for tag in SENDER_FIELDS}
                       if sender_node is not None else None),
            "paytype": paytype,
            # paytype NO: "price is ignored", the parcel carries no cash on delivery
            "price": "0" if paytype == "NO" else (_text(node, "price") or "0"),
            "deliveryprice": _text(node, "deliveryprice") or "0",
            "inshprice": _text(node, "inshprice"),
            "weight": _text(node, "weight") or "0",
            "quantity": _text(node, "quantity") or "1",
            "service": _text(node, "service"),
            "enclosure": _text(node, "enclosure"),
            "instruction": _text(node, "instruction"),
            "receiverpays": _text(node, "receiverpays") or "NO",
            "items": [_item_dict(item) for item in node.findall("items/item")],
            "date": receiver["date"], "time_min": receiver["time_min"],
            "time_max": receiver["time_max"],
            "created": _now()[0],
            "deliveredto": "", "delivereddate": "", "deliveredtime": "",
            "history": [],
        }
        order["item_codes"] = [self._new_item_code() for _ in order["items"]]
        self.orders[orderno] = order
        self._change_status(order, "NEW", STATUS_TITLES["NEW"])
        return order

    def _new_item_code(self) -> str:
        self._next_item += 1
        return str(self._next_item)

    # -- editorder ----------------------------------------------------------
    def _editorder(self, root: ET.Element) -> ET.Element:
        nodes = root.findall("order")
        if not nodes:
            raise _RequestError("editorder", 2, *ORDER_ERRORS[2])
        results: list[tuple[str, int, dict[int, tuple[str, str]]]] = []
        for node in nodes:
            orderno = (node.get("orderno") or "").strip()
            order = self.orders.get(orderno)
            code, table = self._edit_problem(node, orderno, order), EDIT_ERRORS
            if code in ORDER_ERRORS:
                table = ORDER_ERRORS
            if code == 0:
                self._apply_edit(order, node)
            results.append((orderno, code, table))
        for _, code, _ in results:
            if code == 0:
                self.effect("order_edited")
        reply = ET.Element("editorder")
        for orderno, code, table in results:
            reply.append(_result("createorder", {"orderno": orderno}, code, {**ORDER_ERRORS, **table}))
        return reply

    def _edit_problem(self, node: ET.Element, orderno: str, order: dict[str, Any] | None) -> int:
        if not orderno:
            return 2
        if not self.allow_edit:
            return 56
        if order is None:
            return 52
        if order["status"] not in CANCELLABLE:
            return 53
        code = self._order_problem(node, orderno)
        return 0 if code == 17 else code   # the order exists: that is the point of an edit

    def _apply_edit(self, order: dict[str, Any], node: ET.Element) -> None:
        """The whole order again, as if created anew; items by their `code`: changed, new ones
        added, and those left out kept with quantity 0 (MeaSoft wiki, «Изменение заказа»)."""
        receiver_node = node.find("receiver")
        order["receiver"] = {tag: _text(receiver_node, tag) for tag in RECEIVER_FIELDS}
        paytype = _text(node, "paytype") or "CASH"
        order.update({
            "paytype": paytype,
            "price": "0" if paytype == "NO" else (_text(node, "price") or "0"),
            "deliveryprice": _text(node, "deliveryprice") or "0",
            "inshprice": _text(node, "inshprice"),
            "weight": _text(node, "weight") or "0",
            "quantity": _text(node, "quantity") or "1",
            "instruction": _text(node, "instruction"),
            "date": order["receiver"]["date"], "time_min": order["receiver"]["time_min"],
            "time_max": order["receiver"]["time_max"],
        })
        by_code = dict(zip(order["item_codes"], order["items"]))
        mentioned = set()
        for item_node in node.findall("items/item"):
            code = item_node.get("code", "")
            if code in by_code:
                by_code[code].clear()
                by_code[code].update(_item_dict(item_node))
            else:
                code = self._new_item_code()
                order["items"].append(_item_dict(item_node))
                order["item_codes"].append(code)
            mentioned.add(code)
        for code, item in zip(order["item_codes"], order["items"]):
            if code not in mentioned:
                item["quantity"] = "0"
        order["edits"] = order.get("edits", 0) + 1

    def _change_status(self, order: dict[str, Any], code: str, title: str) -> None:
        local, gmt = _now()
        order["history"].append({"code": code, "title": title, "eventtime": local,
                                 "createtimegmt": gmt, "eventstore": "", "message": ""})
        order["status"], order["status_title"] = code, title
        self._seq += 1
        order["changed"] = self._seq  # visible to every stream whose marker is below this

    # -- statusreq / commitlaststatus -----------------------------------------
    def _statusreq(self, root: ET.Element) -> ET.Element:
        changes = _text(root, "changes")
        if changes and changes != "ONLY_LAST":
            raise _general("statusreq", 1, "changes: only ONLY_LAST is allowed")
        found = self._poll_changes(root) if changes else self._lookup(root)
        reply = ET.Element("statusreq", {"count": str(len(found))})
        for order in found:
            reply.append(self._order_xml(order))
        return reply

    def _stream(self, root: ET.Element, method: str) -> dict[str, Any]:
        text = _text(root, "streamid")
        if not text:
            key = 0
        elif text.isdigit() and 100 <= int(text) <= 10000:
            key = int(text)
        else:
            raise _general(method, 1, "streamid must be an integer 100..10000")
        return self._streams.setdefault(key, {"committed": 0, "snapshot": None, "quick": None})

    def _poll_changes(self, root: ET.Element) -> list[dict[str, Any]]:
        stream = self._stream(root, "statusreq")
        quick = _text(root, "quickstatus") or "YES"
        if quick not in ("YES", "NO"):
            raise _general("statusreq", 1, "quickstatus must be YES or NO")
        if stream["quick"] not in (None, quick):
            stream["committed"] = 0  # mixing YES and NO: everything looks changed again
        stream["quick"] = quick
        stream["snapshot"] = self._seq
        changed = [o for o in self.orders.values() if o["changed"] > stream["committed"]]
        return sorted(changed, key=lambda o: o["changed"])

    def _lookup(self, root: ET.Element) -> list[dict[str, Any]]:
        orderno, ordercode, done = (_text(root, t) for t in ("orderno", "ordercode", "done"))
        datefrom, dateto = _text(root, "datefrom"), _text(root, "dateto")
        if done and done not in DONE_FILTERS:
            raise _general("statusreq", 1, "done: unknown value")
        if any(d and not _DATE.match(d) for d in (datefrom, dateto)):
            raise _general("statusreq", 12)
        found = [
            o for o in self.orders.values()
            if (not orderno or o["orderno"] == orderno)
            and (not ordercode or o["ordercode"] == ordercode)
            and (not done or DONE_FILTERS[done](o["status"]))
            and (not datefrom or o["created"][:10] >= datefrom)
            and (not dateto or o["created"][:10] <= dateto)
        ]
        return sorted(found, key=lambda o: int(o["ordercode"]))

    def _commit(self, root: ET.Element) -> ET.Element:
        stream = self._stream(root, "commitlaststatus")
        if stream["snapshot"] is not None:
            stream["committed"] = max(stream["committed"], stream["snapshot"])
        self.effect("status_committed")
        return ET.Element("commitlaststatus")

    def _order_xml(self, order: dict[str, Any]) -> ET.Element:
        el = ET.Element("order", {"orderno": order["orderno"], "awb": order["awb"],
                                  "orderno2": "", "ordercode": order["ordercode"],
                                  "givencode": ""})
        ET.SubElement(el, "barcode").text = order["barcode"]
        if order["sender"] is not None:
            el.append(_party("sender", order["sender"]))
        el.append(_party("receiver", order["receiver"]))
        for tag in ("weight", "quantity", "paytype", "service", "price", "inshprice",
                    "enclosure", "instruction", "receiverpays"):
            ET.SubElement(el, tag).text = order[tag]
        price = order["deliveryprice"]
        ET.SubElement(el, "deliveryprice", {"total": price, "delivery": price, "return": "0"})
        el.append(_status_xml(order["history"][-1]))
        history = ET.SubElement(el, "statushistory")
        for entry in order["history"]:
            history.append(_status_xml(entry))
        for tag in ("deliveredto", "delivereddate", "deliveredtime"):
            ET.SubElement(el, tag).text = order[tag]
        items = ET.SubElement(el, "items")
        for code, item in zip(order["item_codes"], order["items"]):
            attrs = {"code": code, **{k: v for k, v in item.items() if k not in ("name", "returns")}}
            node = ET.SubElement(items, "item", {**attrs, "returns": item.get("returns", "0")})
            node.text = item["name"]
        return el

    # -- cancelorder ----------------------------------------------------------
    def _cancel(self, root: ET.Element) -> ET.Element:
        nodes = root.findall("order")
        if not nodes:
            raise _general("cancelorder", 2)
        results: list[tuple[dict[str, str], int, bool]] = []
        for node in nodes:
            order = self._find_for_cancel(node.get("orderno", ""), node.get("ordercode", ""))
            attrs = {"orderno": node.get("orderno", ""), "ordercode": node.get("ordercode", "")}
            if order is None:
                results.append((attrs, 52, False))
                continue
            attrs = {"orderno": order["orderno"], "ordercode": order["ordercode"]}
            if order["status"] == "CANCELED" and order["status_title"] == CANCELLED_BY_CUSTOMER:
                results.append((attrs, 0, False))   # repeat of our own cancel: nothing new
            elif order["status"] not in CANCELLABLE:
                results.append((attrs, 53, False))
            else:
                self._cancel_order(order)
                results.append((attrs, 0, True))
        for _, _, applied in results:
            if applied:
                self.effect("order_cancelled")
        reply = ET.Element("cancelorder")
        for attrs, code, _ in results:
            reply.append(_result("order", attrs, code, CANCEL_ERRORS))
        return reply

    def _find_for_cancel(self, orderno: str, ordercode: str) -> dict[str, Any] | None:
        if ordercode:
            order = next((o for o in self.orders.values() if o["ordercode"] == ordercode), None)
            if order is not None and orderno and order["orderno"] != orderno:
                return None
            return order
        return self.orders.get(orderno) if orderno else None

    def _cancel_order(self, order: dict[str, Any]) -> None:
        order["deliveredto"] = CANCELLED_BY_CUSTOMER
        order["delivereddate"] = _now()[0][:10]
        self._change_status(order, "CANCELED", CANCELLED_BY_CUSTOMER)

    # -- injected failures ------------------------------------------------------
    def _take_injected(self, method: str, root: ET.Element) -> ET.Element | None:
        if method not in self._injected:
            return None
        code, level = self._injected.pop(method)
        table = ORDER_ERRORS if method in ORDERING_METHODS else {**GENERAL_ERRORS, **CANCEL_ERRORS}
        en, ru = table.get(code, (f"Error {code}", f"Ошибка {code}"))
        if level == "root":
            raise _RequestError(method, code, en, ru)
        reply = ET.Element(method)
        if level == "child":
            ET.SubElement(reply, "error", {"error": str(code), "errormsg": en, "errormsgru": ru})
            return reply
        tag = "createorder" if method in ORDERING_METHODS else "order"
        for node in root.findall("order"):
            attrs = {"orderno": node.get("orderno", "")}
            if method == "cancelorder":
                attrs["ordercode"] = node.get("ordercode", "")
            reply.append(_result(tag, attrs, code, {code: (en, ru)}))
        return reply

    # -- test helpers -------------------------------------------------------------
    def fail_next(self, method: str, code: int, level: str = "root") -> None:
        """Answer the next `method` call with error `code` at root, child or item level."""
        if method not in MEASOFT_METHODS:
            raise ValueError(f"unknown method {method!r}")
        if level not in ("root", "child", "item"):
            raise ValueError(f"unknown level {level!r}")
        if level == "item" and method not in ("neworder", "editorder", "cancelorder"):
            raise ValueError(f"{method} has no per-item results")
        with self.lock:
            self._injected[method] = (int(code), level)

    def set_status(self, orderno: str, code: str, title: str | None = None,
                   paytype: str | None = None, price: Any = None,
                   returns: dict[str, Any] | None = None,
                   deliveredto: str | None = None) -> dict[str, Any]:
        """Move a parcel as the courier service would; every stream sees the change."""
        with self.lock:
            order = self.orders[orderno]
            if paytype is not None:
                order["paytype"] = paytype
            if price is not None:
                order["price"] = _num_text(price)
            for item in order["items"]:
                if returns and item.get("extcode") in returns:
                    item["returns"] = _num_text(returns[item["extcode"]])
            if deliveredto is None and code in DELIVERED:
                receiver = order["receiver"]
                deliveredto = receiver["person"] or receiver["company"]
            if deliveredto is not None:
                local = _now()[0]
                order["deliveredto"] = deliveredto
                order["delivereddate"], order["deliveredtime"] = local[:10], local[11:16]
            self._change_status(order, code, STATUS_TITLES.get(code, "") if title is None else title)
            return order


def _item_dict(node: ET.Element) -> dict[str, str]:
    """An order item as stored: its attributes (MeaSoft's own `code` kept apart) and name."""
    return dict({k: v for k, v in node.attrib.items() if k != "code"}, name=(node.text or "").strip())


def _party(tag: str, fields: dict[str, str]) -> ET.Element:
    el = ET.Element(tag)
    for name, value in fields.items():
        ET.SubElement(el, name).text = value
    return el


def _status_xml(entry: dict[str, str]) -> ET.Element:
    el = ET.Element("status", {"eventstore": entry["eventstore"], "eventtime": entry["eventtime"],
                               "createtimegmt": entry["createtimegmt"], "title": entry["title"],
                               "message": entry["message"]})
    el.text = entry["code"]
    return el


# ======================================================================== RetailCRM

RATE_LIMIT_HTML = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
).encode()
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
FIELD_NAMES = {
    "firstName": "first_name", "lastName": "last_name", "additionalPhone": "additional_phone",
    "managerComment": "manager_comment", "customerComment": "customer_comment",
    "statusComment": "status_comment", "externalId": "external_id", "orderType": "order_type",
    "orderMethod": "order_method", "managerId": "manager", "shipmentDate": "shipment_date",
    "shipmentStore": "shipment_store", "items": "order_product",
}
CODE_FIELDS = {"status", "orderType", "orderMethod", "shipmentStore"}  # values are {code}
DELIVERY_FIELDS = {"code": "delivery_type", "cost": "delivery_cost",
                   "netCost": "delivery_net_cost", "date": "delivery_date",
                   "time": "delivery_time", "address": "delivery_address",
                   "service": "delivery_service", "data": "integration_delivery_data"}
STRING_FIELDS = {"status", "firstName", "lastName", "patronymic", "phone", "additionalPhone",
                 "email", "managerComment", "customerComment", "statusComment", "externalId",
                 "number", "orderType", "orderMethod"}
PAID_STATUSES = {"paid"}
_STAMP = "%Y-%m-%d %H:%M:%S"


class ApiError(ValueError):
    """A RetailCRM error reply: HTTP status, errorMsg and optional field errors."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


def _entity_error(field: str, message: str) -> ApiError:
    return ApiError(400, "Errors in the entity format", {field: message})


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _stamp() -> str:
    return datetime.now().strftime(_STAMP)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def _int_param(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    if not re.fullmatch(r"\d+", value):
        raise _entity_error(name, "This value should be of type integer.")
    return int(value)


class RetailcrmEmulator(EmulatorApp):
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
        self.max_rps_seen = 0
        self.clock = time.monotonic  # tests freeze it to put many requests in one instant
        self._seen: deque[float] = deque()       # every request that reached the limiter
        self._accepted: deque[float] = deque()   # those let through
        self._ids = {"order": 0, "item": 0, "history": 0, "payment": 0}
        self._fixed_sums: dict[int, set[str]] = {}  # sums create_order was given explicitly

    # -- rate limit ---------------------------------------------------------------
    def rate_limited(self, request: Request) -> Response | None:
        now = self.clock()
        with self.lock:
            for window in (self._seen, self._accepted):
                while window and now - window[0] >= 1.0:
                    window.popleft()
            self._seen.append(now)
            self.max_rps_seen = max(self.max_rps_seen, len(self._seen))
            if len(self._accepted) >= self.rate_limit_rps:
                self.counters["rate_limited"] += 1
                return Response(503, RATE_LIMIT_HTML, {"Content-Type": "text/html"})
            self._accepted.append(now)
        return None

    # -- transport ------------------------------------------------------------------
    def route(self, request: Request) -> Response:
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

    # -- rendering ------------------------------------------------------------------------
    def _render(self, order: dict[str, Any]) -> dict[str, Any]:
        """The order as the API shows it: empty collections become `[]`."""
        shown = copy.deepcopy(order)
        for key in ("payments", "customFields"):
            if not shown.get(key):
                shown[key] = []
        return shown

    @staticmethod
    def _reduced(order: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "externalId", "number", "site", "status")
        return {k: order[k] for k in keys if order.get(k) is not None}

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

    # -- order changes ------------------------------------------------------------------------
    def _apply_changes(self, order: dict[str, Any], changes: dict[str, Any], source: str) -> None:
        """Validate everything first, then apply and record one history entry per field."""
        self._validate_changes(changes)
        entries: list[tuple[str, Any, Any]] = []
        for key, new in changes.items():
            if key == "delivery":
                entries += self._apply_delivery(order, new)
            elif key == "customFields":
                entries += self._apply_custom_fields(order, new)
            elif key == "items":
                old = copy.deepcopy(order.get("items", []))
                order["items"] = self._new_items(new)
                entries.append(("order_product", old, copy.deepcopy(order["items"])))
            elif order.get(key) != new:
                entries.append((FIELD_NAMES.get(key, _snake(key)),
                                _wrap(key, order.get(key)), _wrap(key, new)))
                order[key] = new
        if "status" in changes and any(field == "status" for field, _, _ in entries):
            order["statusUpdatedAt"] = _stamp()
        self._recompute(order)
        for field, old, new in entries:
            self._record(order, field, old, new, source)

    @staticmethod
    def _validate_changes(changes: dict[str, Any]) -> None:
        for key in ("id", "payments", "site"):
            if key in changes:
                raise _entity_error(key, "This field cannot be changed by orders/edit "
                                         "(payments: use orders/payments/*).")
        for key in STRING_FIELDS & changes.keys():
            value = changes[key]
            if key == "status" and not (isinstance(value, str) and value):
                raise _entity_error(key, "This value is not valid.")
            if value is not None and not isinstance(value, str):   # null clears a field
                raise _entity_error(key, "This value is not valid.")
        for key in ("delivery", "customFields"):
            if key in changes and not isinstance(changes[key], dict):
                raise _entity_error(key, "This value should be an object.")
        items = changes.get("items", [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise _entity_error("items", "This value should be a list of objects.")
        address = changes.get("delivery", {}).get("address")
        if address is not None and not isinstance(address, dict):
            raise _entity_error("delivery[address]", "This value should be an object.")

    def _apply_delivery(self, order: dict[str, Any], delivery: dict[str, Any]
                        ) -> list[tuple[str, Any, Any]]:
        current = order.setdefault("delivery", {})
        entries = []
        for key, new in delivery.items():
            old = copy.deepcopy(current.get(key))
            if key == "address":
                new = {**(old or {}), **new}   # a partial address updates its parts
            if old == new:
                continue
            current[key] = new
            field = DELIVERY_FIELDS.get(key, "delivery_" + _snake(key))
            if key == "code":
                old, new = _code(old), _code(new)
            entries.append((field, old, copy.deepcopy(new)))
        return entries

    @staticmethod
    def _apply_custom_fields(order: dict[str, Any], fields: dict[str, Any]
                             ) -> list[tuple[str, Any, Any]]:
        current = order.get("customFields") or {}
        order["customFields"] = current
        entries = []
        for code, new in fields.items():
            if current.get(code) != new:
                entries.append((code, current.get(code), new))
                current[code] = new
        return entries

    def _new_items(self, items: list[Any]) -> list[dict[str, Any]]:
        result = []
        for raw in items:
            if not isinstance(raw, dict):
                raise _entity_error("items", "Each item should be an object.")
            item = copy.deepcopy(raw)
            if "id" not in item:
                self._ids["item"] += 1
                item["id"] = self._ids["item"]
            item.setdefault("quantity", 1)
            item.setdefault("initialPrice", 0)
            result.append(item)
        return result

    def _recompute(self, order: dict[str, Any]) -> None:
        summ = sum(i.get("initialPrice", 0) * i.get("quantity", 1) for i in order.get("items", []))
        sums = {
            "summ": summ,
            "totalSumm": summ + order.get("delivery", {}).get("cost", 0),
            "prepaySum": sum(p["amount"] for p in self.payments.values()
                             if p["order"]["id"] == order["id"] and p["status"] in PAID_STATUSES),
        }
        fixed = self._fixed_sums.get(order["id"], set())
        order.update({k: v for k, v in sums.items() if k not in fixed})

    def _record(self, order: dict[str, Any], field: str, old: Any, new: Any, source: str,
                created: bool = False, payment: dict[str, Any] | None = None,
                current_key: bool = True) -> None:
        self._ids["history"] += 1
        entry: dict[str, Any] = {"id": self._ids["history"], "createdAt": _stamp()}
        if created:
            entry["created"] = True
        entry.update({"source": source, "field": field, "oldValue": copy.deepcopy(old),
                      "newValue": copy.deepcopy(new)})
        if source == "api":
            entry["apiKey"] = {"current": current_key}
        else:
            entry["user"] = {"id": 1}
        if payment is not None:
            entry["payment"] = payment
        entry["order"] = self._render(order) if created else self._reduced(order)
        self.history.append(entry)

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


def _code(value: Any) -> dict[str, Any] | None:
    return None if value is None else {"code": value}


def _wrap(key: str, value: Any) -> Any:
    """History values: dictionary fields as {code}, the manager as {id}, the rest as is."""
    if value is None:
        return None
    if key in CODE_FIELDS:
        return {"code": value}
    if key == "managerId":
        return {"id": value}
    return copy.deepcopy(value)


# ======================================================================== servers

def serve_measoft(port: int = 0) -> tuple[EmulatorServer, MeasoftEmulator]:
    app = MeasoftEmulator()
    return EmulatorServer(app, port=port, base_path="/api/").start(), app


def serve_retailcrm(port: int = 0) -> tuple[EmulatorServer, RetailcrmEmulator]:
    app = RetailcrmEmulator()
    return EmulatorServer(app, port=port, base_path="").start(), app
