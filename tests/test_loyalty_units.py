"""Loyalty without the CLI: till rules, money, the scanner's checks and reads, settings, the wire
client against the emulator, and the emulator's strictness (as strict as the contract)."""

from __future__ import annotations

import os
import socket
import sys
import threading
import uuid
from decimal import Decimal

import pytest
import requests
import serial

from loyalty import checkout, scanner
from loyalty.emulator import PLACE_ID, TOKEN
from loyalty.megainsight import MegainsightClient
from loyalty.money import BadNumber, line_amount, money
from loyalty.settings import read
from maorders.errors import ConfigError, InputError, PermanentError, RefusedError, TransientError, UsageError
from maorders.http import Budget, Remote
from maorders.settings import Env

from loyalty_fixtures import CARD, Megainsight, megainsight  # noqa: F401
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal (os.openpty) and /proc")



# ---------------------------------------------------------------- rules and money
def test_line_parsing_amounts_and_kinds():
    line = checkout.parse_line("AI95:37.52:56.00")
    assert (line.code, line.quantity, line.price, line.kind, line.amount) == \
        ("AI95", Decimal("37.52"), Decimal("56.00"), "fuel", Decimal("2101.12"))
    shop = checkout.parse_line("2000000001234:2:99.99:shop:Капучино: 0.3")
    assert (shop.kind, shop.name, shop.amount) == ("shop", "Капучино: 0.3", Decimal("199.98"))
    assert line_amount(Decimal("0.333"), Decimal("0.05")) == Decimal("0.02")  # half-up to the kopeck
    for bad in ("AI95:40", "AI95:0:56", "AI95:-1:56", "AI95:40:56.001", "AI95:40:nan", "AI95:40:inf",
                "AI95:1e9:56", "AI95:40:56:gas", "AI 95:40:56", "AI95:40.0001:56", ":40:56"):
        with pytest.raises(InputError, match="--line"):
            checkout.parse_line(bad)


def test_sale_request_checks_and_fingerprint_leaves_the_code_out():
    request = checkout.sale_request(["AI95:40:56"], None, ["of-1"], False, "max", "CARD", "0042")
    assert request.payment_type == "card" and request.redeem.most and request.total == Decimal("2240.00")
    same = checkout.sale_request(["AI95:40.000:56.00"], None, ["of-1"], False, "max", "card", "0042")
    assert request.fingerprint() == same.fingerprint()
    other = checkout.sale_request(["AI95:41:56"], None, ["of-1"], False, "max", "card", "0042")
    assert other.fingerprint() != request.fingerprint()
    amount = checkout.sale_request(None, "280.00", None, False, None, None, None)
    assert amount.lines[0].code == "AMOUNT" and amount.lines[0].kind == "shop" and amount.redeem.points == 0
    with pytest.raises(UsageError, match="a sale needs --line"):
        checkout.sale_request(None, None, None, False, None, None, None)
    with pytest.raises(UsageError, match="not both"):
        checkout.sale_request(["A:1:1"], "5", None, False, None, None, None)
    with pytest.raises(UsageError, match="cash or card"):
        checkout.sale_request(["A:1:1"], None, None, False, None, "cash+card", None)
    with pytest.raises(InputError, match="--redeem"):
        checkout.parse_redeem("-5")
    with pytest.raises(InputError, match="--receipt-number"):
        checkout.receipt_number("00 42; DROP")


def test_offers_points_and_refund_decisions():
    request = checkout.sale_request(["A:1:1"], None, ["of-3"], False, None, None, None)
    with pytest.raises(InputError, match="of-3.*of-1, of-2"):
        checkout.chosen_offers(request, ["of-1", "of-2"])
    everything = checkout.sale_request(["A:1:1"], None, None, True, None, None, None)
    assert checkout.chosen_offers(everything, ["of-1", "of-2"]) == ["of-1", "of-2"]
    most = checkout.Redeem(Decimal(0), most=True)
    assert checkout.points_to_redeem(most, Decimal("300"), Decimal("1058")) == Decimal("300")
    assert checkout.points_to_redeem(most, Decimal("3000"), Decimal("1058")) == Decimal("1058")
    with pytest.raises(InputError, match="insufficient points"):
        checkout.points_to_redeem(checkout.Redeem(Decimal("500")), Decimal("499.99"))
    assert checkout.refundable(Decimal("2016"), Decimal("280"), None) == Decimal("1736")
    with pytest.raises(InputError, match="more than was paid"):
        checkout.refundable(Decimal("2016"), Decimal("280"), Decimal("1736.01"))
    with pytest.raises(InputError, match="in full"):
        checkout.refundable(Decimal("100"), Decimal("100"), None)
    assert checkout.refund_key("op-1", "R-1", None) == "op-1/receipt/R-1"
    assert checkout.refund_key("op-1", None, Decimal("5.00")) == "op-1/no-receipt/5.00"


def test_money_is_strict():
    assert money(1520) == Decimal("1520.00") and money("20.16") == Decimal("20.16")
    for bad in (True, None, "abc", float("nan"), float("inf"), -1, "0.001", 10**12, [1]):
        with pytest.raises(BadNumber):
            money(bad)
    with pytest.raises(BadNumber):
        money(0, positive=True)


# ---------------------------------------------------------------- scanner
def test_scanner_checks_what_was_read():
    assert scanner.validate("\x02megainsight_3baf961b-e463-4e41-813e\x03") == "megainsight_3baf961b-e463-4e41-813e"
    assert scanner.validate(CARD) == CARD
    with pytest.raises(InputError, match="marking code"):
        scanner.validate("010460123456789021abc\x1d91EE06\x1d92abcdef")
    with pytest.raises(InputError, match="8-20 digits"):
        scanner.validate("1234567")
    with pytest.raises(InputError, match="printable ASCII") as info:
        scanner.validate("x" * 129)
    assert "x" * 10 not in str(info.value)  # masked: never the whole code
    with pytest.raises(InputError, match="not a loyalty QR"):
        scanner.validate("клиент-123")
    with pytest.raises(InputError, match="control characters"):
        scanner.validate("\x00\x07\r")


def test_scanner_reads_one_code_until_cr_or_lf_on_loop_and_socket():
    port = serial.serial_for_url("loop://", timeout=0)
    port.write(b"\nmegainsight_abc-123\r\nnext")
    assert scanner._read_until_terminator(port, 2, __import__("time").monotonic) == b"megainsight_abc-123"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    opened = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        opened.wait(5)  # pyserial drops what arrived before it finished opening the port
        conn.sendall(b"7909318")
        conn.sendall(b"4923\n")
        conn.recv(1)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"socket://127.0.0.1:{listener.getsockname()[1]}"
    device = scanner.open_port(url, 9600)
    opened.set()
    assert scanner.read_from(device, url, 5) == CARD
    listener.close()


@POSIX_ONLY
def test_scanner_on_a_pty_times_out_and_refuses_garbage():
    master, slave = os.openpty()
    __import__("tty").setraw(slave)
    path = os.ttyname(slave)
    try:
        with pytest.raises(TransientError, match="no code scanned within 0.2 s"):
            scanner.read_code(path, 9600, 0.2)
        device = scanner.open_port(path, 9600)
        os.write(master, b"\xff\xfe\xfdgarbage\r")
        with pytest.raises(InputError, match="not ASCII"):
            scanner.read_from(device, path, 2)
        device = scanner.open_port(path, 9600)
        os.write(master, b"A" * 600)
        with pytest.raises(InputError, match="without CR or LF"):
            scanner.read_from(device, path, 2)
        device = scanner.open_port(path, 115200)
        os.write(master, b"\x02megainsight_0f1e\x03\r\n")
        assert scanner.read_from(device, path, 2) == "megainsight_0f1e"
    finally:
        os.close(master)
        os.close(slave)
    with pytest.raises(ConfigError, match="SCANNER_PORT"):
        scanner.open_port("nosuch://x", 9600)


# ---------------------------------------------------------------- settings
def test_settings_name_the_variable():
    base = {"MEGAINSIGHT_URL": "https://mi.example/api/v3.2", "MEGAINSIGHT_TOKEN": "t0ken", "MEGAINSIGHT_PLACE_ID": "azs-1"}
    config = read(Env(base))
    assert (config.budget, config.orphan_minutes, config.scanner_baud, config.scanner_port) == (15, 15, 9600, None)
    assert "t0ken" not in repr(config)
    for name, value, words in [("MEGAINSIGHT_TOKEN", "", "MEGAINSIGHT_TOKEN is not set"),
                               ("MEGAINSIGHT_PLACE_ID", "a b", "MEGAINSIGHT_PLACE_ID"),
                               ("SCANNER_BAUD", "9601", "SCANNER_BAUD"),
                               ("SCANNER_TIMEOUT", "-1", "SCANNER_TIMEOUT"),
                               ("MEGAINSIGHT_BUDGET", "nan", "MEGAINSIGHT_BUDGET"),
                               ("MEGAINSIGHT_URL", "ftp://x", "MEGAINSIGHT_URL")]:
        with pytest.raises(ConfigError, match=words):
            read(Env(base | {name: value}))


# ---------------------------------------------------------------- wire client and emulator
def client_for(emulator: Megainsight, token: str = TOKEN, place: str = PLACE_ID, budget: float = 5) -> MegainsightClient:
    remote = Remote("megainsight", emulator.url, 2, 2, Budget(budget), headers={"Authorization": f"Token {token}"})
    return MegainsightClient(remote, place)


def test_wire_round_trip_matches_the_contract_example(megainsight):
    mi = client_for(megainsight)
    who = mi.identify(megainsight.qr())
    assert (who.client_id, who.balance, [o.id for o in who.offers]) == ("c-881", Decimal("1520.00"), ["of-1", "of-2"])
    line = checkout.parse_line("AI95:40:56.00").wire()
    calc = mi.calculate(who.client_token, [line], ["of-1"], Decimal("100"))
    assert (calc.lines[0].price, calc.lines[0].amount, calc.discount, calc.max_redeem, calc.points_to_accrue,
            calc.total_to_pay) == (Decimal("52.90"), Decimal("2116.00"), Decimal("124.00"), Decimal("1058.00"),
                                   Decimal("20.16"), Decimal("2016.00"))
    request_id = str(uuid.uuid4())
    receipt = {"number": "0042", "datetime": "2026-11-30T10:00:00+03:00", "payment_type": "cash", "total": 2016.0}
    op = mi.confirm(request_id, calc.calculation_id, receipt)
    assert (op.points_redeemed, op.points_accrued, op.balance) == (Decimal("100.00"), Decimal("20.16"),
                                                                   Decimal("1440.16"))
    assert mi.confirm(request_id, calc.calculation_id, receipt) == op  # same request id: 200, same body
    assert megainsight.app.counters["confirm"] == 1
    assert [o.operation_id for o in mi.operations(request_id)] == [op.operation_id]
    assert mi.operations(str(uuid.uuid4())) == []
    refund_id = str(uuid.uuid4())
    part = mi.refund(op.operation_id, refund_id, Decimal("264.50"))
    assert part.origin_id == op.operation_id and mi.refund(op.operation_id, refund_id, Decimal("264.50")) == part
    with pytest.raises(PermanentError) as exc:
        mi.refund(op.operation_id, str(uuid.uuid4()), Decimal("5000"))
    assert exc.value.code == "amount_exceeds_paid"
    rest = mi.refund(op.operation_id, str(uuid.uuid4()), None)
    assert megainsight.client.balance == Decimal("1520.00") == rest.balance  # all refunded: back where it began
    assert megainsight.app.counters["refund"] == 2


def test_emulator_is_as_strict_as_the_contract(megainsight):
    url, headers = megainsight.url, {"Authorization": f"Token {TOKEN}"}

    def post(path: str, body: dict, **kw) -> requests.Response:
        return requests.post(url + path, json=body, headers=kw.get("headers", headers), timeout=5)

    assert post("/clients/identify", {"place_id": PLACE_ID, "code": CARD}, headers={}).status_code == 401
    assert post("/clients/identify", {"place_id": "azs-other", "code": CARD}).status_code == 403
    assert post("/clients/identify", {"code": CARD}).status_code == 400
    assert post("/clients/identify", {"place_id": PLACE_ID, "code": "x" * 129}).status_code == 400
    assert post("/clients/identify", {"place_id": PLACE_ID, "code": megainsight.qr(ttl=-1)}).json()["error"] == \
        "code_expired"
    token = post("/clients/identify", {"place_id": PLACE_ID, "code": CARD}).json()["client_token"]
    line = {"code": "AI95", "kind": "fuel", "quantity": 40.0, "price": 56.0, "amount": 2240.0}

    def calc(**changes) -> requests.Response:
        body = {"place_id": PLACE_ID, "client_token": token, "receipt": {"lines": [line]}, "offer_ids": [],
                "redeem_points": 0}
        return post("/purchases/calculate", body | changes)

    assert calc().status_code == 200
    assert calc(receipt={"lines": [line | {"amount": 2239.99}]}).json()["error"] == "amount_mismatch"
    assert calc(receipt={"lines": [line | {"price": 56.001, "amount": 2240.04}]}).status_code == 400
    assert calc(offer_ids=["of-9"]).json()["error"] == "offer_not_available"
    assert calc(redeem_points=1120.01).json()["error"] == "insufficient_points"  # over max_redeem (half)
    calc_id = calc().json()["calculation_id"]
    receipt = {"number": "1", "datetime": "2026-11-30T10:00:00+03:00", "payment_type": "cash", "total": 2240.0}
    confirm = {"place_id": PLACE_ID, "calculation_id": calc_id, "receipt": receipt}
    assert post("/purchases/confirm", confirm | {"request_id": "42"}).status_code == 400
    assert post("/purchases/confirm", confirm | {"request_id": str(uuid.uuid4()),
                                                  "receipt": receipt | {"total": 1.0}}).json()["error"] == \
        "total_mismatch"
    assert post("/purchases/confirm", confirm | {"request_id": str(uuid.uuid4()),
                                                  "receipt": receipt | {"payment_type": "mixed"}}).status_code == 400
    assert megainsight.app.counters["confirm"] == 0


def test_wire_refusals_and_malformed_replies(megainsight):
    with pytest.raises(RefusedError, match="401"):
        client_for(megainsight, token="wrong").identify(CARD)
    with pytest.raises(RefusedError, match="403"):
        client_for(megainsight, place="azs-other").identify(CARD)
    megainsight.app.faults.wrong_shape_rate = 1.0
    with pytest.raises(TransientError, match="malformed"):
        client_for(megainsight).identify(CARD)
    megainsight.app.faults.wrong_shape_rate = 0.0
    megainsight.app.faults.cut_body_rate = 1.0
    with pytest.raises(TransientError):
        client_for(megainsight).identify(CARD)


# ---------------------------------------------------------------- property: the till and the service agree
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.decimals("0.001", "500", places=3), st.decimals("0.01", "99999", places=2),
                          st.sampled_from(["fuel", "shop"])), min_size=1, max_size=5),
       st.decimals("0", "2000", places=2))
def test_any_receipt_the_till_builds_the_service_accepts(raw_lines, redeem):
    """Lines as the till writes them (quantity 3 decimals, price 2) always pass the emulator's
    "amount = quantity × price" and 2-decimal checks; points within the limits are accepted."""
    import json as jsonlib

    from loyalty.emulator import MegainsightEmulator, sample_client
    from maorders.emulation import Request

    app = MegainsightEmulator()
    sample_client(app)
    lines = [checkout.parse_line(f"P{n}:{q}:{p}:{k}").wire() for n, (q, p, k) in enumerate(raw_lines)]

    def post(path: str, body: dict) -> tuple[int, dict]:
        request = Request("POST", "/api/v3.2" + path, {}, {"authorization": f"Token {TOKEN}"},
                          jsonlib.dumps({"place_id": PLACE_ID, **body}).encode())
        response = app.route(request)
        return response.status, jsonlib.loads(response.body)

    status, who = post("/clients/identify", {"code": CARD})
    status, calc = post("/purchases/calculate", {"client_token": who["client_token"], "receipt": {"lines": lines},
                                                 "offer_ids": [], "redeem_points": float(redeem)})
    total = sum(checkout.parse_line(f"P:{q}:{p}:{k}").amount for q, p, k in raw_lines)
    allowed = min((total / 2).quantize(Decimal("0.01"), rounding="ROUND_DOWN"), Decimal("1520.00"))
    if redeem <= allowed:
        assert status == 200, calc
        assert Decimal(str(calc["total_to_pay"])) == total - redeem
    else:
        assert status == 422 and calc["error"] == "insufficient_points"
