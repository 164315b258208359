"""RetailCRM (Simla) API v5, the wire (shared/research/courier_apis.md, part 2).

- `X-API-KEY` header on every call (registered as a secret: masked in logs and output);
  POST bodies are form fields with JSON strings inside (`order=…`, `payment=…`), `site` sent
  with every write, `by` sent explicitly wherever the API takes it.
- Envelope `{"success": true, …}`; errors `{"success": false, "errorMsg", "errors": {…} or
  […]}` with HTTP ≥ 400 (both shapes shown in the message by `maorders.http`). A body that is
  not JSON (an HTML page from nginx or from an unknown account) is a malformed reply: retried,
  then 75. 503 (RetailCRM's answer above 10 requests a second) is transient.
- At most 10 requests in any second from this machine, counted from when each reply arrived,
  shared by every process (`maorders.ratelimit.SharedRateLimiter`).
- The history is walked by `filter[sinceId]` alone: since 15.05.2023 RetailCRM answers 400 to
  `sinceId` together with `page` (RetailCRM docs «Working with history API»; api-client-php
  doc/usage/examples/orders_history.md moves sinceId to the last record's id and stops when
  `currentPage >= totalPageCount`; retailcrm/woocommerce-module 9a533b9 dropped `page`).
- An account that does not exist answers 405 with an HTML page (api-client-php
  `AccountNotFoundHandler`): one refusal (69) naming RETAILCRM_URL, not a refusal per order.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator
from urllib.parse import quote

import requests

from maorders.errors import PermanentError, RefusedError
from maorders.http import Remote, Retryable
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
        reply = self._get("/orders/history", [where, ("limit", PAGE_LIMIT)], "orders history")
        records, rejected = [], []
        for record in _list(reply, "history", "orders history"):
            if not _valid_id(record.get("id")):  # the cursor itself: nothing to advance to
                raise Retryable("malformed orders history: a record without a valid integer id")
            order = record.get("order")
            if not isinstance(order, dict) or not _valid_id(order.get("id")):
                shown = str(order.get("id"))[:30] if isinstance(order, dict) else type(order).__name__
                rejected.append(f"history record {record['id']}: no valid order id ({shown!r}); skipped")
                continue
            records.append(record)
        pagination = reply.get("pagination")
        if not isinstance(pagination, dict):
            raise Retryable("malformed orders history: no pagination")
        more = _int(pagination.get("totalPageCount")) > _int(pagination.get("currentPage"))
        last = max((r["id"] for r in reply["history"]), default=None)
        return HistoryPage(sorted(records, key=lambda r: r["id"]), more and last is not None, tuple(rejected), last)

    def orders(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Current orders by id, 100 to a call (`GET /orders?filter[ids][]=…`)."""
        wanted = sorted(set(ids))
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(wanted), PAGE_LIMIT):
            chunk = wanted[start:start + PAGE_LIMIT]
            params = [("filter[ids][]", i) for i in chunk] + [("limit", PAGE_LIMIT), ("page", 1)]
            for order in _list(self._get("/orders", params, "orders"), "orders", "orders"):
                if isinstance(order.get("id"), int):
                    found[order["id"]] = order
        return found

    def order(self, order_id: int) -> dict[str, Any]:
        reply = self._get(f"/orders/{order_id}", [("by", "id"), ("site", self.site)], "order")
        if not isinstance(reply.get("order"), dict):
            raise Retryable("malformed order reply: no order")
        return reply["order"]

    # -- writes ----------------------------------------------------------------------------
    def edit_order(self, order_id: int, changes: dict[str, Any]) -> None:
        """Only the fields in `changes` change (RetailCRM edits partially)."""
        self._post(f"/orders/{order_id}/edit", {"by": "id", "site": self.site, "order": _json(changes)},
                   "order edit")

    def create_payment(self, order_id: int, fields: dict[str, Any]) -> int:
        reply = self._post("/orders/payments/create",
                           {"site": self.site, "payment": _json({**fields, "order": {"id": order_id}})},
                           "payment create")
        if not isinstance(reply.get("id"), int):
            raise Retryable("malformed payment create reply: no id")
        return reply["id"]

    def edit_payment(self, ident: str, by: str, fields: dict[str, Any]) -> None:
        self._post(f"/orders/payments/{quote(ident, safe='')}/edit",
                   {"by": by, "site": self.site, "payment": _json(fields)}, "payment edit")

    def delete_payment(self, payment_id: str) -> None:
        self._post(f"/orders/payments/{quote(payment_id, safe='')}/delete", {}, "payment delete")

    # -- transport -------------------------------------------------------------------------
    def _get(self, path: str, params: list[tuple[str, Any]], what: str) -> dict[str, Any]:
        with _account_known(self.remote.base_url):
            return self.remote.call("GET", API + path, safe=True, params=params,
                                    parse=lambda r: envelope(r, what))

    def _post(self, path: str, form: dict[str, str], what: str) -> dict[str, Any]:
        # Every write here is safe to repeat: edits set the same values again, our payment is
        # keyed by its externalId (a repeat is refused as a duplicate and then found), and a
        # repeated delete finds nothing to delete (404), which the caller takes as done.
        with _account_known(self.remote.base_url):
            return self.remote.call("POST", API + path, safe=True, data=form, parse=lambda r: envelope(r, what))


@contextmanager
def _account_known(url: str) -> Iterator[None]:
    """405 is RetailCRM's answer for an account that does not exist (api-client-php
    `AccountNotFoundHandler`: 405 with an HTML page); our client never uses a wrong verb, so
    every 405 means the URL names no account: the whole pass is refused, once."""
    try:
        yield
    except PermanentError as exc:
        if exc.status == 405:
            raise RefusedError(f"retailcrm: no RetailCRM account answers at {url} (405: account does not "
                               "exist); check RETAILCRM_URL") from None
        raise


def envelope(response: requests.Response, what: str) -> dict[str, Any]:
    """The JSON envelope of a 2xx reply; anything else is malformed (retried) or refused."""
    body = response.content.lstrip()
    if body[:1] == b"<":
        raise Retryable(f"malformed {what} reply: HTML instead of JSON ({len(response.content)} bytes)")
    try:
        reply = json.loads(body)
    except ValueError:
        raise Retryable(f"malformed {what} reply: not JSON ({len(response.content)} bytes)") from None
    if not isinstance(reply, dict) or not isinstance(reply.get("success"), bool):
        raise Retryable(f"malformed {what} reply: no success flag")
    if not reply["success"]:
        raise PermanentError(f"retailcrm: {what}: {error_words(reply)}", status=response.status_code)
    return reply


def error_words(reply: dict[str, Any]) -> str:
    """errorMsg and errors, whether `errors` is an object or a list."""
    parts = [str(reply.get("errorMsg") or "refused")]
    errors = reply.get("errors")
    if isinstance(errors, dict):
        parts += [f"{k}: {v}" for k, v in errors.items()]
    elif isinstance(errors, list):
        parts += [str(e) for e in errors]
    return " — ".join(parts)


def _list(reply: dict[str, Any], key: str, what: str) -> list[dict[str, Any]]:
    value = reply.get(key)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise Retryable(f"malformed {what} reply: {key!r} is not a list of objects")
    return value


def _valid_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
