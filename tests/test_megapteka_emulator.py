"""The MegApteka emulator over real HTTP: it must refuse exactly what the contract refuses."""

from __future__ import annotations

import uuid

import pytest
import requests

from maorders.megapteka.emulator import serve

CODE = "1001"
SECRET = "s3cret"
PHARMACY = {"region": "Московская область", "city": "Подольск", "brand": "Тест Аптека"}
GENERATED_AT = "2026-11-22T10:15:00+03:00"


class Api:
    """A bare client: just enough HTTP to poke the emulator."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.token = ""

    def login(self) -> None:
        reply = self.http.post(f"{self.url}/auth/token", json={"pharmacy_code": CODE, "secret": SECRET})
        reply.raise_for_status()
        self.token = reply.json()["access_token"]

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)

    def put_part(self, snapshot_id: str, part: int, parts: int, items: list[dict]) -> requests.Response:
        body = {"parts": parts, "generated_at": GENERATED_AT, "pharmacy": PHARMACY, "items": items}
        return self.call("PUT", f"/pharmacies/{CODE}/stock/{snapshot_id}/parts/{part}", json=body)

    def post_status(self, order_id: int, status: int, status_id: str | None = None,
                    **extra) -> requests.Response:
        body = {"status_id": status_id or str(uuid.uuid4()), "status": status,
                "created_at": GENERATED_AT, **extra}
        return self.call("POST", f"/pharmacies/{CODE}/orders/{order_id}/statuses", json=body)


@pytest.fixture
def emulator():
    server, app = serve()
    app.rate_limit_rps = 0  # only the rate-limit test wants it on
    yield server, app
    server.stop()


@pytest.fixture
def app(emulator):
    return emulator[1]


@pytest.fixture
def api(emulator):
    client = Api(emulator[0].url)
    client.login()
    return client


def stock_item(n: int, **overrides) -> dict:
    item = {"sku": f"A-{n}", "name": f"Товар {n}", "manufacturer": "Reckitt", "price": 189.5,
            "quantity": 7, "barcode": f"46{n:011d}", "protek_code": "", "katren_code": "",
            "egk_code": "", "expires_at": "2027-05-01"}
    item.update(overrides)
    return item


def order_lines(*quantities: int) -> list[dict]:
    return [{"sku": f"A-{n}", "name": f"Товар {n}", "barcode": f"46{n:011d}", "quantity": q, "price": 100}
            for n, q in enumerate(quantities, start=1)]


def assert_error(reply: requests.Response, status: int, error: str | None = None) -> None:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error", "message"}
    if error is not None:
        assert body["error"] == error


# -- auth -------------------------------------------------------------------------


def test_token_for_the_right_pair_and_401_for_a_wrong_one(emulator):
    url = emulator[0].url
    good = requests.post(f"{url}/auth/token", json={"pharmacy_code": CODE, "secret": SECRET})
    assert good.status_code == 200
    assert good.json()["expires_in"] == 3600 and good.json()["access_token"]
    bad = requests.post(f"{url}/auth/token", json={"pharmacy_code": CODE, "secret": "nope"})
    assert_error(bad, 401, "unauthorized")


def test_calls_without_a_valid_token_get_401(api):
    api.token = "forged"
    assert_error(api.call("GET", f"/pharmacies/{CODE}/orders"), 401, "unauthorized")
    assert_error(api.http.get(f"{api.url}/pharmacies/{CODE}/orders"), 401, "unauthorized")


def test_expired_token_gives_401_once_then_a_new_token_works(api, app):
    assert api.call("GET", f"/pharmacies/{CODE}/stock").status_code == 200
    app.expire_tokens()
    assert_error(api.call("GET", f"/pharmacies/{CODE}/stock"), 401)
    api.login()
    assert api.call("GET", f"/pharmacies/{CODE}/stock").status_code == 200


def test_another_pharmacys_code_is_403(api):
    assert_error(api.call("GET", "/pharmacies/2002/orders"), 403, "forbidden")


def test_a_body_that_is_not_json_is_415_and_broken_json_is_400(api, app):
    order = app.add_order(order_lines(1))
    path = f"/pharmacies/{CODE}/orders/{order['id']}/statuses"
    assert_error(api.call("POST", path, data="status=1", headers={"Content-Type": "text/plain"}), 415)
    assert_error(api.call("POST", path, data="{not json", headers={"Content-Type": "application/json"}),
                 400, "bad_json")


def test_unknown_route_is_404_and_wrong_method_is_405(api):
    assert_error(api.call("GET", "/nowhere"), 404, "not_found")
    reply = api.call("DELETE", f"/pharmacies/{CODE}/orders")
    assert_error(reply, 405, "method_not_allowed")
    assert reply.headers["Allow"] == "GET"


# -- stock ------------------------------------------------------------------------


def test_snapshot_goes_live_only_when_every_part_is_in_and_a_repeated_part_replaces_itself(api, app):
    first = api.put_part("snap-1", 1, 2, [stock_item(1), stock_item(2)])
    assert first.json() == {"snapshot_id": "snap-1", "part": 1, "received_parts": 1, "parts": 2,
                            "complete": False, "rejected": []}
    assert app.stock_items == [] and app.snapshot_id is None

    again = api.put_part("snap-1", 1, 2, [stock_item(1, quantity=3)])  # the retry replaces part 1
    assert again.json()["received_parts"] == 1 and not again.json()["complete"]

    last = api.put_part("snap-1", 2, 2, [stock_item(3)])
    assert last.json()["complete"] is True and last.json()["received_parts"] == 2
    assert [(i["sku"], i["quantity"]) for i in app.stock_items] == [("A-1", 3), ("A-3", 7)]
    assert app.snapshot_id == "snap-1" and app.pharmacy_info == PHARMACY

    retry_after_live = api.put_part("snap-1", 2, 2, [stock_item(3)])
    assert retry_after_live.json()["complete"] is True
    assert app.counters["stock_part"] == 4
    assert app.counters["stock_part_distinct"] == 2
    assert app.counters["stock_snapshot_complete"] == 1 and app.snapshots_completed == 1

    shown = api.call("GET", f"/pharmacies/{CODE}/stock").json()
    assert shown["snapshot_id"] == "snap-1" and shown["updated_at"]
    assert [i["sku"] for i in shown["items"]] == ["A-1", "A-3"]


def test_a_new_snapshot_replaces_the_old_one_whole(api, app):
    api.put_part("old", 1, 1, [stock_item(1), stock_item(2)])
    api.put_part("new", 1, 1, [stock_item(9)])
    assert [i["sku"] for i in app.stock_items] == ["A-9"] and app.snapshot_id == "new"


def test_more_than_5000_items_in_a_part_is_422(api, app):
    reply = api.put_part("big", 1, 1, [stock_item(n) for n in range(5001)])
    assert_error(reply, 422, "too_many_items")
    assert app.counters["stock_part"] == 0


def test_items_without_any_code_or_with_bad_fields_are_rejected_not_stored(api, app):
    items = [stock_item(1), stock_item(2, barcode=""), stock_item(3, price=1.005), stock_item(4, quantity=-1)]
    reply = api.put_part("codes", 1, 1, items).json()
    assert [r["sku"] for r in reply["rejected"]] == ["A-2", "A-3", "A-4"]
    assert "barcode" in reply["rejected"][0]["reason"]
    assert [i["sku"] for i in app.stock_items] == ["A-1"]


@pytest.mark.parametrize("change", [{"parts": 0}, {"generated_at": "yesterday"},
                                    {"pharmacy": {"region": "x"}}, {"items": "none"}])
def test_a_broken_part_body_is_400(api, change):
    body = {"parts": 1, "generated_at": GENERATED_AT, "pharmacy": PHARMACY, "items": [], **change}
    assert_error(api.call("PUT", f"/pharmacies/{CODE}/stock/s/parts/1", json=body), 400)


def test_part_number_outside_parts_is_400(api):
    assert_error(api.put_part("s", 3, 2, [stock_item(1)]), 400)


def test_200000_items_in_40_parts(api, app):
    for part in range(1, 41):
        items = [stock_item(n) for n in range((part - 1) * 5000, part * 5000)]
        reply = api.put_part("huge", part, 40, items).json()
        assert reply["complete"] is (part == 40)
    assert len(app.stock_items) == 200_000
    assert app._pending == {}


# -- feeds ------------------------------------------------------------------------


def test_orders_feed_pages_with_has_more(api, app):
    ids = [app.add_order(order_lines(1))["id"] for _ in range(5)]
    assert ids == [1001, 1002, 1003, 1004, 1005]
    page = api.call("GET", f"/pharmacies/{CODE}/orders", params={"since_id": 0, "limit": 2}).json()
    assert [o["id"] for o in page["orders"]] == [1001, 1002]
    assert page["last_id"] == 1002 and page["has_more"] is True
    assert page["orders"][0]["number"] == "MA-1001" and "site_status" not in page["orders"][0]
    assert page["orders"][0]["items"][0]["line_id"] == 1
    page = api.call("GET", f"/pharmacies/{CODE}/orders", params={"since_id": 1004, "limit": 2}).json()
    assert [o["id"] for o in page["orders"]] == [1005] and page["has_more"] is False
    empty = api.call("GET", f"/pharmacies/{CODE}/orders", params={"since_id": 1005, "limit": 2}).json()
    assert empty == {"orders": [], "last_id": 1005, "has_more": False}


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"since_id": -1}, {"since_id": "x"}])
def test_bad_paging_arguments_are_400(api, params):
    assert_error(api.call("GET", f"/pharmacies/{CODE}/orders", params=params), 400)
    assert_error(api.call("GET", f"/pharmacies/{CODE}/events", params=params), 400)


def test_a_resent_order_comes_again_once_without_moving_the_cursor_back(api, app):
    first = app.add_order(order_lines(2))
    page = api.call("GET", f"/pharmacies/{CODE}/orders", params={"since_id": 0, "limit": 10}).json()
    cursor = page["last_id"]
    app.resend_order(first["id"])
    again = api.call("GET", f"/pharmacies/{CODE}/orders", params={"since_id": cursor, "limit": 10}).json()
    assert [o["id"] for o in again["orders"]] == [first["id"]] and again["last_id"] == cursor
    after = api.call("GET", f"/pharmacies/{CODE}/orders", params={"since_id": cursor, "limit": 10}).json()
    assert after["orders"] == []


def test_events_feed_carries_cancels_and_confirmations(api, app):
    cancelled = app.add_order(order_lines(1))
    partial = app.add_order(order_lines(2))
    app.cancel_order(cancelled["id"])
    with pytest.raises(ValueError):
        app.confirm_order(partial["id"])  # not awaiting confirmation yet
    assert api.post_status(partial["id"], 1).status_code == 201
    assert api.post_status(partial["id"], 7, items=[{"line_id": 1, "quantity": 1}]).status_code == 201
    app.confirm_order(partial["id"])
    assert app.orders[partial["id"]]["site_status"] == 8

    page = api.call("GET", f"/pharmacies/{CODE}/events", params={"since_id": 0, "limit": 1}).json()
    assert page["events"][0] | {"created_at": None} == {
        "id": 1, "order_id": cancelled["id"], "status": 3, "created_at": None, "reason": "Отмена покупателем"}
    assert page["last_id"] == 1 and page["has_more"] is True
    page = api.call("GET", f"/pharmacies/{CODE}/events", params={"since_id": 1, "limit": 10}).json()
    assert [(e["id"], e["status"]) for e in page["events"]] == [(2, 8)] and page["has_more"] is False
    assert api.post_status(partial["id"], 5).status_code == 201  # ready after the confirmation


# -- pharmacy statuses ------------------------------------------------------------


def test_the_same_status_id_twice_is_201_then_200_with_one_effect(api, app):
    order = app.add_order(order_lines(1))
    status_id = str(uuid.uuid4())
    first = api.post_status(order["id"], 1, status_id)
    second = api.post_status(order["id"], 1, status_id)
    assert first.status_code == 201 and second.status_code == 200
    assert first.json() == second.json() == {"status_id": status_id, "accepted": True}
    assert app.counters["status"] == 1
    assert [r["status"] for r in app.order_statuses[order["id"]]] == [1]


def test_status_id_must_be_a_uuid(api, app):
    order = app.add_order(order_lines(1))
    assert_error(api.post_status(order["id"], 1, "not-a-uuid"), 400)


def test_issued_before_ready_is_409(api, app):
    order = app.add_order(order_lines(1))
    api.post_status(order["id"], 1)
    assert_error(api.post_status(order["id"], 2), 409, "invalid_transition")
    assert api.post_status(order["id"], 5).status_code == 201
    assert api.post_status(order["id"], 2).status_code == 201
    assert_error(api.post_status(order["id"], 3), 409, "invalid_transition")  # nothing after 2


def test_nothing_goes_after_a_cancel_from_either_side(api, app):
    ours, theirs = app.add_order(order_lines(1)), app.add_order(order_lines(1))
    assert api.post_status(ours["id"], 3).status_code == 201  # no goods at all
    app.cancel_order(theirs["id"])
    for order in (ours, theirs):
        for status in (1, 3, 5):
            assert_error(api.post_status(order["id"], status), 409, "invalid_transition")
    assert app.counters["status"] == 1


def test_status_7_needs_a_valid_items_list(api, app):
    order = app.add_order(order_lines(2, 1))
    api.post_status(order["id"], 1)
    assert_error(api.post_status(order["id"], 7), 400)
    assert_error(api.post_status(order["id"], 7, items=[]), 400)
    assert_error(api.post_status(order["id"], 7, items=[{"line_id": 1, "quantity": 3}]), 400)
    assert_error(api.post_status(order["id"], 7, items=[{"line_id": 9, "quantity": 1}]), 400)
    reply = api.post_status(order["id"], 7, items=[{"line_id": 1, "quantity": 1}], comment="Есть 1 из 2")
    assert reply.status_code == 201
    assert app.order_statuses[order["id"]][-1]["items"] == [{"line_id": 1, "quantity": 1}]


def test_unknown_order_is_404(api):
    assert_error(api.post_status(999999, 1), 404, "order_not_found")


# -- limits and faults ------------------------------------------------------------


def test_above_20_requests_a_second_gets_429_with_retry_after(api, app):
    app.rate_limit_rps = 20
    replies = [api.call("GET", f"/pharmacies/{CODE}/stock") for _ in range(30)]
    limited = [r for r in replies if r.status_code == 429]
    assert limited and limited[0].headers["Retry-After"] == "1"
    assert_error(limited[0], 429, "too_many_requests")


def test_error_rate_one_answers_500(api, app):
    app.faults.error_rate = 1.0
    assert api.call("GET", f"/pharmacies/{CODE}/stock").status_code == 500


def test_a_dropped_reply_after_the_effect_still_counts_the_effect(api, app):
    order = app.add_order(order_lines(1))
    status_id = str(uuid.uuid4())
    app.faults.drop_after_effect = 1
    with pytest.raises(requests.ConnectionError):
        api.post_status(order["id"], 1, status_id)
    assert app.counters["status"] == 1 and app.orders[order["id"]]["site_status"] == 1
    retry = api.post_status(order["id"], 1, status_id)
    assert retry.status_code == 200 and app.counters["status"] == 1


def test_control_routes_answer_under_the_base_path(emulator):
    server = emulator[0]
    assert requests.get(f"{server.url}/_emulator/faults").json()["error_rate"] == 0.0


def test_a_lagging_orders_feed_hides_the_newest_orders_while_their_events_are_out(api, app):
    first = app.add_order([{"sku": "A-1", "name": "x", "barcode": "4601", "quantity": 1, "price": 1.0}])
    second = app.add_order([{"sku": "A-1", "name": "x", "barcode": "4601", "quantity": 1, "price": 1.0}])
    app.cancel_order(second["id"])
    app.orders_lag = 1
    orders = api.call("GET", f"/pharmacies/{CODE}/orders").json()
    assert [o["id"] for o in orders["orders"]] == [first["id"]] and orders["has_more"] is False
    events = api.call("GET", f"/pharmacies/{CODE}/events").json()["events"]
    assert [(e["order_id"], e["status"]) for e in events] == [(second["id"], 3)]
    app.orders_lag = 0
    later = api.call("GET", f"/pharmacies/{CODE}/orders", params={"since_id": first["id"]}).json()
    assert [o["id"] for o in later["orders"]] == [second["id"]]


@pytest.mark.parametrize("path, method, broken", [
    ("/pharmacies/1001/orders", "GET", "orders"),
    ("/pharmacies/1001/events", "GET", "events"),
    ("/pharmacies/1001/stock/s1/parts/1", "PUT", "complete"),
    ("/pharmacies/1001/orders/1001/statuses", "POST", "accepted"),
])
def test_wrong_shape_replies_are_json_that_fits_the_route_in_name_only(api, app, path, method, broken):
    app.faults.wrong_shape_rate = 1.0
    reply = api.call(method, path, json={})
    assert reply.status_code in (200, 201) and broken in reply.json()
    assert not isinstance(reply.json()[broken], (list, bool))
    assert app.counters["fault_wrong_shape"] == 1
