"""The courier's wire clients against the emulators over real HTTP (no journal, no CLI)."""

from __future__ import annotations

import pytest

from courier import sync
from courier.measoft import MeasoftClient, MeasoftRefused
from courier.retailcrm import RetailcrmClient
from maorders.ratelimit import paced, window_file
from maorders.errors import PermanentError, RefusedError, TransientError
from maorders.http import Budget, Remote

RULES = sync.Rules(delivery_types=("courier",))


@pytest.fixture
def measoft(courier_emulators):
    remote = Remote("measoft", courier_emulators.measoft_server.url, 5, 2, Budget(60))
    yield MeasoftClient(remote, "test", "testm", "8"), courier_emulators.measoft
    remote.close()


@pytest.fixture
def crm(courier_emulators, tmp_path):
    remote = paced(Remote("retailcrm", courier_emulators.crm_server.url, 5, 2, Budget(60), rate_limit=10),
                   window_file(tmp_path / "journal.db", "retailcrm"), 10)
    yield RetailcrmClient(remote, "crm-key", "shop"), courier_emulators.crm
    remote.close()


def measoft_order(emu_crm, **fields):
    return sync.measoft_order(emu_crm.create_order(status="SentMeaSoft", **fields), "A-1", RULES)


# ---------------------------------------------------------------------- MeaSoft
def test_create_find_edit_and_cancel(measoft, courier_emulators):
    client, app = measoft
    two_items = [{"initialPrice": 100, "quantity": 1, "offer": {"name": "Мяч", "externalId": "sku-1"}},
                 {"initialPrice": 50, "quantity": 2, "offer": {"name": "Обруч", "externalId": "sku-2"}}]
    order = measoft_order(courier_emulators.crm, items=two_items)
    assert client.create_order(order).ok
    again = client.create_order(order)
    assert (again.code, again.ok) == (17, False) and "already exists" in again.message
    parcel = client.find("A-1")
    assert (parcel.status, parcel.phone, [i.extcode for i in parcel.items]) == ("NEW", "+79161234567",
                                                                               ["sku-1", "sku-2"])
    assert all(i.code for i in parcel.items) and client.find("nope") is None

    changed = dict(order, items=[dict(order["items"][1], quantity="5"),
                                 {"name": "Скакалка", "extcode": "sku-3", "quantity": "1", "retprice": "10"}])
    codes = {i.extcode: i.code for i in parcel.items}
    assert client.edit_order(changed, codes).ok
    items = {(i["extcode"], i["quantity"]) for i in app.orders["A-1"]["items"]}
    assert items == {("sku-1", "0"), ("sku-2", "5"), ("sku-3", "1")}  # left out: kept with 0

    assert client.cancel_order("A-1").ok and app.orders["A-1"]["status"] == "CANCELED"
    assert client.cancel_order("missing").code == 52
    refused = client.edit_order(changed, codes)
    assert refused.code == 53 and "in work" in refused.message


def test_only_last_per_stream_until_commit(courier_emulators):
    app = courier_emulators.measoft
    remote = Remote("measoft", courier_emulators.measoft_server.url, 5, 2, Budget(60))
    ours, other = (MeasoftClient(remote, "test", "testm", "8", stream) for stream in (100, 200))
    assert ours.create_order(measoft_order(courier_emulators.crm)).ok
    assert [p.orderno for p in ours.changed()] == ["A-1"]
    assert [p.orderno for p in ours.changed()] == ["A-1"]   # the same set until committed
    ours.commit()
    assert ours.changed() == [] and [p.status for p in other.changed()] == ["NEW"]
    app.set_status("A-1", "COMPLETE", paytype="CARD", price=700)
    parcel = ours.changed()[0]
    assert (parcel.status, parcel.title, parcel.paytype, parcel.price) == ("COMPLETE", "Доставлен", "CARD", "700")
    assert parcel.event_key.startswith("COMPLETE@") and parcel.delivereddate
    remote.close()


def test_measoft_refusals(measoft, courier_emulators):
    client, app = measoft
    wrong = MeasoftClient(client.remote, "test", "wrong", "8")
    with pytest.raises(RefusedError, match="Authorization error"):
        wrong.find("A-1")
    with pytest.raises(RefusedError):
        wrong.create_order(measoft_order(courier_emulators.crm))
    app.fail_next("statusreq", 12, "root")
    with pytest.raises(MeasoftRefused, match="error 12"):
        client.changed()
    app.faults.malformed_rate = 1.0                          # every reply cut in half
    with pytest.raises(TransientError, match="malformed reply"):
        client.changed()


# ---------------------------------------------------------------------- RetailCRM
def test_history_pages_by_since_id(crm):
    client, app = crm
    for _ in range(3):
        app.create_order()
    for n in range(230):
        app.manager_edit(1, managerComment=f"заметка {n}")
    first = client.history(0)
    assert len(first.records) == 100 and first.more
    second = client.history(first.records[-1]["id"])
    assert second.records[0]["id"] == first.records[-1]["id"] + 1 and second.more
    third = client.history(second.records[-1]["id"])
    assert len(third.records) == 33 and not third.more
    assert client.history(third.records[-1]["id"]).records == []


def test_orders_in_batches_of_100(crm):
    client, app = crm
    ids = [app.create_order()["id"] for _ in range(130)]
    found = client.orders(ids + [9999])
    assert sorted(found) == ids
    assert client.order(ids[0])["number"] == "1001A"


def test_edit_and_payments(crm):
    client, app = crm
    order = app.create_order(payments=[])
    client.edit_order(order["id"], {"status": "complete", "managerComment": 'Курьер "Вася"'})
    assert app.orders[order["id"]]["status"] == "complete"
    pid = client.create_payment(order["id"], {"type": "cash", "amount": 1200, "externalId": "measoft-X"})
    with pytest.raises(PermanentError, match="externalId"):
        client.create_payment(order["id"], {"type": "cash", "amount": 1200, "externalId": "measoft-X"})
    client.edit_payment("measoft-X", "externalId", {"status": "paid"})
    assert app.payments[pid]["status"] == "paid"
    client.delete_payment(str(pid))
    with pytest.raises(PermanentError) as gone:
        client.delete_payment(str(pid))
    assert gone.value.status == 404


def test_wrong_key_is_a_refusal(courier_emulators, tmp_path):
    remote = paced(Remote("retailcrm", courier_emulators.crm_server.url, 5, 2, Budget(60), rate_limit=10),
                   window_file(tmp_path / "journal.db", "retailcrm"), 10)
    with pytest.raises(RefusedError, match="apiKey"):
        RetailcrmClient(remote, "wrong-key", "shop").history(0)
    remote.close()
