"""The courier against what the real RetailCRM and MeaSoft do (issue 10), below the CLI: the
emulators' new strictness, the wire clients' tolerance, the rules. Each rule's source is named
next to the code it tests (shared/research/real_services.md)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import requests

from courier import ours, sync
from courier.emulator import serve_measoft, serve_retailcrm
from courier.measoft import MeasoftClient, Parcel
from courier.retailcrm import RetailcrmClient
from maorders.emulation import Request, Response
from maorders.errors import RefusedError
from maorders.http import Budget, Remote
from maorders.ratelimit import SharedRateLimiter

AUTH = '<auth extra="8" login="test" pass="testm"/>'
XML = {"Content-Type": "text/xml; charset=utf-8"}
RULES = sync.Rules(delivery_types=("courier",), cod_payment_types=("cash",))


@pytest.fixture
def crm():
    server, app = serve_retailcrm()
    app.rate_limit_rps = 1000  # these tests are about shapes, not the 10 rps limit
    yield server.url, app
    server.stop()


@pytest.fixture
def measoft():
    server, app = serve_measoft()
    remote = Remote("measoft", server.url, 5, 0, Budget(30))
    yield MeasoftClient(remote, "test", "testm", "8"), app
    remote.close()
    server.stop()


def crm_get(url: str, path: str, **params: object) -> requests.Response:
    return requests.get(f"{url}/api/v5/{path}", params=params, headers={"X-API-KEY": "crm-key"}, timeout=5)


# ---------------------------------------------------------------------- RetailCRM emulator
def test_history_refuses_page_with_since_id(crm):
    url, app = crm
    app.create_order()
    both = crm_get(url, "orders/history", **{"filter[sinceId]": 0, "page": 1})
    assert both.status_code == 400 and both.json()["success"] is False
    alone = crm_get(url, "orders/history", **{"filter[sinceId]": 0, "limit": 100})
    assert alone.status_code == 200 and len(alone.json()["history"]) == 1


def test_history_names_address_and_item_parts(crm):
    url, app = crm
    order = app.create_order()
    app.manager_edit(order["id"], delivery={"address": {"city": "Тверь", "flat": "7"}})
    app.manager_edit(order["id"], items=[dict(order["items"][0], quantity=5)])
    app.manager_edit(order["id"], items=[*order["items"], {"initialPrice": 10, "offer": {"name": "Пакет"}}])
    fields = [h["field"] for h in crm_get(url, "orders/history", limit=100).json()["history"]]
    assert fields[1:] == ["delivery_address.city", "delivery_address.flat", "order_product.quantity",
                          "order_product.quantity", "order_product"]
    assert sync.edit_fields(set(fields)) == set(fields) - {"status"}


def test_unknown_account_answers_405_html_and_the_client_names_the_url(crm):
    url, app = crm
    app.account_exists = False
    reply = requests.post(f"{url}/api/v5/orders/1/edit", data={"by": "id"}, timeout=5)
    assert reply.status_code == 405 and reply.headers["Content-Type"].startswith("text/html")
    remote = Remote("retailcrm", url, 5, 0, Budget(30))
    with pytest.raises(RefusedError, match="RETAILCRM_URL"):
        RetailcrmClient(remote, "crm-key", "shop").edit_order(1, {"status": "complete"})
    remote.close()


@pytest.mark.parametrize("answer", ["json", "html", "redirect"])
def test_point9_unknown_account_on_get_is_recognised_and_names_the_url(crm, answer):
    url, app = crm
    app.account_exists, app.missing_account_get = False, answer
    reply = crm_get(url, "orders/history")
    assert reply.status_code != 405  # AccountNotFoundHandler's 405 is for other verbs only
    remote = Remote("retailcrm", url, 5, 0, Budget(30))
    with pytest.raises(RefusedError, match="RETAILCRM_URL"):
        RetailcrmClient(remote, "crm-key", "shop").history(0)
    remote.close()


def test_a_history_record_with_an_insane_order_id_is_rejected_not_stuck(crm):
    url, app = crm
    app.create_order()
    original = app.route

    def route(request: Request) -> Response:
        response = original(request)
        if "history" in request.path:
            body = response.body.replace(b'"order": {"id": 1,', b'"order": {"id": 99999999999999999999999,', 1)
            response = Response(response.status, body, response.headers)
        return response

    app.route = route
    remote = Remote("retailcrm", url, 5, 0, Budget(30))
    page = RetailcrmClient(remote, "crm-key", "shop").history(0)
    remote.close()
    assert page.records == [] and page.last_id == 1 and "no valid order id" in page.rejected[0]


# ---------------------------------------------------------------------- MeaSoft emulator
def test_fair_usage_blocks_the_ip_over_150_a_minute():
    server, app = serve_measoft()
    try:
        now = [1000.0]
        app.clock = lambda: now[0]
        body = f"<statusreq>{AUTH}<orderno>X</orderno></statusreq>".encode()
        codes = [requests.post(server.url, data=body, headers=XML, timeout=5).status_code for _ in range(151)]
        assert codes[:150] == [200] * 150 and codes[150] == 403
        now[0] += 61  # a minute later the window is clear, yet the block holds (up to 3 hours)
        assert requests.post(server.url, data=body, headers=XML, timeout=5).status_code == 403
        now[0] += app.block_seconds
        assert requests.post(server.url, data=body, headers=XML, timeout=5).status_code == 200
        assert app.counters["fair_usage_blocks"] == 1 and app.most_per_minute == 151
    finally:
        server.stop()


def test_negative_item_price_only_on_a_prepayment_line(measoft):
    client, app = measoft
    order = sync.measoft_order(_crm_order(prepaySum=200), "P-1", RULES)
    assert client.create_order(order).ok
    bad = dict(order, orderno="P-2", items=[dict(i, type="1") for i in order["items"]])
    assert client.create_order(bad).code == 3


def test_lookup_finds_last_years_order_too_and_ours_tells_them_apart(measoft):
    client, app = measoft
    app.foreign_order("Y-1", phone="+79161234567", created="2020-03-01 10:00:00")  # archived
    assert client.create_order(sync.measoft_order(_crm_order(), "Y-1", RULES)).ok  # the number is free
    found = client.lookup("Y-1")
    assert sorted(p.created[:4] for p in found) == ["2020", time.strftime("%Y")]
    shipment = {"ordercode": "", "created_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00")}
    assert ours.pick(found, shipment).created[:4] == time.strftime("%Y")
    assert client.find("Y-1").created[:4] == time.strftime("%Y")


# ---------------------------------------------------------------------- MeaSoft client: tolerance
def test_commit_succeeds_on_any_reply_without_an_error(measoft):
    client, app = measoft
    original = app.route
    app.route = lambda request: (Response.xml(200, '<?xml version="1.0"?><response><ok/></response>')
                                 if b"commitlaststatus" in request.body else original(request))
    client.commit()  # no exception: the commit reply's root is documented nowhere


def test_results_without_orderno_are_matched_by_their_place(measoft):
    client, app = measoft
    reply = ('<?xml version="1.0"?><neworder><createorder error="0" errormsg="OK"/>'
             '<createorder error="17" errormsg="exists"/></neworder>')
    app.route = lambda request: Response.xml(200, reply)
    orders = [sync.measoft_order(_crm_order(), number, RULES) for number in ("R-1", "R-2")]
    results = client.create_orders(orders)
    assert (results["R-1"].code, results["R-2"].code) == (0, 17)


def test_an_order_without_orderno_in_the_poll_is_skipped(measoft):
    client, app = measoft
    assert client.create_order(sync.measoft_order(_crm_order(), "S-1", RULES)).ok
    original = app.route

    def route(request: Request) -> Response:
        response = original(request)
        if b"ONLY_LAST" in request.body:
            response.body = response.body.replace(b'<order orderno="S-1"', b'<order orderno=""', 1)
        return response

    app.route = route
    assert client.changed() == []  # skipped and logged, never a poll failing forever


# ---------------------------------------------------------------------- rules
def test_prepayment_is_a_type_4_line_so_items_add_up_to_the_cod_price():
    order = sync.measoft_order(_crm_order(prepaySum=500), "A-1", RULES)
    prepaid = [i for i in order["items"] if i.get("type") == "4"]
    assert prepaid == [{"name": "Предоплата", "extcode": "prepayment", "type": "4", "quantity": "1",
                        "retprice": "-500"}]
    lines = sum(Decimal(i["retprice"]) * Decimal(i["quantity"]) for i in order["items"])
    assert lines + Decimal(order["deliveryprice"]) == Decimal(order["price"]) == Decimal(700)
    no_cod = sync.measoft_order(_crm_order(prepaySum=1200), "A-2", RULES)
    assert no_cod["paytype"] == "NO" and not any(i.get("type") == "4" for i in no_cod["items"])


def test_edit_fields_match_the_part_before_the_dot():
    assert sync.edit_fields({"delivery_address.city", "order_product.initial_price", "manager_comment",
                             "customer.phones", "customer.email"}) == {
        "delivery_address.city", "order_product.initial_price", "customer.phones"}


@pytest.mark.parametrize("field, value", [("prepaySum", 1e300), ("totalSumm", float("nan")),
                                          ("totalSumm", float("inf"))])
def test_insane_crm_numbers_are_a_rejection_not_a_crash(field, value):
    with pytest.raises(sync.Invalid, match="prepaySum|totalSumm"):
        sync.measoft_order(_crm_order(**{field: value}), "A-1", RULES)


def test_insane_measoft_numbers_are_told_apart():
    assert sync.sane_measoft_number("1200.50") == Decimal("1200.50")
    assert [sync.sane_measoft_number(t) for t in ("1e400", "NaN", "sNaN", "9" * 40)] == [None] * 4
    assert sync.measoft_number("sNaN") == 0


def test_only_our_own_orders():
    mine = Parcel("N-1", "7001", "", "NEW", "", "", "", "", "", "", phone="+7 916 123-45-67",
                  created="2026-03-01 10:00:00")
    assert ours.adoptable(mine, "+79161234567", "2026-03-01T07:00:00+00:00")
    assert not ours.adoptable(Parcel(**{**mine.__dict__, "phone": ""}), "+79161234567", "2026-03-01")
    assert not ours.adoptable(mine, "+79161234567", "2026-04-01T07:00:00+00:00")  # made a month earlier
    assert ours.feeds(mine, {"ordercode": "7001", "created_at": "2027-01-01"})  # the ordercode decides
    assert not ours.feeds(mine, {"ordercode": "7002", "created_at": "2026-03-01"})
    assert not ours.feeds(mine, {"ordercode": "", "created_at": "2027-02-01"})


def test_shared_limiter_keeps_every_window(tmp_path):
    limiter = SharedRateLimiter(tmp_path / "w.json", windows=((3, 0.2), (5, 0.6)))
    stamps = []
    for _ in range(7):
        limiter.wait()
        stamps.append(time.time())
        limiter.replied(None)
    # at most 3 replies in any 0.2 s and 5 in any 0.6 s (reply-dated: each stamp is after its wait)
    assert all(stamps[i + 3] - stamps[i] >= 0.2 - 0.01 for i in range(len(stamps) - 3))
    assert all(stamps[i + 5] - stamps[i] >= 0.6 - 0.01 for i in range(len(stamps) - 5))


def _crm_order(**fields: object) -> dict:
    order = {"id": 1, "number": "1001A", "status": "SentMeaSoft", "firstName": "Иван", "lastName": "Петров",
             "phone": "+79161234567", "delivery": {"code": "courier", "cost": 300,
                                                   "address": {"city": "Москва", "text": "ул. Ленина, 1"}},
             "items": [{"initialPrice": 450, "quantity": 2, "offer": {"name": "Аспирин", "externalId": "sku-1"}}],
             "totalSumm": 1200, "prepaySum": 0, "payments": {"1": {"id": 1, "type": "cash", "status": "not-paid"}}}
    order.update(fields)
    return order
