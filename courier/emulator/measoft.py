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
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from courier.emulator.measoft_tables import (
    MAX_XML_BYTES, MEASOFT_METHODS, ORDERING_METHODS, ORDER_ERRORS, GENERAL_ERRORS, CANCEL_ERRORS,
    STATUS_TITLES, EDIT_ERRORS, CANCELLED_BY_CUSTOMER, CANCELLABLE, DELIVERED, DONE_FILTERS,
    PAYTYPES, RECEIVER_FIELDS, SENDER_FIELDS,
)
from maorders.emulation import EmulatorApp, Request, Response

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
