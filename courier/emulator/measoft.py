"""The MeaSoft «Курьерская служба 2008» XML API emulator (serve under base path "/api/").

Follows shared/protocols/public-apis.md and, in detail, shared/research/courier_apis.md and
real_services.md. Strict wherever the real service is known to be strict, so a client that
passes against it has a fair chance against the real thing. Faults (500, 429, delay, drops,
malformed bodies) come from the kernel's `maorders.emulation.EmulatorApp`.

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
* `paytype` only CASH, CARD, NO, OTHER (OPTION "cannot be sent");
* fair usage (wiki, API Documentation, «Fair Usage Policy», rev. 11186): more than 150
  requests in any 60 s or 1,500 in any 20 minutes from the IP blocks it for
  `block_seconds` (3 hours); while blocked every request answers HTTP 403 (how the real
  block answers is not documented). `most_per_minute` is the most requests seen in any 60 s;
* order numbers are unique within a calendar year only (wiki rev. 12446/12453): orders of
  past years (`archive`, see `foreign_order(created=…)`) do not block a number, yet lookups
  and ONLY_LAST polls show them; `hide_phones` leaves the receiver's phone out of replies;
* an item's `retprice` is a dot-decimal number, negative only on a prepayment (type 4) or
  credit (type 6) line (semivan `CreateOrderItem` types) → else error 3 [inferred].

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
for neworder, editorder and cancelorder), `allow_edit`, `proxy_answers(status, times)` (a
whole-request HTTP 4xx from a proxy in front, never from MeaSoft itself).
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from typing import Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from courier.emulator.measoft_tables import (
    FAIR_USAGE, MAX_XML_BYTES, MEASOFT_METHODS, ORDERING_METHODS, ORDER_ERRORS, GENERAL_ERRORS, CANCEL_ERRORS,
    STATUS_TITLES, EDIT_ERRORS, CANCELLED_BY_CUSTOMER, CANCELLABLE, DONE_FILTERS,
    PAYTYPES, RECEIVER_FIELDS, SENDER_FIELDS,
)
from courier.emulator.measoft_helpers import MeasoftHelpers
from courier.emulator.measoft_tables import now as _now
from maorders.emulation import EmulatorApp, Request, Response, SlidingWindow

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


PROXY_REASONS = {400: "Bad Request", 404: "Not Found", 405: "Not Allowed", 410: "Gone",
                 413: "Request Entity Too Large", 414: "Request-URI Too Large", 421: "Misdirected Request"}


def _nginx_page(title: str) -> bytes:
    """The page nginx answers an error with (its built-in error pages)."""
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n").encode()






def _result(tag: str, attrs: dict[str, str], code: int, table: dict[int, tuple[str, str]]
            ) -> ET.Element:
    en, ru = table.get(code, (f"Error {code}", f"Ошибка {code}"))
    return ET.Element(tag, {**attrs, "error": str(code), "errormsg": en, "errormsgru": ru})


class MeasoftEmulator(MeasoftHelpers, EmulatorApp):
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
        # orders of past years: their numbers may be used again (unique within a year only:
        # wiki rev. 12446/12453), yet lookups and ONLY_LAST polls still show them
        self.archive: list[dict[str, Any]] = []
        self.hide_phones = False       # replies without the receiver's phone (the docs promise none)
        self.proxy_status, self.proxy_left = 0, 0  # `proxy_answers()`: a proxy's 4xx for whole requests
        # fair usage per IP (wiki «Fair Usage Policy», rev. 11186): (requests, seconds) windows;
        # over any of them the IP is blocked for up to 3 hours. Every request counts.
        self.clock = time.monotonic
        self.block_seconds = 3 * 3600.0
        self.blocked_until = 0.0
        self.fair_usage = [SlidingWindow(seconds, limit, counts_refused=True) for limit, seconds in FAIR_USAGE]

    # -- fair usage ---------------------------------------------------------
    def rate_limited(self, request: Request) -> Response | None:
        """Over 150 a minute or 1,500 in 20 minutes the IP is blocked (wiki «Fair Usage
        Policy»). How a block answers is not documented: here 403 and a plain-text reason."""
        with self.lock:
            now = self.clock()
            within = all([window.admit(now) for window in self.fair_usage])  # every window counts it
            if not within and now >= self.blocked_until:
                self.blocked_until = now + self.block_seconds
                self.counters["fair_usage_blocks"] += 1
            if now < self.blocked_until:
                self.counters["fair_usage_refused"] += 1
                return Response(403, b"IP blocked for exceeding the API fair usage limits",
                                {"Content-Type": "text/plain; charset=utf-8"})
        return None

    @property
    def most_per_minute(self) -> int:
        """The most requests seen in any 60 s: what the fair-usage policy counts first."""
        return self.fair_usage[0].most

    # -- transport --------------------------------------------------------
    def route(self, request: Request) -> Response:
        if self.proxy_left:  # `proxy_answers()`: a proxy's whole-request 4xx, before MeaSoft sees it
            self.proxy_left -= 1
            self.counters["proxy_refused"] += 1
            title = f"{self.proxy_status} {PROXY_REASONS.get(self.proxy_status, 'Error')}"
            return Response(self.proxy_status, _nginx_page(title), {"Content-Type": "text/html"})
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
            (3, any(_bad_item_price(item) for item in node.findall("items/item"))),
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
            **_parcel(node, paytype),
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
        order.update({
            **_parcel(node, _text(node, "paytype") or "CASH"),
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
        changed = [o for o in self._every_order() if o["changed"] > stream["committed"]]
        return sorted(changed, key=lambda o: o["changed"])

    def _lookup(self, root: ET.Element) -> list[dict[str, Any]]:
        orderno, ordercode, done = (_text(root, t) for t in ("orderno", "ordercode", "done"))
        datefrom, dateto = _text(root, "datefrom"), _text(root, "dateto")
        if done and done not in DONE_FILTERS:
            raise _general("statusreq", 1, "done: unknown value")
        if any(d and not _DATE.match(d) for d in (datefrom, dateto)):
            raise _general("statusreq", 12)
        found = [
            o for o in self._every_order()
            if (not orderno or o["orderno"] == orderno)
            and (not ordercode or o["ordercode"] == ordercode)
            and (not done or DONE_FILTERS[done](o["status"]))
            and (not datefrom or o["created"][:10] >= datefrom)
            and (not dateto or o["created"][:10] <= dateto)
        ]
        return sorted(found, key=lambda o: int(o["ordercode"]))

    def _every_order(self) -> list[dict[str, Any]]:
        return [*self.archive, *self.orders.values()]

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
        receiver = dict(order["receiver"])
        if self.hide_phones:
            receiver.pop("phone", None)
        el.append(_party("receiver", receiver))
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


def _bad_item_price(item: ET.Element) -> bool:
    """An item's retprice is a dot-decimal number; negative only for a prepayment (type 4) or
    credit (type 6) line, whose sum is taken off (semivan/measoft-api-client CreateOrderItem:
    «4 - Предоплата (сумма)», «6 - Оплата кредитом (сумма)») [inferred: the code is a guess]."""
    price = (item.get("retprice") or "").strip()
    if price.startswith("-") and item.get("type") in ("4", "6"):
        price = price[1:]
    return _bad_number(price)


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


def _parcel(node: ET.Element, paytype: str) -> dict[str, str]:
    """What an order says of its money and its parcel, alike in neworder and editorder."""
    return {
        "paytype": paytype,
        # paytype NO: "price is ignored", the parcel carries no cash on delivery
        "price": "0" if paytype == "NO" else (_text(node, "price") or "0"),
        "deliveryprice": _text(node, "deliveryprice") or "0",
        "inshprice": _text(node, "inshprice"),
        "weight": _text(node, "weight") or "0",
        "quantity": _text(node, "quantity") or "1",
    }
