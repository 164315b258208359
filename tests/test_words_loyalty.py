"""Issue 18, point 1, gap (c): the till's loyalty words as the station's staff say them.

Tried as staff in Russian, through the installed `maorders` against the Megainsight emulator: the
sales list, one sale, `status`, the pass's summary line and the till's own lines show the staff's
words where they showed the journal's (`confirmed`, `sent`, `sales_confirmed`, `cash`, `confirm`),
while `--json` still carries the machine words. Every counter and status key the connector can
produce has its words (loyalty/words.py, `Connector.words`).
"""

from __future__ import annotations

import ast
import re
import subprocess
import time
from pathlib import Path

from conftest import MAORDERS, base_env
from loyalty_fixtures import CARD, journal_rows, loyalty_cli, megainsight  # noqa: F401

RU = {"MAORDERS_LANG": "ru"}
SALE = ("--line", "AI95:40:56.00", "--line", "2000000001234:1:120.00:shop:Капучино", "--offer", "of-1",
        "--offer", "of-2", "--redeem", "100", "--receipt-number", "0042", "--payment-type", "cash", "--yes")
LOYALTY = Path(__file__).resolve().parent.parent / "loyalty"


def said(cli, *args: str, **env: str) -> str:
    """What a person reads of a command run in Russian (stdout and stderr)."""
    done = cli.run(*args, **RU, **env)
    return done.stdout + done.stderr


def states_column(text: str) -> list[str]:
    """The «Состояние» cells of a tab-separated table (the second column)."""
    return [line.split("\t")[1] for line in text.splitlines() if line.startswith(("0042\t", "0044\t"))]


def one_confirmed_one_unknown(cli, megainsight) -> None:
    """Receipt 0042 confirmed; 0044's confirm applied by the service but its answer lost (75)."""
    assert cli.run("scan-qr", "--code", megainsight.qr(), *SALE).returncode == 0
    megainsight.app.faults.drop_after_effect = 1
    assert cli.run("scan-qr", "--code", CARD, "--amount", "500.00", "--receipt-number", "0044", "--yes",
                   MAORDERS_HTTP_RETRIES="0").returncode == 75


def crash_then_reconcile(cli, megainsight) -> None:
    """Receipt 0044: the service applies the confirm, the till never hears back (75, outcome
    unknown); then the scheduled reconcile refunds it once the till's lease is over."""
    megainsight.app.faults.drop_after_effect = 1
    code, _, err = cli.sale("--code", CARD, "--amount", "500.00", "--receipt-number", "0044",
                            MAORDERS_HTTP_RETRIES="0", MEGAINSIGHT_BUDGET="1")
    assert code == 75, err
    deadline = time.monotonic() + 30
    while journal_rows(cli, "SELECT state FROM loyalty_sales WHERE receipt_number = '0044'") == [("sent",)]:
        assert time.monotonic() < deadline, "reconcile never took the unfinished sale"
        code, _, err = cli.json("scan-qr", "--reconcile", MEGAINSIGHT_ORPHAN_MINUTES="0")
        assert code == 0, err
        time.sleep(0.2)


def test_words_sales_list_and_show_in_staff_words_json_keeps_journal_states(loyalty_cli, megainsight):
    cli = loyalty_cli
    one_confirmed_one_unknown(cli, megainsight)
    listed = said(cli, "loyalty", "list")
    assert "Чек\tСостояние\tОперация" in listed  # headings capitalised, as the other connectors' tables
    assert states_column(listed) == ["отправлено, ответа нет", "подтверждено"]
    code, machine, _ = cli.json("loyalty", "list")
    assert code == 0 and [s["state"] for s in machine["sales"]] == ["sent", "confirmed"]

    operation = machine["sales"][1]["operation_id"]
    assert cli.run("scan-qr", "--refund", operation, "--amount", "264.50", "--receipt-number", "R-0042",
                   "--yes").returncode == 0
    shown = said(cli, "loyalty", "show", operation)
    assert f"чек 0042: подтверждено, операция {operation}" in shown and "наличные" in shown
    refund_row = next(line for line in shown.splitlines() if line.startswith("op-r-"))
    assert "\tпроведено\tна кассе\t" in refund_row  # not «done» «till»
    assert f"подтверждение продажи\tотправлен\t" in shown and f"операция {operation}" in shown
    assert not re.search(r"\b(confirm|cash|done|till)\b", shown)
    unknown = said(cli, "loyalty", "show", "0044")
    assert "покупка\t500,00" in unknown and "AMOUNT" not in unknown  # the one line of --amount
    assert "исход неизвестен" in unknown
    code, sale, _ = cli.json("loyalty", "show", operation)
    assert sale["sale"]["state"] == "confirmed" and sale["sale"]["payment_type"] == "cash"
    assert [(r["state"], r["reason"]) for r in sale["sale"]["refunds"]] == [("done", "till")]
    assert {s["kind"] for s in sale["sale"]["sends"]} == {"confirm", "refund"}


def test_words_status_counts_and_outbox_kinds_in_staff_words_json_keeps_keys(loyalty_cli, megainsight):
    cli = loyalty_cli
    one_confirmed_one_unknown(cli, megainsight)
    status = said(cli, "status")
    assert "продаж подтверждено\t1" in status and "продаж отправлено, ответа нет\t1" in status
    assert "loyalty\tподтверждение продажи\tисход неизвестен\t1" in status  # the Outbox table
    assert "sales confirmed" not in status and "\tconfirm\t" not in status
    code, machine, _ = cli.json("status")
    assert machine["connectors"]["loyalty"]["counts"] == {"sales confirmed": 1, "sales sent": 1}
    assert [(r["kind"], r["state"]) for r in machine["outbox"] if r["connector"] == "loyalty"] == [
        ("confirm", "unknown")]


def test_words_summary_line_and_till_lines_in_staff_words(loyalty_cli, megainsight):
    cli = loyalty_cli
    info = said(cli, "scan-qr", "--info", "--code", megainsight.qr())
    assert "scan-qr loyalty: клиентов опознано 1" in info and "identified" not in info
    # an offer: its title, the product only when the title does not name it, the option that applies it
    assert "  АИ-95 по 52.90 — 52,90\xa0₽ (--offer of-1)" in info.splitlines()
    assert "предложение of-1" not in info
    sale = said(cli, "scan-qr", "--code", megainsight.qr(), *SALE)
    assert "Код\tЦена\tСумма\tСкидка" in sale
    assert "scan-qr loyalty: продаж подтверждено 1" in sale and "sales_confirmed" not in sale
    again = said(cli, "scan-qr", "--code", megainsight.qr(), *SALE)
    assert "scan-qr loyalty: продаж уже подтверждено 1" in again
    code, machine, _ = cli.json("scan-qr", "--code", megainsight.qr(), *SALE)
    assert code == 0 and machine["connectors"]["loyalty"]["counts"] == {"sales_already_confirmed": 1}
    other = cli.run("scan-qr", "--code", CARD, "--amount", "10", "--receipt-number", "0042", "--yes", **RU)
    assert other.returncode == 65 and "чек 0042: уже подтверждено как операция" in other.stderr


def test_words_reconcile_and_orphan_refund_in_staff_words(loyalty_cli, megainsight):
    cli = loyalty_cli
    crash_then_reconcile(cli, megainsight)
    listed = said(cli, "loyalty", "list")
    assert states_column(listed) == ["возвращено: не завершено на кассе"]
    shown = said(cli, "loyalty", "show", "0044")
    assert "\tне завершено на кассе\t" in shown and "orphan" not in shown
    status = said(cli, "status")
    assert "незавершённых продаж возвращено\t1" in status and "возвратов проведено\t1" in status
    code, machine, _ = cli.json("status")
    assert machine["connectors"]["loyalty"]["counts"] == {"sales orphan_refunded": 1, "refunds done": 1}


def counter_keys() -> set[str]:
    """Every key loyalty's code counts with (`ctx.counts[...]`), read from its source."""
    keys: set[str] = set()
    for path in LOYALTY.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "counts"):
                keys |= {c.value for c in ast.walk(node.slice) if isinstance(c, ast.Constant)
                         and isinstance(c.value, str)}
    return keys


def test_words_every_counter_and_status_key_has_words(loyalty_cli, megainsight):
    from loyalty.connector import CONNECTOR
    from loyalty.store import RETRYABLE, SETTLING, UNFINISHED
    from loyalty.words import REFUND_STATES, SALE_STATES
    from maorders.connector import load

    words = load(CONNECTOR.words)
    counted = counter_keys()
    assert {"identified", "sales_confirmed", "refunds", "orphans_refunded", "sales_left_to_the_till"} <= counted
    assert counted - set(words) == set()
    assert {"confirm", "refund"} <= set(words)  # the outbox kinds
    sale_states = {*UNFINISHED, SETTLING, *RETRYABLE, "confirmed"}
    assert sale_states <= set(SALE_STATES) and {f"sales {s}" for s in sale_states} <= set(words)
    assert {f"refunds {s}" for s in REFUND_STATES} <= set(words)
    # and what the passes really produced, counted and shown by `status`
    crash_then_reconcile(loyalty_cli, megainsight)
    code, machine, _ = loyalty_cli.json("status")
    assert set(machine["connectors"]["loyalty"]["counts"]) - set(words) == set()


def test_words_demo_loyalty_part_in_staff_words(tmp_path):
    """The demo's loyalty tables, summary lines and closing line, as a person reads them in Russian;
    its reconcile step refunds the operation the dead till never finished, as its title says."""
    done = subprocess.run([MAORDERS, "demo", "--workdir", str(tmp_path / "demo")], env={**base_env(tmp_path), **RU},
                          capture_output=True, text=True, encoding="utf-8", timeout=300, stdin=subprocess.DEVNULL)
    text = done.stdout + done.stderr
    assert done.returncode == 0, text
    closing = next(line for line in text.splitlines() if line.startswith("Megainsight: "))
    assert "{'" not in closing and "продаж подтверждено 3" in closing and "возвратов проведено 2" in closing
    assert "Чек\tСостояние\tОперация" in text and "Код\tЦена\tСумма\tСкидка" in text
    assert states_column(text) == ["подтверждено", "возвращено: не завершено на кассе"]
    passes = [line for line in text.splitlines() if line.startswith("scan-qr loyalty: ")]
    assert "scan-qr loyalty: незавершённых продаж возвращено 1" in passes
    assert not [line for line in passes if re.search(r"[a-z]+_[a-z]+", line)]  # no counter's machine name


def test_words_desk_loyalty_page_in_staff_words(loyalty_cli, megainsight):
    """The desk's loyalty page: states, payment and figures as `maorders loyalty` shows them."""
    from desk_fixtures import DeskClient
    from maorders import i18n

    assert loyalty_cli.run("scan-qr", "--code", megainsight.qr(), *SALE).returncode == 0
    i18n.set_language("ru")
    try:
        desk = DeskClient(loyalty_cli)
        listed = desk.get("/loyalty/operations?show=all").get_data(as_text=True)
        detail = desk.get("/loyalty/operations?ref=0042").get_data(as_text=True)
    finally:
        i18n.set_language(None)
    assert "подтверждено" in listed and "наличные" in listed and "2\xa0115,00\xa0₽" in listed
    assert ">confirmed<" not in listed and ">cash<" not in listed and "2115.00" not in listed
    assert "подтверждение продажи" in detail and "операция op-1" in detail and ">confirm<" not in detail
