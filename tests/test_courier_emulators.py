"""The MeaSoft and RetailCRM emulators, exercised over real HTTP on free ports."""

from __future__ import annotations

import json
import re
import threading

import defusedxml.ElementTree as SafeET
import pytest
import requests

from courier.emulator import serve_measoft, serve_retailcrm

AUTH = '<auth extra="8" login="test" pass="testm"/>'
XML_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


# ---------------------------------------------------------------- MeaSoft helpers

@pytest.fixture
def measoft():
    server, app = serve_measoft()
    yield server.url, app
    server.stop()


def call(url: str, body: str, headers: dict[str, str] | None = None):
    """POST raw XML; return the parsed root of the reply."""
    reply = requests.post(url, data=body.encode("utf-8"), headers=headers or XML_HEADERS, timeout=5)
    assert reply.status_code == 200, reply.text
    return SafeET.fromstring(reply.content)


def order_xml(orderno: str = "A-1", **fields: str) -> str:
    values = {"person": "Петров П.П.", "company": "", "phone": "+79161234567",
              "town": "Москва", "address": "ул. Ленина, д. 1, кв. 2",
              "price": "387.5", "weight": "1.2", "paytype": "CASH"}
    values.update(fields)
    return f"""
    <order orderno="{orderno}">
      <receiver>
        <company>{values['company']}</company><person>{values['person']}</person>
        <phone>{values['phone']}</phone><town>{values['town']}</town>
        <address>{values['address']}</address>
        <date>2030-01-02</date><time_min>10:00</time_min><time_max>18:00</time_max>
      </receiver>
      <weight>{values['weight']}</weight><quantity>1</quantity>
      <paytype>{values['paytype']}</paytype><price>{values['price']}</price>
      <deliveryprice>150</deliveryprice><inshprice>387.5</inshprice>
      <instruction>Позвонить за час</instruction>
      <items>
        <item extcode="sku-1" quantity="1" mass="0.2" retprice="37.5" VATrate="0">Мяч</item>
        <item extcode="sku-2" quantity="2" mass="0.5" retprice="100" VATrate="10">Обруч</item>
      </items>
    </order>"""


def neworder(url: str, *orders: str, auth: str = AUTH):
    return call(url, f'<?xml version="1.0" encoding="UTF-8"?><neworder>{auth}{"".join(orders)}</neworder>')


def only_last(url: str, streamid: str | None = None):
    stream = f"<streamid>{streamid}</streamid>" if streamid else ""
    root = call(url, f"<statusreq>{AUTH}<changes>ONLY_LAST</changes>"
                     f"<quickstatus>NO</quickstatus>{stream}</statusreq>")
    assert "error" not in root.attrib
    return sorted(o.get("orderno") for o in root.findall("order"))


def commit(url: str, streamid: str | None = None):
    stream = f"<streamid>{streamid}</streamid>" if streamid else ""
    root = call(url, f"<commitlaststatus>{AUTH}{stream}</commitlaststatus>")
    assert root.tag == "commitlaststatus" and "error" not in root.attrib


# ---------------------------------------------------------------- MeaSoft tests

def test_neworder_ok_then_17_on_repeat(measoft):
    url, app = measoft
    root = neworder(url, order_xml("A-1"))
    assert root.tag == "neworder" and "error" not in root.attrib
    result = root.find("createorder")
    assert result.attrib == {"orderno": "A-1", "error": "0", "errormsg": "OK",
                             "errormsgru": "Успешно"}
    stored = app.orders["A-1"]
    assert stored["status"] == "NEW" and stored["ordercode"] and stored["awb"]
    assert stored["receiver"]["phone"] == "+79161234567"
    assert stored["items"][1] == {"extcode": "sku-2", "quantity": "2", "mass": "0.5",
                                  "retprice": "100", "VATrate": "10", "name": "Обруч"}
    assert (stored["date"], stored["time_min"], stored["time_max"]) == ("2030-01-02", "10:00", "18:00")

    again = neworder(url, order_xml("A-1")).find("createorder")
    assert again.get("error") == "17"
    assert again.get("errormsgru") == "Заказ с таким номером уже существует"
    assert app.counters["order_created"] == 1


def test_neworder_accepts_several_orders(measoft):
    url, app = measoft
    results = neworder(url, order_xml("M-1"), order_xml("M-2", phone="")).findall("createorder")
    assert [(r.get("orderno"), r.get("error")) for r in results] == [("M-1", "0"), ("M-2", "8")]
    assert set(app.orders) == {"M-1"}


@pytest.mark.parametrize("fields, code", [
    ({"phone": ""}, "8"),
    ({"town": ""}, "5"),
    ({"address": ""}, "7"),
    ({"price": "387,5"}, "3"),
    ({"price": "-1"}, "3"),
    ({"paytype": "OPTION"}, "3"),
    ({"weight": "heavy"}, "4"),
    ({"person": "", "company": ""}, "9"),
])
def test_neworder_validation_errors(measoft, fields, code):
    url, app = measoft
    result = neworder(url, order_xml("V-1", **fields)).find("createorder")
    assert result.get("error") == code
    assert result.get("errormsg") and result.get("errormsgru")
    assert app.orders == {}


def test_auth_error_at_root(measoft):
    url, _ = measoft
    wrong = '<auth extra="8" login="test" pass="nope"/>'
    root = neworder(url, order_xml(), auth=wrong)
    assert root.tag == "neworder" and root.get("error") == "1"
    assert root.get("errormsgru") == "Ошибка авторизации" and root.find("createorder") is None
    assert neworder(url, order_xml(), auth="").get("error") == "1"
    status = call(url, f"<statusreq>{wrong}<orderno>A-1</orderno></statusreq>")
    assert status.tag == "statusreq" and status.get("error") == "25"


def test_hostile_xml_gives_error_and_server_stays_up(measoft):
    url, app = measoft
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
              '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
              f'<neworder>{AUTH}<order orderno="&lol3;"/></neworder>')
    xxe = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           f'<statusreq>{AUTH}<orderno>&x;</orderno></statusreq>')
    for body in (laughs, xxe, "<neworder><auth", "not xml at all"):
        root = call(url, body)
        assert root.tag == "error" and root.get("error") == "1", body
    assert app.orders == {}
    assert neworder(url, order_xml()).find("createorder").get("error") == "0"


def test_transport_strictness(measoft):
    url, _ = measoft
    assert call(url, f"<tracking>{AUTH}</tracking>").get("error") == "14"
    wrong_type = call(url, f"<statusreq>{AUTH}</statusreq>",
                      {"Content-Type": "application/x-www-form-urlencoded"})
    assert wrong_type.tag == "error" and wrong_type.get("error") == "1"
    assert requests.get(url, timeout=5).status_code == 405
    huge = "<neworder>" + " " * (10 * 1024 * 1024) + "</neworder>"
    assert call(url, huge).get("error") == "1"
    no_slash = url.rstrip("/")
    assert call(no_slash, f"<statusreq>{AUTH}<orderno>x</orderno></statusreq>").get("count") == "0"


def test_only_last_same_set_until_commit(measoft):
    url, app = measoft
    neworder(url, order_xml("S-1"))
    neworder(url, order_xml("S-2"))
    assert only_last(url) == ["S-1", "S-2"]
    assert only_last(url) == ["S-1", "S-2"]          # not committed: the same set again
    commit(url)
    assert only_last(url) == []
    app.set_status("S-1", "DELIVERY")
    assert only_last(url) == ["S-1"]
    app.set_status("S-2", "ACCEPTED")                # after the poll: kept for the next one
    commit(url)
    assert only_last(url) == ["S-2"]
    commit(url)
    assert only_last(url) == []
    assert app.counters["status_committed"] == 3


def test_only_last_streams_are_independent(measoft):
    url, app = measoft
    neworder(url, order_xml("T-1"))
    assert only_last(url, "100") == ["T-1"]
    commit(url, "100")
    assert only_last(url, "100") == []
    assert only_last(url) == ["T-1"]                 # the default stream never committed
    assert only_last(url, "200") == ["T-1"]
    app.set_status("T-1", "WEIRD")                   # unknown codes are allowed
    assert only_last(url, "100") == ["T-1"]
    bad = call(url, f"<statusreq>{AUTH}<changes>ONLY_LAST</changes><streamid>99</streamid></statusreq>")
    assert bad.tag == "statusreq" and bad.get("error") == "1"


def test_statusreq_reply_shape(measoft):
    url, app = measoft
    neworder(url, order_xml("R-1"))
    app.set_status("R-1", "COMPLETE", paytype="CARD", price=400, returns={"sku-2": 1})
    root = call(url, f"<statusreq>{AUTH}<orderno>R-1</orderno></statusreq>")
    assert root.get("count") == "1" and "error" not in root.attrib
    order = root.find("order")
    assert order.get("orderno") == "R-1"
    assert order.get("awb") == app.orders["R-1"]["awb"]
    assert order.get("ordercode") == app.orders["R-1"]["ordercode"]
    status = order.find("status")
    assert status.text == "COMPLETE" and status.get("title") == "Доставлен"
    assert STAMP.match(status.get("eventtime")) and STAMP.match(status.get("createtimegmt"))
    assert [s.text for s in order.find("statushistory")] == ["NEW", "COMPLETE"]
    assert order.findtext("paytype") == "CARD" and order.findtext("price") == "400"
    assert order.findtext("deliveredto") == "Петров П.П." and order.findtext("delivereddate")
    items = order.find("items").findall("item")
    assert [(i.get("extcode"), i.get("returns"), i.text) for i in items] == [
        ("sku-1", "0", "Мяч"), ("sku-2", "1", "Обруч")]
    assert call(url, f"<statusreq>{AUTH}<orderno>nope</orderno></statusreq>").get("count") == "0"


def test_cancel_ok_not_found_and_in_work(measoft):
    url, app = measoft
    neworder(url, order_xml("C-1"), order_xml("C-2"))
    app.set_status("C-2", "DELIVERY")
    code = app.orders["C-1"]["ordercode"]
    root = call(url, f'<cancelorder>{AUTH}<order orderno="" ordercode="{code}"/>'
                     f'<order orderno="missing" ordercode=""/><order orderno="C-2"/></cancelorder>')
    assert "error" not in root.attrib
    results = [(o.get("orderno"), o.get("error")) for o in root.findall("order")]
    assert results == [("C-1", "0"), ("missing", "52"), ("C-2", "53")]
    assert root.findall("order")[2].get("errormsg") == "order is in work, cannot be cancelled"
    assert app.orders["C-1"]["status"] == "CANCELED"
    assert app.orders["C-1"]["status_title"] == "Отменен заказчиком"
    assert app.orders["C-2"]["status"] == "DELIVERY"
    assert app.counters["order_cancelled"] == 1
    repeat = call(url, f'<cancelorder>{AUTH}<order orderno="C-1"/></cancelorder>')
    assert repeat.find("order").get("error") == "0" and app.counters["order_cancelled"] == 1


def test_fail_next_forms(measoft):
    url, app = measoft
    app.fail_next("neworder", 13, "root")
    assert neworder(url, order_xml("F-1")).get("error") == "13"
    app.fail_next("statusreq", 33, "child")
    root = call(url, f"<statusreq>{AUTH}<changes>ONLY_LAST</changes></statusreq>")
    assert "error" not in root.attrib and root.find("error").get("error") == "33"
    app.fail_next("neworder", 12, "item")
    item = neworder(url, order_xml("F-1")).find("createorder")
    assert (item.get("orderno"), item.get("error")) == ("F-1", "12")
    app.fail_next("cancelorder", 52, "item")
    cancelled = call(url, f'<cancelorder>{AUTH}<order orderno="F-1"/></cancelorder>')
    assert cancelled.find("order").get("error") == "52"
    assert app.orders == {}                           # injected failures change nothing
    assert neworder(url, order_xml("F-1")).find("createorder").get("error") == "0"  # once only
    with pytest.raises(ValueError):
        app.fail_next("statusreq", 1, "item")


# ---------------------------------------------------------------- RetailCRM helpers

class Crm:
    def __init__(self, url: str, key: str = "crm-key") -> None:
        self.url, self.session = url, requests.Session()
        self.session.headers["X-API-KEY"] = key

    def get(self, path: str, **params):
        return self.session.get(f"{self.url}/api/v5/{path}", params=params, timeout=5)

    def post(self, path: str, **fields):
        data = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in fields.items()}
        return self.session.post(f"{self.url}/api/v5/{path}", data=data, timeout=5)


@pytest.fixture
def crm():
    server, app = serve_retailcrm()
    app.rate_limit_rps = 1000  # the limit has its own test; keep the others deterministic
    yield Crm(server.url), app
    server.stop()


# ---------------------------------------------------------------- RetailCRM tests

def test_retailcrm_auth_errors(crm):
    client, _ = crm
    missing = requests.get(f"{client.url}/api/v5/orders", timeout=5)
    assert missing.status_code == 403
    assert missing.json() == {"success": False, "errorMsg": '"apiKey" is missing.'}
    wrong = requests.get(f"{client.url}/api/v5/orders", headers={"X-API-KEY": "bad"}, timeout=5)
    assert wrong.status_code == 403 and wrong.json()["errorMsg"] == 'Wrong "apiKey" value.'
    by_param = requests.get(f"{client.url}/api/v5/orders", params={"apiKey": "crm-key"}, timeout=5)
    assert by_param.status_code == 200 and by_param.json()["success"] is True


def test_history_paging_since_id_and_order_shapes(crm):
    client, app = crm
    for _ in range(3):
        app.create_order()
    for n in range(22):
        app.manager_edit(1, managerComment=f"note {n}")
    first = client.get("orders/history", limit=20).json()
    assert first["pagination"] == {"limit": 20, "totalCount": 25, "currentPage": 1,
                                   "totalPageCount": 2}
    ids = [h["id"] for h in first["history"]]
    assert ids == sorted(ids) and len(ids) == 20
    second = client.get("orders/history", limit=20, page=2).json()
    assert [h["id"] for h in second["history"]] == list(range(21, 26))
    since = client.get("orders/history", **{"filter[sinceId]": 23, "limit": 100}).json()
    assert [h["id"] for h in since["history"]] == [24, 25]

    created = first["history"][0]
    assert created["created"] is True and created["field"] == "status"
    assert created["newValue"] == {"code": "new"} and created["order"]["items"]
    assert STAMP.match(created["createdAt"])
    edit = second["history"][-1]
    assert edit["field"] == "manager_comment" and edit["newValue"] == "note 21"
    assert set(edit["order"]) == {"id", "externalId", "number", "site", "status"}

    bad = client.get("orders/history", limit=30)
    assert bad.status_code == 400 and bad.json()["success"] is False
    unknown = client.get("orders/history", **{"filter[bogus]": 1})
    assert unknown.status_code == 400


def test_api_key_current_for_api_edits_only(crm):
    client, app = crm
    order = app.create_order()
    app.manager_edit(order["id"], status="assembling")
    reply = client.post(f"orders/{order['id']}/edit", by="id", site="shop",
                        order={"status": "send-to-delivery", "delivery": {"code": "measoft"}})
    assert reply.status_code == 200
    body = reply.json()
    assert body["success"] is True and body["id"] == order["id"]
    assert body["order"]["status"] == "send-to-delivery"
    app.other_api_edit(order["id"], phone="+79990000000")
    history = client.get("orders/history", limit=100).json()["history"]
    manager, api_status, api_delivery, other = history[1:]
    assert manager["source"] == "user" and "apiKey" not in manager
    assert manager["field"] == "status" and manager["newValue"] == {"code": "assembling"}
    assert api_status["source"] == "api" and api_status["apiKey"] == {"current": True}
    assert api_status["oldValue"] == {"code": "assembling"}
    assert api_delivery["field"] == "delivery_type"
    assert api_delivery["newValue"] == {"code": "measoft"}
    assert other["field"] == "phone" and other["apiKey"] == {"current": False}
    assert app.counters["order_edited"] == 1


def test_orders_get_list_edit_errors(crm):
    client, app = crm
    first, second = app.create_order(), app.create_order()
    got = client.get(f"orders/{first['externalId']}").json()
    assert got["success"] is True and got["order"]["id"] == first["id"]
    assert client.get(f"orders/{second['id']}", by="id").json()["order"]["number"] == "1002A"
    missing = client.get("orders/999", by="id")
    assert missing.status_code == 404
    assert missing.json() == {"success": False, "errorMsg": "Not found"}
    listed = client.get("orders", **{"filter[ids][]": [second["id"]]}).json()
    assert [o["id"] for o in listed["orders"]] == [second["id"]]
    by_number = client.get("orders", **{"filter[numbers][]": ["1001A", "1002A"]}).json()
    assert by_number["pagination"]["totalCount"] == 2
    assert client.get("orders", **{"filter[city]": "Москва"}).status_code == 400

    broken = client.post(f"orders/{first['id']}/edit", by="id", order="{not json")
    assert broken.status_code == 400
    assert broken.json()["errorMsg"] == "Errors in the entity format"
    assert isinstance(broken.json()["errors"], dict)
    as_json = client.session.post(f"{client.url}/api/v5/orders/{first['id']}/edit?by=id",
                                  json={"order": {"status": "x"}}, timeout=5)
    assert as_json.status_code == 400 and "order" in as_json.json()["errorMsg"]
    assert client.get(f"orders/{first['id']}/edit").status_code == 405


def test_payments_create_edit_delete_and_duplicates(crm):
    client, app = crm
    order = app.create_order(payments=[])
    created = client.post("orders/payments/create", site="shop", payment={
        "order": {"id": order["id"]}, "type": "cash", "amount": 1200,
        "status": "not-paid", "externalId": "cod-1"})
    assert created.status_code == 201
    pid = created.json()["id"]
    assert created.json() == {"success": True, "id": pid}
    shown = client.get(f"orders/{order['id']}", by="id").json()["order"]["payments"]
    assert shown == {str(pid): {"id": pid, "type": "cash", "status": "not-paid",
                                "amount": 1200, "externalId": "cod-1"}}
    assert app.payments[pid]["order"] == {"id": order["id"]}

    dupe = client.post("orders/payments/create", payment={
        "order": {"externalId": order["externalId"]}, "type": "cash", "externalId": "cod-1"})
    assert dupe.status_code == 400 and dupe.json()["success"] is False

    no_by = client.post(f"orders/payments/{pid}/edit", payment={"status": "paid"})
    assert no_by.status_code == 400
    edited = client.post(f"orders/payments/{pid}/edit", by="id", payment={"status": "paid"})
    assert edited.json() == {"success": True, "id": pid}
    by_ext = client.post("orders/payments/cod-1/edit", by="externalId", payment={"amount": 1100})
    assert by_ext.status_code == 200
    assert app.orders[order["id"]]["prepaySum"] == 1100

    deleted = client.post(f"orders/payments/{pid}/delete")
    assert deleted.json() == {"success": True}
    assert client.post(f"orders/payments/{pid}/delete").status_code == 404
    assert client.get(f"orders/{order['id']}", by="id").json()["order"]["payments"] == []

    fields = [h["field"] for h in app.history if h["field"].startswith("payments.")]
    assert fields == ["payments.type", "payments.amount", "payments.status",
                      "payments.status", "payments.amount", "payments.type"]
    assert app.history[-1]["payment"]["deleted"] is True
    assert (app.counters["payment_created"], app.counters["payment_edited"],
            app.counters["payment_deleted"]) == (1, 2, 1)


def test_payments_empty_is_a_list(crm):
    client, app = crm
    order = app.create_order(payments=[])
    body = client.get(f"orders/{order['externalId']}", by="externalId").json()
    assert body["order"]["payments"] == []
    assert app.create_order()["payments"]  # the default order has one cash payment


def test_errors_as_list(crm):
    client, app = crm
    app.errors_as_list = True
    reply = client.post("orders/payments/create", payment={"type": "cash"})
    assert reply.status_code == 400
    assert isinstance(reply.json()["errors"], list) and reply.json()["errors"]


def test_rate_limit_503_with_html():
    server, app = serve_retailcrm()
    try:
        assert app.rate_limit_rps == 10
        app.clock = lambda: 1000.0  # all 15 requests arrive within the same second
        codes: list[int] = []
        bodies: list[str] = []

        def hit() -> None:  # one plain request per thread: a Session is not thread-safe
            reply = requests.get(f"{server.url}/api/v5/orders",
                                 headers={"X-API-KEY": "crm-key"}, timeout=5)
            codes.append(reply.status_code)
            if reply.status_code == 503:
                bodies.append(reply.text)

        threads = [threading.Thread(target=hit) for _ in range(15)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert codes.count(503) == 5 and codes.count(200) == 10
        assert "503 Service Temporarily Unavailable" in bodies[0]
        assert bodies[0].lstrip().startswith("<html>")
        assert app.counters["rate_limited"] == codes.count(503)
        assert app.max_rps_seen >= 11
    finally:
        server.stop()
