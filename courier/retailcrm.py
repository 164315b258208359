"""RetailCRM (Simla) API v5, the wire (shared/research/courier_apis.md, part 2).

- `X-API-KEY` header on every call (registered as a secret: masked in logs and output);
  POST bodies are form fields with JSON strings inside (`order=…`, `payment=…`), `site` sent
  with every write, `by` sent explicitly wherever the API takes it.
- Envelope `{"success": true, …}`; errors `{"success": false, "errorMsg", "errors": {…} or
  […]}` with HTTP ≥ 400 (both shapes shown in the message). A 2xx body that is not the JSON
  envelope (an HTML page from nginx) is a malformed reply: retried, then 75. 503 (RetailCRM's
  answer above 10 requests a second) is transient. Every shape check runs in the parser
  given to `Remote.call`, inside its retries.
- At most 10 requests in any second from this machine, counted from when each reply arrived,
  shared by every process (`maorders.ratelimit.SharedRateLimiter`).
- The history is walked by `filter[sinceId]` alone: since 15.05.2023 RetailCRM answers 400 to
  `sinceId` together with `page` (RetailCRM docs «Working with history API»; api-client-php
  doc/usage/examples/orders_history.md moves sinceId to the last record's id and stops when
  `currentPage >= totalPageCount`; retailcrm/woocommerce-module 9a533b9 dropped `page`).
- An account that does not exist: one refusal (69) naming RETAILCRM_URL, not a refusal per
  order, recognised as each verb really gets it (`account_missing`: a POST gets 405 with an
  HTML page, a GET a 4xx saying "Account does not exist", an HTML page, or a redirect to one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from urllib.parse import quote, urlsplit

import requests

from maorders.errors import PermanentError, RefusedError
from maorders.http import Remote, Retryable, decode_json
from maorders.i18n import _
from maorders.redact import register_secret

RATE_LIMIT = 10  # requests a second per IP (RetailCRM «Правила работы с API»)
PAGE_LIMIT = 100  # the largest page every account accepts (20/50/100)
API = "/api/v5"


MAX_ID = 2 ** 63 - 1  # SQLite's INTEGER: an id beyond it cannot be journalled


@dataclass(frozen=True)
class HistoryPage:
    records: list[dict[str, Any]]
    more: bool  # pagination says there are records after these
    # records left out, one line each for a person: a bad record must not stop sinceId from
    # advancing forever (reported against RetailCRM's own module: retailcrm/bitrix-module #81)
    rejected: tuple[str, ...] = ()
    last_id: int | None = None  # the last record's id, rejected ones included: the next sinceId


class RetailcrmClient:
    def __init__(self, remote: Remote, api_key: str, site: str):
        register_secret(api_key)
        remote.session.headers["X-API-KEY"] = api_key
        self.remote = remote
        self.site = site

    # -- reads -----------------------------------------------------------------------------
    def history(self, since_id: int, start_date: str | None = None) -> HistoryPage:
        """Order changes after `since_id`, ascending, up to 100; never with `page` (a 400).

        `start_date` ("Y-m-d H:i:s") instead of `since_id` for the first read, before any id is known.
        """
        where = ("filter[startDate]", start_date) if start_date else ("filter[sinceId]", since_id)
        return self._get("/orders/history", [where, ("limit", PAGE_LIMIT)], "orders history", history_page)

    def orders(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Current orders by id, 100 to a call (`GET /orders?filter[ids][]=…`)."""
        wanted = sorted(set(ids))
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(wanted), PAGE_LIMIT):
            chunk = wanted[start:start + PAGE_LIMIT]
            params = [("filter[ids][]", i) for i in chunk] + [("limit", PAGE_LIMIT), ("page", 1)]
            for order in self._get("/orders", params, "orders", lambda reply: _list(reply, "orders", "orders")):
                if isinstance(order.get("id"), int):
                    found[order["id"]] = order
        return found

    def order(self, order_id: int) -> dict[str, Any]:
        return self._get(f"/orders/{order_id}", [("by", "id"), ("site", self.site)], "order",
                         lambda reply: _object(reply, "order", "order"))

    # -- writes ----------------------------------------------------------------------------
    def edit_order(self, order_id: int, changes: dict[str, Any]) -> None:
        """Only the fields in `changes` change (RetailCRM edits partially)."""
        self._post(f"/orders/{order_id}/edit", {"by": "id", "site": self.site, "order": _json(changes)},
                   "order edit")

    def create_payment(self, order_id: int, fields: dict[str, Any]) -> int:
        return self._post("/orders/payments/create",
                          {"site": self.site, "payment": _json({**fields, "order": {"id": order_id}})},
                          "payment create", _new_id)

    def edit_payment(self, ident: str, by: str, fields: dict[str, Any]) -> None:
        self._post(f"/orders/payments/{quote(ident, safe='')}/edit",
                   {"by": by, "site": self.site, "payment": _json(fields)}, "payment edit")

    def delete_payment(self, payment_id: str) -> None:
        self._post(f"/orders/payments/{quote(payment_id, safe='')}/delete", {}, "payment delete")

    # -- transport -------------------------------------------------------------------------
    # Every check of a reply's shape runs in the parser given to `Remote.call`, inside its retry
    # loop: a reply without what it must carry is a malformed reply (retried, then 75), never a
    # stray Retryable after the call (exit 1). 4xx bodies are read here too (`accept`), to tell
    # an unknown account from a refusal of one request.
    def _get(self, path: str, params: list[tuple[str, Any]], what: str,
             read: Callable[[dict[str, Any]], Any] = lambda reply: reply) -> Any:
        return self.remote.call("GET", API + path, safe=True, params=params, accept=CLIENT_ERRORS,
                                parse=lambda r: read(self._reply(r, what)))

    def _post(self, path: str, form: dict[str, str], what: str,
              read: Callable[[dict[str, Any]], Any] = lambda reply: reply) -> Any:
        # Every write here is safe to repeat: edits set the same values again, our payment is
        # keyed by its externalId (a repeat is refused as a duplicate and then found), and a
        # repeated delete finds nothing to delete (404), which the caller takes as done.
        return self.remote.call("POST", API + path, safe=True, data=form, accept=CLIENT_ERRORS,
                                parse=lambda r: read(self._reply(r, what)))

    def _reply(self, response: requests.Response, what: str) -> dict[str, Any]:
        if account_missing(response, self._api_root):
            raise RefusedError(_("retailcrm: no RetailCRM account answers at {url} ({why}); check RETAILCRM_URL")
                               .format(url=self.remote.base_url, why=_account_evidence(response)))
        return envelope(response, what)

    @property
    def _api_root(self) -> str:
        return urlsplit(self.remote.base_url).path.rstrip("/") + API


# A 4xx whose body we read ourselves; 401/403 (refusals), 408/429 (retried) stay the kernel's.
CLIENT_ERRORS = tuple(status for status in range(400, 500) if status not in (401, 403, 408, 429))
ACCOUNT_MISSING = b"Account does not exist"


def account_missing(response: requests.Response, api_root: str) -> bool:
    """Whether a reply says the URL names no RetailCRM account, as each verb really gets it.

    - Any verb, 405: api-client-php `AccountNotFoundHandler` (405 with text/html, for non-GET
      requests); our client never uses a wrong verb, so every 405 means the URL.
    - GET never gets that 405 (the handler skips GET: api-client-php 91b5666 "it'll be handled
      by the default error handler"): it gets a 4xx error whose `errorMsg` is "Account does not
      exist." (`ApiExceptionFactory` maps it to `AccountDoesNotExistException`; the v5 client,
      lib/RetailCrm/Http/Client.php 75b70be, looked for that text in a 404), or an HTML page
      (api-client-go `error.go` `CreateAPIError`: a 4xx body starting with "<" is
      `ErrAccountDoesNotExist`), or a redirect out of the API to a page (a same-origin one is
      followed by the kernel: the final reply is HTML from outside `/api/v5`).
    """
    status, body = response.status_code, response.content[:4096].lstrip()
    if status == 405:
        return True
    if (response.request.method if response.request is not None else "GET") != "GET":
        return False
    html = body[:1] == b"<"
    if 400 <= status < 500 and (html or ACCOUNT_MISSING in body):
        return True
    return html and not urlsplit(response.url or "").path.startswith(api_root)


def _account_evidence(response: requests.Response) -> str:
    if response.status_code < 400:
        return _("redirected to a page instead of the API")
    if response.content.lstrip()[:1] == b"<":
        return _("{status} with an HTML page").format(status=response.status_code)
    return _("{status}: account does not exist").format(status=response.status_code)


def envelope(response: requests.Response, what: str) -> dict[str, Any]:
    """The JSON envelope of a reply: a 2xx without it is malformed (retried); a 4xx, or
    `success: false`, is a refusal of this request, with RetailCRM's words."""
    failed = response.status_code >= 400
    body = response.content.lstrip()
    reply: Any = None
    if body[:1] != b"<":
        try:
            reply = decode_json(body)
        except ValueError:  # not JSON: NaN, `[[[[…` nested past the decoder's depth, a bad byte
            reply = None
    if not isinstance(reply, dict) or not isinstance(reply.get("success"), bool):
        if failed:
            raise PermanentError(f"retailcrm: {what}: {response.status_code} {_shown_body(response)}",
                                 status=response.status_code)
        kind = "HTML instead of JSON" if body[:1] == b"<" else "not JSON" if reply is None else "no success flag"
        raise Retryable(f"malformed {what} reply: {kind} ({len(response.content)} bytes)")
    if failed or not reply["success"]:
        raise PermanentError(f"retailcrm: {what}: {error_words(reply)}", status=response.status_code)
    return reply


def _shown_body(response: requests.Response) -> str:
    return " ".join(response.content[:400].decode("utf-8", "replace").split())[:200] or response.reason or "no body"


def error_words(reply: dict[str, Any]) -> str:
    """errorMsg and errors, whether `errors` is an object or a list."""
    parts = [str(reply.get("errorMsg") or "refused")]
    errors = reply.get("errors")
    if isinstance(errors, dict):
        parts += [f"{k}: {v}" for k, v in errors.items()]
    elif isinstance(errors, list):
        parts += [str(e) for e in errors]
    return " — ".join(parts)


def history_page(reply: dict[str, Any]) -> HistoryPage:
    """One history page read from its envelope: records with a usable order id, the others
    named for a person; the frame (ids, pagination) must be whole, else the reply is malformed."""
    records, rejected = [], []
    for record in _list(reply, "history", "orders history"):
        if not _valid_id(record.get("id")):  # the cursor itself: nothing to advance to
            raise Retryable("malformed orders history: a record without a valid integer id")
        order = record.get("order")
        if not isinstance(order, dict) or not _valid_id(order.get("id")):
            shown = str(order.get("id"))[:30] if isinstance(order, dict) else type(order).__name__
            rejected.append(_("CRM change {id}: no valid order id ({value}); skipped").format(id=record["id"],
                                                                                             value=repr(shown)))
            continue
        records.append(record)
    pagination = reply.get("pagination")
    if not isinstance(pagination, dict):
        raise Retryable("malformed orders history: no pagination")
    more = _int(pagination.get("totalPageCount")) > _int(pagination.get("currentPage"))
    last = max((r["id"] for r in reply["history"]), default=None)
    return HistoryPage(sorted(records, key=lambda r: r["id"]), more and last is not None, tuple(rejected), last)


def _list(reply: dict[str, Any], key: str, what: str) -> list[dict[str, Any]]:
    value = reply.get(key)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise Retryable(f"malformed {what} reply: {key!r} is not a list of objects")
    return value


def _object(reply: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    if not isinstance(reply.get(key), dict):
        raise Retryable(f"malformed {what} reply: no {key}")
    return reply[key]


def _new_id(reply: dict[str, Any]) -> int:
    if not _valid_id(reply.get("id")):
        raise Retryable("malformed payment create reply: no id")
    return reply["id"]


def _valid_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
