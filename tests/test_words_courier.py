"""Issue 18 point 1, gap (c): what the courier shows people reads in the staff's words (Russian),
while `--json` and the journal keep the machine words. The installed CLI against the MeaSoft and
RetailCRM emulators; MAORDERS_LANG=ru is passed explicitly (the tests' default is en)."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path
from typing import Any

from conftest import MAORDERS, Cli, CourierEmulators, base_env

RU = {"MAORDERS_LANG": "ru"}
COURIER = Path(__file__).resolve().parent.parent / "courier"


def ru(cli: Cli, *args: str) -> subprocess.CompletedProcess:
    done = cli.run(*args, **RU)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def machine(cli: Cli, *args: str) -> dict[str, Any]:
    code, result, err = cli.json(*args, **RU)
    assert code in (0, 1, 65), err
    return result


def three_orders(emu: CourierEmulators) -> dict[str, dict[str, Any]]:
    """One order that goes, one with a bad phone, one whose prepaid sum is not a number."""
    good = emu.crm.create_order(status="SentMeaSoft")
    phone = emu.crm.create_order(status="SentMeaSoft", phone="12-34")
    price = emu.crm.create_order(status="SentMeaSoft", prepaySum="много")
    return {"good": good, "phone": phone, "price": price}


# -- the tables ------------------------------------------------------------------------------------
def test_shipments_list_and_show_say_the_state_kind_and_pay_type_in_words_json_keeps_them(courier_cli,
                                                                                           courier_emulators):
    emu = courier_emulators
    orders = three_orders(emu)
    assert courier_cli.run("pull-orders", **RU).returncode == 0
    emu.measoft.set_status(orders["good"]["number"], "COMPLETE", paytype="CARD")
    assert courier_cli.run("push-statuses", **RU).returncode == 0

    listed = ru(courier_cli, "shipments", "list").stdout
    rows = {line.split("\t")[0]: line.split("\t") for line in listed.splitlines()}
    assert rows[orders["good"]["number"]][3] == "передан в MeaSoft"
    assert rows[orders["phone"]["number"]][3] == "не отправлен в MeaSoft"
    assert "\tsent\t" not in listed and "\trejected\t" not in listed
    # the warning about the CRM order's own data, in Russian
    assert "поле [prepaySum] — не число: 'много'" in rows[orders["price"]["number"]][6]

    by_number = {r["crm_number"]: r for r in machine(courier_cli, "shipments", "list")["shipments"]}
    assert by_number[orders["good"]["number"]]["state"] == "sent"
    assert by_number[orders["phone"]["number"]]["state"] == "rejected"

    shown = ru(courier_cli, "shipments", "show", orders["good"]["number"]).stdout
    assert ": передан в MeaSoft, MeaSoft COMPLETE, CRM complete" in shown
    assert "\tкартой курьеру\t" in shown  # MeaSoft's CARD
    assert "новый заказ в MeaSoft\tотправлен\t1" in shown and "статус в CRM\tотправлен\t1" in shown
    assert "neworder" not in shown and "crm-status" not in shown
    detail = machine(courier_cli, "shipments", "show", orders["good"]["number"])["shipment"]
    assert {s["kind"] for s in detail["sends"]} >= {"neworder", "crm-status"}
    assert {s["state"] for s in detail["sends"]} == {"sent"} and detail["statuses"][0]["paytype"] == "CARD"


# -- the summary line and status -------------------------------------------------------------------
def test_the_pass_summary_line_names_the_counters_in_words_json_keeps_the_keys(courier_cli, courier_emulators):
    emu = courier_emulators
    orders = three_orders(emu)
    pulled = ru(courier_cli, "pull-orders")
    line = next(x for x in pulled.stderr.splitlines() + pulled.stdout.splitlines()
                if x.startswith("pull-orders courier:"))
    assert "изменений в CRM прочитано 3" in line and "заказов передано в MeaSoft 1" in line
    assert "заказов с ошибками не отправлено 2" in line
    assert "history_records" not in line and "shipments_sent" not in line
    emu.measoft.set_status(orders["good"]["number"], "COMPLETE", paytype="CARD")
    pushed = ru(courier_cli, "push-statuses")
    line = next(x for x in pushed.stderr.splitlines() + pushed.stdout.splitlines()
                if x.startswith("push-statuses courier:"))
    assert "статусов в CRM установлено 1" in line and "новых статусов 1" in line and "polls_committed" not in line

    emu.measoft.set_status(orders["good"]["number"], "RETURNED")
    counts = machine(courier_cli, "push-statuses")["connectors"]["courier"]["counts"]
    assert counts["statuses_new"] == 1 and counts["crm_statuses_set"] == 1  # --json: the machine keys


def test_status_counts_and_the_attention_line_in_words_json_keeps_the_keys(courier_cli, courier_emulators):
    three_orders(courier_emulators)
    assert courier_cli.run("pull-orders", **RU).returncode == 0

    shown = ru(courier_cli, "status")
    assert "заказов передано в MeaSoft\t1" in shown.stdout and "заказов не отправлено в MeaSoft\t2" in shown.stdout
    assert "заказов с проблемой\t2" in shown.stdout and "shipments sent" not in shown.stdout
    assert "2 заказа требуют внимания (maorders shipments list --problems)" in shown.stdout + shown.stderr
    counts = machine(courier_cli, "status")["connectors"]["courier"]["counts"]
    assert counts == {"shipments sent": 1, "shipments rejected": 2, "shipments with a problem": 2}


# -- every key people may see has its word -------------------------------------------------------
def _constants(node: ast.AST) -> set[str]:
    """The whole texts in `node` (an f-string's parts are not keys: `outbox.failed` makes its
    `<kind>_refused` from the kind, checked below)."""
    if isinstance(node, ast.JoinedStr):
        return set()
    if isinstance(node, ast.IfExp):  # "a" if action == "refuse_cancel" else "b": the key is a or b
        return _constants(node.body) | _constants(node.orelse)
    if isinstance(node, ast.Constant):
        return {node.value} if isinstance(node.value, str) else set()
    return {text for child in ast.iter_child_nodes(node) for text in _constants(child)}


def counter_keys_in_the_source() -> tuple[set[str], set[str]]:
    """Every `ctx.counts[...]` key and `counter=` name the courier's passes can count, and every
    outbox kind they queue (`enqueue(db, NAME, kind, …)`)."""
    counters, kinds = set(), set()
    for path in COURIER.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Subscript) and getattr(node.value, "attr", None) == "counts":
                counters |= _constants(node.slice)
            elif isinstance(node, ast.keyword) and node.arg == "counter":
                counters |= _constants(node.value)
            elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "counter" for t in node.targets):
                counters |= _constants(node.value)
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "enqueue":
                kinds |= _constants(node.args[2])
    return counters, kinds


def test_every_counter_outbox_kind_and_status_key_the_courier_produces_is_in_its_words(courier_cli,
                                                                                         courier_emulators):
    from courier import payments, store
    from courier.connector import CONNECTOR
    from courier.words import WORDS

    assert CONNECTOR.words_for_people() is WORDS
    counters, kinds = counter_keys_in_the_source()
    kinds |= set(payments.PAYMENT_SENDERS)  # queued as f"crm-payment-{kind}"
    assert {"neworder", "editorder", "cancelorder", "crm-status", "crm-payment-create"} <= kinds
    refused = {f"{kind.replace('-', '_')}_refused" for kind in kinds}  # courier.outbox.failed
    statuses = {f"shipments {state}" for state in store.STATES} | {"shipments with a problem"}
    assert len(counters) > 30 and "shipments_sent" in counters and not (counters | kinds | refused | statuses) - WORDS.keys()

    orders = three_orders(courier_emulators)
    seen = set(machine(courier_cli, "pull-orders")["connectors"]["courier"]["counts"])
    courier_emulators.measoft.set_status(orders["good"]["number"], "COMPLETE", paytype="CARD")
    seen |= set(machine(courier_cli, "push-statuses")["connectors"]["courier"]["counts"])
    seen |= set(machine(courier_cli, "status")["connectors"]["courier"]["counts"])
    assert seen and not seen - WORDS.keys()


# -- the demo's closing lines ----------------------------------------------------------------------
def test_the_demo_says_what_measoft_and_retailcrm_accepted_in_words(tmp_path):
    done = subprocess.run([MAORDERS, "demo", "--workdir", str(tmp_path / "demo")], env={**base_env(tmp_path), **RU},
                          capture_output=True, text=True, encoding="utf-8", timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    closing = next(x for x in done.stdout.splitlines() if x.startswith("MeaSoft принял:"))
    assert closing.startswith("MeaSoft принял: запросов 5, заказов создано 3, заказов отменено 1")
    assert "; RetailCRM: запросов " in closing and "{" not in closing and "order_created" not in closing
    table = done.stdout.split("Заказ CRM\tНомер в MeaSoft")[1].split("MeaSoft принял:")[0]
    assert "снят с доставки" in table and "передан в MeaSoft" in table and "\tsent\t" not in table
    # RetailCRM's standard payment statuses in words; the shop's payment type codes as they are
    assert "cash 1\xa0200,00\xa0₽, не оплачен" in table and "bank-card 1\xa0200,00\xa0₽, оплачен" in table
    assert "not-paid" not in table

    done = subprocess.run([MAORDERS, "--json", "demo", "--workdir", str(tmp_path / "demo")],
                          env={**base_env(tmp_path), **RU}, capture_output=True, text=True, encoding="utf-8",
                          timeout=300, stdin=subprocess.DEVNULL)
    assert {s["state"] for s in json.loads(done.stdout)["shipments"]} == {"sent", "cancelled"}


# -- the staff desk --------------------------------------------------------------------------------
def test_the_desk_shipments_page_says_the_state_kind_and_pay_type_in_words(courier_cli, courier_emulators):
    from desk_fixtures import DeskClient
    from maorders import i18n

    emu = courier_emulators
    good, bad = emu.crm.create_order(status="SentMeaSoft"), emu.crm.create_order(status="SentMeaSoft", phone="1")
    assert courier_cli.run("pull-orders").returncode == 0
    emu.measoft.set_status(good["number"], "COMPLETE", paytype="CASH")
    assert courier_cli.run("push-statuses").returncode == 0
    i18n.set_language("ru")
    try:
        desk = DeskClient(courier_cli)
        listed = desk.get("/courier/shipments?show=all").get_data(as_text=True)
        detail = desk.get(f"/courier/shipments?ref={good['number']}").get_data(as_text=True)
    finally:
        i18n.set_language(None)
    assert "передан в MeaSoft" in listed and "не отправлен в MeaSoft" in listed and ">sent<" not in listed
    assert bad["number"] in listed
    assert "наличными курьеру" in detail and "новый заказ в MeaSoft" in detail and "статус в CRM" in detail
    assert ">neworder<" not in detail and ">CASH<" not in detail
