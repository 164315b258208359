"""The pharmacy's words (issue 18, point 1): what `maorders` shows people of MegApteka reads in the
staff's Russian — booking states, outcomes, sending states, pass counters, status counts and
attention lines, the stock file's warnings, the demo's closing line — while `--json` and the
journal keep the machine words. Through the installed `maorders` and the MegApteka emulator.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import MAORDERS, base_env, order_line
from maorders.megapteka.words import WORDS

RU = {"MAORDERS_LANG": "ru"}
NUROFEN, ARBIDOL = ("A-1001", "4601234567890"), ("A-1002", "4602345678901")
SOURCE = Path(__file__).resolve().parent.parent / "maorders" / "megapteka"


def run_json(cli, *args: str, **env: str) -> dict[str, Any]:
    code, result, stderr = cli.json(*args, **env)
    assert code == 0, (result, stderr)
    return result


def shown(cli, *args: str) -> str:
    """What a person reads (stdout and stderr) of a command run in Russian; exit 0."""
    done = cli.run(*args, **RU)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def counts(result: dict[str, Any]) -> dict[str, int]:
    return result["connectors"]["megapteka"]["counts"]


@pytest.fixture
def day(cli, megapteka) -> dict[str, Any]:
    """Stock out; three orders in (all / part / none) and their statuses sent."""
    _, site = megapteka
    run_json(cli, "export-stock")
    orders = {"full": site.add_order([order_line(*NUROFEN, 2)]),
              "part": site.add_order([order_line(*ARBIDOL, 5)]),
              "none": site.add_order([order_line("Z-404", "4609999999999", 1)])}
    run_json(cli, "pull-orders")
    run_json(cli, "push-statuses")
    return {name: order["number"] for name, order in orders.items()} | {"ids": orders}


def test_the_pass_summary_and_the_stock_files_bad_row_read_in_russian(cli):
    said = shown(cli, "export-stock")

    # in the order the connector's table names them: what was read, then what came of it
    assert "export-stock megapteka: строк остатков прочитано 7, позиций выгружено 5, частей отправлено 1, " \
           "строк пропущено 1, строк других отделов 1" in said
    assert "файл остатков, строка 8 (sku A-1007): нет ни barcode, ни protek_code, ни katren_code, ни egk_code; " \
           "не выгружена" in said
    assert "exported" not in said and "skipped_rows" not in said and "stock file line" not in said
    # machines read the same counters as before
    assert counts(run_json(cli, "export-stock")) == {"rows_read": 7, "other_department": 1, "skipped_rows": 1,
                                                     "exported": 5, "parts": 1}
    assert "line 8 (sku A-1007): no barcode" in cli.log_text()  # the log stays a technician's English


def test_bookings_list_and_show_say_the_booking_and_the_outcome_in_words(cli, day):
    listed = shown(cli, "bookings", "list")
    rows = {line.split("\t")[0]: line.split("\t") for line in listed.splitlines() if line.startswith("MA-")}
    assert rows[day["full"]][2:5] == ["новая бронь", "Новый", "полностью"]
    assert rows[day["part"]][2:5] == ["новая бронь", "Новый", "частично"]
    assert rows[day["none"]][2:5] == ["брони нет", "Отменен", "нет в наличии"]

    show = shown(cli, "bookings", "show", day["part"])
    assert f"{day['part']} (id {day['ids']['part']['id']}): новая бронь, «Новый», забронировано: частично" in show
    assert "Новый (1)\tотправлен\t1" in show
    assert "partial" not in show and "\tsent\t" not in show

    machine = run_json(cli, "bookings", "show", day["part"])["booking"]
    assert (machine["booking_state"], machine["outcome"], machine["statuses"][0]["state"]) == ("New", "partial", "sent")
    assert {r["outcome"] for r in run_json(cli, "bookings", "list")["bookings"]} == {"full", "partial", "none"}


def test_an_action_at_the_pharmacy_says_the_booking_in_words(cli, day):
    said = shown(cli, "bookings", "request-confirmation", day["part"])

    assert f"{day['part']}: бронь закрыта, «Ожидает подтверждения»" in said
    assert "Closed" not in said
    assert run_json(cli, "bookings", "show", day["part"])["booking"]["booking_state"] == "Closed"

    refused = cli.run("bookings", "ready", day["none"], **RU)
    assert refused.returncode == 65
    assert f"у заказа {day['none']} нет действующей брони (брони нет, заказ «Отменен»)" in refused.stderr


def test_status_counts_and_attention_lines_read_in_russian_while_json_keeps_the_keys(cli, megapteka, day):
    _, site = megapteka
    shown(cli, "bookings", "ready", day["full"])  # assembled: a site cancel now needs a person
    site.cancel_order(day["ids"]["full"]["id"])
    site.add_order([order_line(*NUROFEN, 0)])  # 0 packs: the order is not accepted
    run_json(cli, "pull-orders")

    done = cli.run("status", **RU)
    said = done.stdout + done.stderr
    assert "собранные брони\t1" in said and "новые брони\t1" in said and "строки остатков\t5" in said
    assert "аннулированы клиентом, расформировать\t1" in said and "заказы не приняты\t1" in said
    assert "1 бронь «Аннулирован клиентом» надо расформировать (maorders bookings list --cancelled-by-client)" in said
    assert "1 заказ не принят (см. bookings list --state rejected и уведомления; затем status --ack)" in said
    assert "bookings Closed" not in said and "to unbook" not in said and "order(s)" not in said

    machine = json.loads(cli.run("--json", "status").stdout)["connectors"]["megapteka"]["counts"]
    assert machine["bookings Closed"] == 1 and machine["cancelled by client, to unbook"] == 1
    assert machine["orders rejected"] == 1


def test_every_counter_and_status_key_the_passes_produce_has_words(cli, megapteka, day):
    _, site = megapteka
    produced = set()
    shown(cli, "bookings", "request-confirmation", day["part"])
    run_json(cli, "push-statuses")
    site.confirm_order(day["ids"]["part"]["id"])
    site.cancel_order(day["ids"]["full"]["id"])
    site.events.append({"id": 99, "order_id": 424242, "status": 3})  # waits for an order never sent
    site.add_order([order_line(*NUROFEN, 0)])
    for command in ("pull-orders", "push-statuses", "export-stock", "pull-orders"):
        produced |= set(counts(run_json(cli, command)))
    produced |= set(counts(run_json(cli, "expire-bookings", MEGAPTEKA_BOOKING_TTL_HOURS="0")))
    produced |= set(json.loads(cli.run("--json", "status").stdout)["connectors"]["megapteka"]["counts"])

    assert {"cancelled", "confirmed", "events_waiting", "rejected", "expired", "exported"} <= produced
    assert produced - set(WORDS) == set()
    assert {f"bookings {state}" for state in ("New", "Closed", "Issued", "Deleted")} <= set(WORDS)
    assert "status" in WORDS  # the outbox's kind


def test_every_counter_the_source_names_has_words():
    """Counters a day may not reach (a status refused for good, one to send again) too."""
    text = "".join(path.read_text(encoding="utf-8") for path in SOURCE.glob("*.py") if "emulat" not in path.name)
    named = set(re.findall(r"ctx\.counts\[\"(\w+)\"\]", text))
    named |= set(re.findall(r"\"(booked_full|booked_partial|not_booked)\"", text))  # the outcome's counter, by a dict
    assert {"statuses_refused", "statuses_to_retry", "booked_full", "not_booked"} <= named
    assert named - set(WORDS) == set()


def test_a_stock_file_of_another_department_is_refused_in_russian(cli):
    (cli.workdir / "stock.csv").write_bytes(
        "sku;name;department;quantity;price;barcode\nA-1;Бинт;Склад;1;1,0;4601\nA-2;Йод;Склад;2;1,0;4602\n"
        .encode("cp1251"))

    done = cli.run("export-stock", **RU)

    assert done.returncode == 65
    assert "ни одной строки отдела «Основной» (MEGAPTEKA_DEPARTMENT); в файле есть «Склад» (2 строки); " \
           "ничего не выгружено; остатки на сайте и журнал не изменились" in done.stderr


def test_the_demos_closing_line_says_what_the_site_accepted_in_words(tmp_path):
    done = subprocess.run([MAORDERS, "demo", "--workdir", str(tmp_path / "demo")], env=base_env(tmp_path) | RU,
                          capture_output=True, text=True, encoding="utf-8", timeout=300)

    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr
    assert "МегАптека: позиций остатков на сайте 5; сайт принял частей остатков 2, завершённых выгрузок 1, " \
           "статусов 8" in said
    assert "принятые сайтом действия" not in said and "'stock_part'" not in said  # no dict of the site's counters
    assert "MA-1002: бронь выдана, «Выдан»" in said
