"""MeaSoft «Курьерская служба 2008» XML API, the wire (shared/research/courier_apis.md, part 1).

One URL, POST, a raw XML body (`text/xml; charset=utf-8`); the root element names the method
and carries `<auth extra login pass/>`. Knows nothing of the journal: it takes and returns
plain data.

- XML is built with xml.etree (every text and attribute escaped) and parsed with defusedxml,
  DTDs forbidden: a reply with entities, a truncated or a huge reply is a malformed reply
  (`Retryable`, then exit 75), never a crash and never a silent default.
- MeaSoft reports errors three ways, all treated: an `error` attribute on the root, `<error>`
  children, and per-item `error` on each result. Request-level: authorization (1 on ordering
  methods, 25 elsewhere) is a refusal (69); mysql (13) and connection (33) errors are
  transient; any other is a refusal of that request. Per-item errors come back as results.
- `neworder` is not safe to repeat blindly: a repeat answers error 17 (order exists). The
  caller treats 17 as "already sent" and reads the order back before accepting it.
- Fair usage (MeaSoft wiki, API Documentation, «Fair Usage Policy», rev. 11186): at most 150
  requests a minute and 1,500 in 20 minutes from one IP, or the IP is blocked for up to 3
  hours; mass per-number status queries count as abuse. So several orders go in one
  `neworder` (wiki «Creating Order»; semivan/measoft-api-client `CreateOrderOperation`), many
  orders are looked up with one `statusreq` by date range, and every call is paced
  machine-wide (`FAIR_USAGE`, `maorders.ratelimit`).
- Replies the docs do not describe are read tolerantly: `commitlaststatus` succeeds on any
  reply without an error (its root is not documented: research 1.5); an `<order>` without
  `orderno` or status in a statusreq reply is logged and skipped, never a reason to fail.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from maorders.errors import ConfigError, PermanentError, RefusedError, TransientError
from maorders.http import Remote, Retryable
from maorders.i18n import _

log = logging.getLogger("courier")

CONTENT_TYPE = "text/xml; charset=utf-8"
# (requests, seconds): MeaSoft wiki «Fair Usage Policy» (rev. 11186, 2020-12-11): 150 a minute
# and 1,500 in 20 minutes per IP, 3,000 an hour per account (this machine's calls are one account)
FAIR_USAGE = ((150, 60.0), (1500, 1200.0), (3000, 3600.0))
MAX_REPLY_BYTES = 32 * 1024 * 1024  # 500 changed orders are ~1 MB; far more is not a reply
QUICKSTATUS = "NO"  # fixed: mixing YES and NO on one stream resends everything (research 1.4)
ORDER_EXISTS = 17
NOT_FOUND = 52
ORDERS_NOT_FOUND = 11  # general table: a lookup that finds nothing may answer this
TRANSIENT = {13: "mysql error", 33: "connection error"}  # the general table (wiki «API»)
ORDERING_METHODS = ("neworder", "editorder")
RECEIVER_TAGS = ("company", "person", "phone", "zipcode", "town", "address", "date", "time_min", "time_max")
ORDER_TAGS = ("weight", "quantity", "paytype", "price", "deliveryprice", "inshprice", "instruction")
ITEM_ATTRIBUTES = ("code", "extcode", "type", "quantity", "mass", "retprice", "VATrate")


class MeasoftRefused(PermanentError):
    """MeaSoft refused a whole request (a request-level error other than auth/transient);
    `code` holds MeaSoft's error number as text."""


@dataclass(frozen=True)
class ItemResult:
    """MeaSoft's answer for one order of a neworder/editorder/cancelorder request."""

    orderno: str
    code: int
    message: str

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass(frozen=True)
class ParcelItem:
    code: str
    extcode: str
    quantity: str
    returns: str
    name: str


@dataclass(frozen=True)
class Parcel:
    """One order as `statusreq` shows it: its ids, the latest status, payment, items."""

    orderno: str
    ordercode: str
    awb: str
    status: str
    title: str
    eventtime: str
    paytype: str
    price: str
    delivereddate: str
    deliveredtime: str
    items: tuple[ParcelItem, ...] = field(default=())
    phone: str = field(default="", repr=False)  # the receiver's: personal data, never logged
    created: str = ""  # the first status's eventtime (YYYY-MM-DD …); "" when the reply has none

    @property
    def event_key(self) -> str:
        """A status as an event: the same code twice (e.g. two DATECHANGE) are two events."""
        return f"{self.status}@{self.eventtime}"


class MeasoftClient:
    def __init__(self, remote: Remote, login: str, password: str, extra: str, stream_id: int | None = None):
        self.remote = remote
        self.auth = {"extra": extra, "login": login, "pass": password}
        self.stream_id = stream_id

    # -- orders ------------------------------------------------------------------------
    def create_order(self, order: dict[str, Any]) -> ItemResult:
        """`neworder` for one order; error 17 comes back as a result, for the caller to check."""
        return self.create_orders([order])[order["orderno"]]

    def create_orders(self, orders: list[dict[str, Any]]) -> dict[str, ItemResult]:
        """One `neworder` with several `<order>`; one result per orderno (MeaSoft answers one
        `createorder` each, with its own error: wiki «Creating Order»)."""
        ordernos = [order["orderno"] for order in orders]
        return self._request("neworder", [order_element(order) for order in orders],
                             then=lambda root: _results(root, "neworder", ordernos))

    def edit_order(self, order: dict[str, Any], item_codes: dict[str, str]) -> ItemResult:
        """`editorder`: the whole order again, as if created anew; items carry MeaSoft's own
        `code` (from statusreq) so they are changed, not added; an item left out is kept by
        MeaSoft with quantity 0 (MeaSoft wiki, «Изменение заказа», 2021–2022)."""
        return self._request("editorder", [order_element(order, item_codes, edit=True)],
                             then=lambda root: _results(root, "editorder", [order["orderno"]])[order["orderno"]])

    def cancel_order(self, orderno: str) -> ItemResult:
        return self._request("cancelorder", [ET.Element("order", {"orderno": orderno, "ordercode": ""})],
                             then=lambda root: _results(root, "cancelorder", [orderno])[orderno])

    # -- statuses ----------------------------------------------------------------------
    def find(self, orderno: str) -> Parcel | None:
        """The newest order with this number, or None (statusreq by orderno)."""
        found = self.lookup(orderno)
        return max(found, key=lambda p: p.created) if found else None

    def lookup(self, orderno: str) -> list[Parcel]:
        """Every order with this number: numbers are unique only within a calendar year (wiki
        rev. 12446/12453), so last year's order may answer too."""
        return [p for p in self._search(_elements([("orderno", orderno)])) if p.orderno == orderno]

    def created_between(self, datefrom: str, dateto: str) -> list[Parcel]:
        """Every order created in the date range (YYYY-MM-DD): one request for many orders,
        where per-number queries would be the abuse the fair-usage policy names."""
        return self._search(_elements([("datefrom", datefrom), ("dateto", dateto)]))

    def _search(self, children: list[ET.Element]) -> list[Parcel]:
        try:
            root = self._request("statusreq", children)
        except MeasoftRefused as exc:
            if exc.code == str(ORDERS_NOT_FOUND):
                return []
            raise
        return _parcels(root)

    def changed(self) -> list[Parcel]:
        """Orders whose status changed since the last commit (ONLY_LAST): the same set again
        until `commit()`."""
        return _parcels(self._request("statusreq", self._stream([("changes", "ONLY_LAST"),
                                                                 ("quickstatus", QUICKSTATUS)])))

    def commit(self) -> None:
        """commitlaststatus: MeaSoft stops resending what the last ONLY_LAST poll returned."""
        self._request("commitlaststatus", self._stream([]))

    def _stream(self, pairs: list[tuple[str, str]]) -> list[ET.Element]:
        """The ONLY_LAST poll and its commit name our stream (MEASOFT_STREAM_ID), if any."""
        if self.stream_id is not None:
            pairs = [*pairs, ("streamid", str(self.stream_id))]
        return _elements(pairs)

    # -- transport ---------------------------------------------------------------------
    def _request(self, method: str, children: Iterable[ET.Element],
                 then: Callable[[ET.Element], Any] | None = None) -> Any:
        """The reply's root, or `then(root)`: read inside the retry loop, so a reply without
        the results it must carry is a malformed reply (retried, then 75), never a crash."""
        root = ET.Element(method)
        ET.SubElement(root, "auth", self.auth)
        root.extend(children)
        body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8",
                                                                         xml_declaration=False)
        # Every method is safe to repeat here: reads and commit trivially; neworder because a
        # repeat answers 17, which the caller recognises; editorder and cancelorder carry the
        # whole intent (a repeat sets the same data / finds the order already cancelled).
        read = then or (lambda root: root)
        try:
            return self.remote.call("POST", "/", safe=True, parse=lambda r: read(parse_reply(r.content, method)),
                                    data=body, headers={"Content-Type": CONTENT_TYPE})
        except MeasoftRefused:
            raise
        except PermanentError as exc:  # an HTTP 4xx: no MeaSoft reply at all
            raise http_failure(method, exc, self.remote.base_url) from None


def http_failure(method: str, exc: PermanentError, url: str) -> Exception:
    """A whole-request HTTP 4xx is the service failing, never a refusal of the orders in it.

    MeaSoft answers 200 for every error of its own (per order, or on the root); a 4xx comes
    from a wrong path or a proxy in front of it. semivan/measoft-api-client `src/Api.php`
    (`request()`: any status other than 200 is a failed request with no XML, hence no
    per-order result) reads it the same way. So the orders stay queued: 404/405/410 mean
    MEASOFT_URL names no MeaSoft API (78), any other 4xx is temporary (75)."""
    if exc.status in (404, 405, 410):
        return ConfigError(_("measoft: {method}: HTTP {status}: no MeaSoft API at {url}; check MEASOFT_URL")
                           .format(method=method, status=exc.status, url=url))
    return TransientError(_("measoft: {method}: HTTP {status} instead of MeaSoft's reply (a proxy or the "
                            "service failing); the orders stay queued: {error}")
                          .format(method=method, status=exc.status, error=str(exc)[:200]))


# ---------------------------------------------------------------------- building XML
def order_element(order: dict[str, Any], item_codes: dict[str, str] | None = None,
                  edit: bool = False) -> ET.Element:
    """`<order orderno=…>` from the plain order `courier.sync.measoft_order` builds."""
    element = ET.Element("order", {"orderno": order["orderno"]})
    receiver = ET.SubElement(element, "receiver")
    for tag in RECEIVER_TAGS:
        _child(receiver, tag, order["receiver"].get(tag))
    for tag in ORDER_TAGS:
        _child(element, tag, order.get(tag))
    items = ET.SubElement(element, "items")
    for item in order.get("items", []):
        attributes = dict(item)
        name = attributes.pop("name", "")
        if edit and item_codes and item.get("extcode") in item_codes:
            attributes["code"] = item_codes[item["extcode"]]
        node = ET.SubElement(items, "item", {k: str(attributes[k]) for k in ITEM_ATTRIBUTES if attributes.get(k)})
        node.text = name
    if order.get("packages"):
        packages = ET.SubElement(element, "packages")
        for package in order["packages"]:
            ET.SubElement(packages, "package", {k: str(v) for k, v in package.items() if v})
    return element


def _elements(pairs: list[tuple[str, str]]) -> list[ET.Element]:
    elements = []
    for tag, text in pairs:
        element = ET.Element(tag)
        element.text = text
        elements.append(element)
    return elements


def _child(parent: ET.Element, tag: str, text: Any) -> None:
    if text not in (None, ""):
        ET.SubElement(parent, tag).text = str(text)


# ---------------------------------------------------------------------- parsing replies
def parse_reply(content: bytes, method: str) -> ET.Element:
    """The reply's root, after every request-level error form is checked."""
    if len(content) > MAX_REPLY_BYTES:
        raise Retryable(f"malformed reply to {method}: {len(content)} bytes, more than any reply should be")
    try:
        root = SafeET.fromstring(content, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise Retryable(f"malformed reply to {method}: forbidden XML ({type(exc).__name__})") from None
    except (ET.ParseError, ValueError, UnicodeError) as exc:
        raise Retryable(f"malformed reply to {method}: not XML ({exc})") from None
    if root.tag not in (method, "error") and method != "commitlaststatus":
        # commitlaststatus: its reply's root is documented nowhere (research 1.5); any reply
        # without an error counts as done, as in semivan's CommitLastStatusOperation
        raise Retryable(f"malformed reply to {method}: root element <{root.tag[:40]}>")
    if root.get("error", "0") != "0" or root.tag == "error":
        raise request_error(method, root)
    for child in root.findall("error"):
        raise request_error(method, child)
    return root


def request_error(method: str, element: ET.Element) -> Exception:
    """The exception for a whole-request error, by its code."""
    code = _code(element.get("error"))
    message = _message(element) or (f"XML syntax error: {element.text.strip()}" if (element.text or "").strip()
                                     else "no message")
    text = f"measoft: {method}: error {code}: {message}"
    if code == 25 or (code == 1 and method in ORDERING_METHODS and element.tag != "error"):
        return RefusedError(f"{text}; check MEASOFT_LOGIN, MEASOFT_PASSWORD and MEASOFT_EXTRA")
    if code in TRANSIENT:
        return Retryable(f"error {code}: {message}")
    return MeasoftRefused(text, code=str(code))


def _results(root: ET.Element, method: str, ordernos: list[str]) -> dict[str, ItemResult]:
    """orderno → its result. Matched by orderno; a result without one is matched by its place
    when the reply has exactly one result per order (MeaSoft answers them in order)."""
    results = [_result(node) for node in root if node.tag != "error" and node.get("error") is not None]
    by_number = {r.orderno: r for r in results if r.orderno}
    found = {}
    for place, orderno in enumerate(ordernos):
        result = by_number.get(orderno)
        if result is None and len(results) == len(ordernos) and (len(ordernos) == 1 or not results[place].orderno):
            result = results[place]
        if result is None:
            raise Retryable(f"malformed reply to {method}: no result for order {orderno}")
        found[orderno] = ItemResult(orderno, result.code, result.message)
    return found


def _result(node: ET.Element) -> ItemResult:
    return ItemResult(node.get("orderno", ""), _code(node.get("error")), _message(node))


def _message(node: ET.Element) -> str:
    english, russian = node.get("errormsg", ""), node.get("errormsgru", "")
    if english and russian and english != russian:
        return f"{english} ({russian})"
    return english or russian


def _code(text: str | None) -> int:
    try:
        return int((text or "0").strip())
    except ValueError:
        raise Retryable(f"malformed reply: error code {text!r} is not a number") from None


def _parcels(root: ET.Element) -> list[Parcel]:
    parcels = []
    for node in root.findall("order"):
        parcel = _parcel(node)
        if parcel is None:
            # not one we could have sent (ours always have both): logged, skipped, never a
            # reason to fail the poll forever (MeaSoft's own module skips what it does not know)
            log.warning("measoft: statusreq: skipped an <order> without orderno or status (ordercode %r)",
                        node.get("ordercode", "")[:20])
            continue
        parcels.append(parcel)
    return parcels


def _parcel(node: ET.Element) -> Parcel | None:
    orderno = node.get("orderno", "").strip()
    status = node.find("status")
    code = (status.text or "").strip() if status is not None else ""
    if not orderno or not code or status is None:
        return None
    items = tuple(ParcelItem(item.get("code", ""), item.get("extcode", ""), item.get("quantity", ""),
                             item.get("returns", "0"), (item.text or "").strip())
                  for item in node.findall("items/item"))
    return Parcel(orderno, node.get("ordercode", ""), node.get("awb", ""), code, status.get("title", ""),
                  status.get("eventtime", ""), _text(node, "paytype"), _text(node, "price"),
                  _text(node, "delivereddate"), _text(node, "deliveredtime"), items,
                  (node.findtext("receiver/phone") or "").strip(), _created(node))


def _created(node: ET.Element) -> str:
    """When the order was made: its first status in the history; "" when the reply has none."""
    first = node.find("statushistory/status")
    return (first.get("eventtime") or "").strip() if first is not None else ""


def _text(node: ET.Element, tag: str) -> str:
    return (node.findtext(tag) or "").strip()
