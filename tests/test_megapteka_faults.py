"""Bad input and faults, through the installed `maorders` against the MegApteka emulator.

Stock files unusable as a whole, bad rows and bad orders; replies that are malformed,
late, dropped, refused or rate-limited; a journal that cannot be written or is locked;
two passes at once; bad settings; and no secret or personal data in anything we write.
Each test checks the exit code a scheduler sees and that nothing was lost or sent twice.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import Cli, order_line
from maorders.megapteka.emulator import ApiError

HEADER = "sku;name;manufacturer;department;quantity;price;barcode;protek_code;katren_code;egk_code;expires_at"
NUROFEN = ("A-1001", "4601234567890")
ARBIDOL = ("A-1002", "4602345678901")
TERAFLU_PROTEK = "55501"


# -- helpers ------------------------------------------------------------------------------------
def ok(cli: Cli, *args: str, **env: str) -> dict[str, Any]:
    code, result, stderr = cli.json(*args, **env)
    assert code == 0, (result, stderr)
    return result


def counts(result: dict[str, Any]) -> dict[str, int]:
    return result["connectors"]["megapteka"]["counts"]


def errors(result: dict[str, Any]) -> list[str]:
    return result["connectors"]["megapteka"]["errors"]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def journal(cli: Cli, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(cli.journal)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def stock_table(cli: Cli) -> list[tuple]:
    return journal(cli, "SELECT * FROM mp_stock ORDER BY sku")


def orders_cursor(cli: Cli) -> str | None:
    rows = journal(cli, "SELECT value FROM cursors WHERE connector = 'megapteka' AND feed = 'orders'")
    return rows[0][0] if rows else None


def saved_orders(cli: Cli) -> list[int]:
    return [row[0] for row in journal(cli, "SELECT id FROM mp_orders ORDER BY id")]


def site_statuses(site, order: dict) -> list[int]:
    return [record["status"] for record in site.order_statuses.get(order["id"], [])]


def status_outbox(cli: Cli) -> list[tuple]:
    return journal(cli, "SELECT business_key, state, attempts FROM outbox WHERE kind = 'status' ORDER BY id")


def wrap(site, handler: str, replace):
    """Route calls of one emulator handler through `replace(original, request, params, body)`."""
    original = getattr(site, handler)
    setattr(site, handler, lambda request, params, body: replace(original, request, params, body))


def count_tokens(site) -> list[str]:
    """Every access token the site grants from now on."""
    granted: list[str] = []

    def grant(original, request, params, body):
        reply = original(request, params, body)
        if reply.status == 200:
            granted.append(json.loads(reply.body)["access_token"])
        return reply

    wrap(site, "_post_token", grant)
    return granted


def write_stock(cli: Cli, rows: list[str]) -> None:
    Path(cli.env["MEGAPTEKA_STOCK_FILE"]).write_bytes("\n".join([HEADER, *rows, ""]).encode("cp1251"))


def pulled(cli: Cli, site, *quantities: int) -> list[dict]:
    """Stock exported and one Нурофен order per quantity pulled and booked; statuses not pushed."""
    ok(cli, "export-stock")
    orders = [site.add_order([order_line(*NUROFEN, quantity)]) for quantity in quantities]
    assert counts(ok(cli, "pull-orders"))["received"] == len(quantities)
    return orders


def other_cli(cli: Cli, drop: tuple[str, ...] = (), **env: str) -> Cli:
    """The same CLI with some settings removed or changed."""
    return Cli(cli.workdir, {k: v for k, v in cli.env.items() if k not in drop} | env)


@pytest.fixture
def cli(cli):
    """No retries unless a test wants them: faults show at once."""
    cli.env["MAORDERS_HTTP_RETRIES"] = "0"
    return cli


# -- the stock file --------------------------------------------------------------------------------
BINARY = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 8
NO_HEADER = "A-1001;Нурофен;Reckitt;Основной;7;189,50;4601234567890;12345;;;2027-05-01\n".encode("cp1251")


@pytest.mark.parametrize("case, content, words", [
    ("missing", None, "does not exist"),
    ("empty", b"", "empty"),
    ("blank", b" \r\n\r\n", "empty"),
    ("binary", BINARY, "not a text file"),
    ("no header", NO_HEADER, "line 1"),
    ("header only", (HEADER + "\n").encode("cp1251"), "no rows"),
    ("a folder", "folder", "cannot be read"),
])
def test_an_unusable_stock_file_is_65_and_changes_nothing(cli, megapteka, case, content, words):
    _, site = megapteka
    ok(cli, "export-stock")
    before, shown, completed = stock_table(cli), list(site.stock_items), site.snapshots_completed
    bad = cli.workdir / "bad.csv"
    if content == "folder":
        bad.mkdir()
    elif content is not None:
        bad.write_bytes(content)

    code, result, stderr = cli.json("export-stock", "--stock-file", str(bad))

    assert code == 65 and result["exit_code"] == 65
    assert len(error_lines(stderr)) == 1, stderr
    assert str(bad) in error_lines(stderr)[0] and words in error_lines(stderr)[0]
    assert "Traceback" not in stderr
    assert any(str(bad) in e for e in errors(result))
    assert stock_table(cli) == before
    assert (site.stock_items, site.snapshots_completed) == (shown, completed)


def test_with_quiet_an_unusable_stock_file_is_that_one_line(cli, megapteka):
    done = cli.run("-q", "export-stock", "--stock-file", str(cli.workdir / "nope.csv"))
    assert done.returncode == 65
    assert done.stderr.strip().splitlines() == [f"error: megapteka: {cli.workdir / 'nope.csv'}: "
                                                "the stock file does not exist"]


def test_a_file_that_breaks_past_its_start_is_65_and_the_journal_is_rolled_back(cli, megapteka):
    """Valid UTF-8 for the first 100 KB, then a byte that is not: found mid-import, undone."""
    _, site = megapteka
    ok(cli, "export-stock")
    before, completed = stock_table(cli), site.snapshots_completed
    rows = [f"B-{n:05d};Товар {n};X;Основной;1;10.00;46{n:011d};;;;" for n in range(1500)]
    text = ",".join(HEADER.split(";")) + "\n" + "\n".join(r.replace(";", ",") for r in rows) + "\n"
    bad = cli.workdir / "late.csv"
    bad.write_bytes(text.encode("utf-8") + b"B-99999,\xff\xfe broken,X,\xd0,1,1.0,4600,,,,\n")
    assert bad.stat().st_size > 64 * 1024

    code, result, stderr = cli.json("export-stock", "--stock-file", str(bad))

    assert code == 65, stderr
    assert "line 1502:" in error_lines(stderr)[0] and str(bad) in error_lines(stderr)[0]
    assert stock_table(cli) == before
    assert site.snapshots_completed == completed


def test_bad_rows_are_skipped_and_reported_by_line_the_rest_exported(cli, megapteka):
    _, site = megapteka
    write_stock(cli, [
        "A-1;Хорошая;X;Основной;2;1 234,50;4600000000001;;;;",  # 2: thousands with a space
        "A-2;Текст;X;Основной;два;10,00;4600000000002;;;;",  # 3
        "A-3;Минус;X;Основной;-1;10,00;4600000000003;;;;",  # 4
        "A-4;Бесконечность;X;Основной;1e999;10,00;4600000000004;;;;",  # 5
        "A-5;NaN;X;Основной;NaN;10,00;4600000000005;;;;",  # 6
        "A-6;Пустое кол-во;X;Основной;;10,00;4600000000006;;;;",  # 7
        "A-7;Цена минус;X;Основной;1;-10,00;4600000000007;;;;",  # 8
        ";Без sku;X;Основной;1;10,00;4600000000008;;;;",  # 9
        "A-9;Дробная упаковка;X;Основной;2,5;10,00;4600000000009;;;;",  # 10: 2 whole packs
        "A-1;Дубль;X;Основной;9;1,00;4600000000010;;;;",  # 11
    ])

    code, result, stderr = cli.json("export-stock")

    assert code == 0, stderr
    assert {i["sku"]: (i["quantity"], i["price"]) for i in site.stock_items} == {"A-1": (2, 1234.5),
                                                                                 "A-9": (2, 10.0)}
    assert counts(result)["skipped_rows"] == 8
    for line in (3, 4, 5, 6, 7, 8, 9, 11):
        assert any(e.startswith(f"stock file line {line}") for e in errors(result)), (line, errors(result))
        assert f"line {line}" in stderr
    assert "negative" in next(e for e in errors(result) if "line 4 " in e)
    assert "duplicated sku" in next(e for e in errors(result) if "line 11 " in e)


# -- orders that cannot be booked as they are ---------------------------------------------------------
def test_bad_orders_are_rejected_and_shown_the_rest_of_the_page_is_booked(cli, megapteka):
    _, site = megapteka
    ok(cli, "export-stock")
    unknown = site.add_order([order_line("Z-404", "4609999999999", 1)])
    huge = site.add_order([order_line("", "", 1_000_000, protek_code=TERAFLU_PROTEK)])
    zero = site.add_order([order_line(*ARBIDOL, 0)])
    no_quantity = site.add_order([{"sku": ARBIDOL[0], "name": "Арбидол", "barcode": ARBIDOL[1], "price": 412.0}])
    no_items = site.add_order([])
    no_number = site.add_order([order_line(*ARBIDOL, 1)])
    del site.orders[no_number["id"]]["number"]
    good = site.add_order([order_line(*NUROFEN, 2)])
    rejected = (zero, no_quantity, no_items, no_number)

    code, result, stderr = cli.json("pull-orders")

    assert code == 0, stderr
    assert counts(result) == {"received": 7, "booked_full": 1, "booked_partial": 1, "not_booked": 1,
                              "rejected": 4}
    problems = errors(result)
    assert len(problems) == 4
    for words in ("'quantity'", "'items'", "'number'"):
        assert any(words in p for p in problems), (words, problems)
        assert words in stderr
    ok(cli, "push-statuses")
    assert [site_statuses(site, o) for o in (unknown, huge, good)] == [[3], [1], [1]]
    assert site.order_statuses[huge["id"]][0]["comment"] == "Есть 5 из 1000000"
    assert all(site_statuses(site, o) == [] for o in rejected)
    code, listed, _ = cli.json("bookings", "list", "--state", "rejected")
    assert sorted(b["id"] for b in listed["bookings"]) == sorted(o["id"] for o in rejected)
    check = cli.run("status", "--check")
    assert check.returncode == 1 and "4 orders not accepted" in check.stderr

    site.resend_order(zero["id"])  # the site sends it again: still one row, still rejected
    assert counts(ok(cli, "pull-orders"))["already_known"] == 1
    assert saved_orders(cli).count(zero["id"]) == 1

    assert cli.run("status", "--ack").returncode == 0  # a person has looked at them
    assert cli.run("status", "--check").returncode == 0


# -- replies that are malformed, refused, late or lost ------------------------------------------------
def test_a_malformed_reply_is_75_and_loses_nothing(cli, megapteka):
    _, site = megapteka
    first = pulled(cli, site, 1)
    cursor = orders_cursor(cli)
    later = [site.add_order([order_line(*NUROFEN, 1)]) for _ in range(2)]
    site.faults.malformed_rate = 1.0

    code, result, stderr = cli.json("pull-orders", MAORDERS_HTTP_RETRIES="1")

    assert code == 75 and "malformed" in error_lines(stderr)[0]
    assert orders_cursor(cli) == cursor
    assert saved_orders(cli) == [first[0]["id"]]

    site.faults.malformed_rate = 0.0
    assert counts(ok(cli, "pull-orders"))["booked_full"] == 2
    assert counts(ok(cli, "pull-orders")).get("booked_full", 0) == 0
    ok(cli, "push-statuses")
    assert saved_orders(cli) == [o["id"] for o in first + later]
    assert [site_statuses(site, o) for o in first + later] == [[1], [1], [1]]


def test_a_truncated_orders_page_is_75_then_every_order_is_booked_once(cli, megapteka):
    _, site = megapteka
    ok(cli, "export-stock")
    orders = [site.add_order([order_line(*NUROFEN, 1)]) for _ in range(3)]
    cut = [True]

    def truncated(original, request, params, body):
        reply = original(request, params, body)
        if cut[0]:
            reply.body = reply.body[: len(reply.body) - 7]
        return reply

    wrap(site, "_get_orders", truncated)

    code, _, stderr = cli.json("pull-orders", MAORDERS_HTTP_RETRIES="1")
    assert code == 75 and "not JSON" in stderr
    assert (orders_cursor(cli), saved_orders(cli)) == (None, [])

    cut[0] = False
    assert counts(ok(cli, "pull-orders"))["booked_full"] == 3
    ok(cli, "push-statuses")
    assert [site_statuses(site, o) for o in orders] == [[1], [1], [1]]


def test_a_status_reply_cut_after_the_site_applied_it_is_resent_with_the_same_id(cli, megapteka):
    _, site = megapteka
    (order,) = pulled(cli, site, 1)
    cut = [True]

    def truncated(original, request, params, body):
        reply = original(request, params, body)
        if cut[0]:
            reply.body = reply.body[:5]
        return reply

    wrap(site, "_post_status", truncated)
    code, _, _ = cli.json("push-statuses", MAORDERS_HTTP_RETRIES="1")
    assert code == 75
    assert status_outbox(cli) == [(f"{order['id']}/1", "retry", 1)]

    cut[0] = False
    ok(cli, "push-statuses")
    assert site_statuses(site, order) == [1]
    assert site.counters["status"] == 1
    assert status_outbox(cli) == [(f"{order['id']}/1", "sent", 2)]


def test_an_expired_token_is_refreshed_once(cli, megapteka):
    _, site = megapteka
    orders = pulled(cli, site, 1, 1)
    granted = count_tokens(site)
    site.on_effect = lambda effect: site.expire_tokens() if effect == "status" else None

    result = ok(cli, "push-statuses")

    assert counts(result)["statuses_sent"] == 2
    assert len(granted) == 2  # the login, then one refresh after the 401
    assert [site_statuses(site, o) for o in orders] == [[1], [1]]


def test_a_wrong_secret_is_69_and_sends_nothing(cli, megapteka):
    _, site = megapteka
    pulled(cli, site, 1)
    queued = status_outbox(cli)

    code, result, stderr = cli.json("push-statuses", MEGAPTEKA_SECRET="not-the-secret")

    assert code == 69 and result["exit_code"] == 69
    assert "401" in error_lines(stderr)[0]
    assert site.counters["status"] == 0
    assert status_outbox(cli) == queued
    assert cli.run("status", "--check").returncode == 1  # the last push-statuses exited 69


def test_a_token_refused_even_after_a_refresh_is_69(cli, megapteka):
    _, site = megapteka
    pulled(cli, site, 1)
    granted = count_tokens(site)

    def refuse(request):
        raise ApiError(401, "unauthorized", "this token is refused, fresh or not")

    site._check_token = refuse

    code, _, stderr = cli.json("push-statuses")

    assert code == 69
    assert "401 after a token refresh" in error_lines(stderr)[0]
    assert len(granted) == 2


def test_429_with_retry_after_is_waited_out(cli, megapteka):
    _, site = megapteka
    (order,) = pulled(cli, site, 1)
    site.faults.rate_limit_every, site.faults.retry_after = 2, 1

    result = ok(cli, "push-statuses", MAORDERS_HTTP_RETRIES="2")

    assert counts(result)["statuses_sent"] == 1
    assert site.counters["fault_429"] >= 1
    assert "429" in cli.log_text() and "retrying" in cli.log_text()
    assert site_statuses(site, order) == [1]


def test_429_when_retries_are_spent_is_75_and_sent_later_once(cli, megapteka):
    _, site = megapteka
    (order,) = pulled(cli, site, 1)
    site.faults.rate_limit_every = 1  # every request

    code, _, stderr = cli.json("push-statuses")
    assert code == 75 and "429" in error_lines(stderr)[0]

    site.faults.rate_limit_every = 0
    ok(cli, "push-statuses")
    assert site_statuses(site, order) == [1]


def test_5xx_bursts_end_in_0_or_75_and_never_send_a_status_twice(cli, megapteka):
    _, site = megapteka
    ok(cli, "export-stock")
    orders = [site.add_order([order_line(*NUROFEN, 1)]) for _ in range(4)]
    site.faults.error_rate = 0.5
    codes = []
    for command in ("pull-orders", "push-statuses") * 2:
        code, result, _ = cli.json(command, MAORDERS_HTTP_RETRIES="2")
        assert code in (0, 75), result
        codes.append(code)
    assert site.counters["fault_500"] > 0

    site.faults.error_rate = 0.0
    ok(cli, "pull-orders")
    ok(cli, "push-statuses")
    assert [site_statuses(site, o) for o in orders] == [[1]] * 4
    assert site.counters["status"] == 4
    assert sorted(saved_orders(cli)) == [o["id"] for o in orders]


def test_a_timeout_is_75_and_nothing_is_lost(cli, megapteka):
    _, site = megapteka
    (order,) = pulled(cli, site, 1)
    site.faults.delay = 1.6

    code, _, stderr = cli.json("push-statuses", MAORDERS_HTTP_TIMEOUT="1")
    assert code == 75 and "Timeout" in error_lines(stderr)[0]

    site.faults.delay = 0.0
    ok(cli, "push-statuses")
    assert site_statuses(site, order) == [1]


def test_a_status_applied_after_the_client_timed_out_is_not_applied_twice(cli, megapteka):
    _, site = megapteka
    (order,) = pulled(cli, site, 1)
    site.on_effect = lambda effect: time.sleep(1.6) if effect == "status" else None  # late reply

    code, _, _ = cli.json("push-statuses", MAORDERS_HTTP_TIMEOUT="1")
    assert code == 75
    assert site_statuses(site, order) == [1]  # the site did apply it

    site.on_effect = None
    ok(cli, "push-statuses")
    assert site_statuses(site, order) == [1]
    assert site.counters["status"] == 1
    assert status_outbox(cli)[0][1:] == ("sent", 2)


def test_dropped_connections_are_75_and_nothing_is_lost(cli, megapteka):
    _, site = megapteka
    first = pulled(cli, site, 1)
    later = site.add_order([order_line(*NUROFEN, 1)])
    site.faults.drop_rate = 1.0

    for command in ("pull-orders", "push-statuses"):
        code, _, stderr = cli.json(command)
        assert code == 75 and "ConnectionError" in error_lines(stderr)[0], stderr
    assert saved_orders(cli) == [first[0]["id"]]

    site.faults.drop_rate = 0.0
    ok(cli, "pull-orders")
    ok(cli, "push-statuses")
    assert [site_statuses(site, o) for o in (*first, later)] == [[1], [1]]


def test_a_connection_dropped_after_the_effect_is_retried_without_a_duplicate(cli, megapteka):
    _, site = megapteka
    orders = pulled(cli, site, 1, 1)
    site.faults.drop_after_effect = 1  # the first status is applied, then its reply is lost

    result = ok(cli, "push-statuses", MAORDERS_HTTP_RETRIES="1")

    assert counts(result)["statuses_sent"] == 2
    assert [site_statuses(site, o) for o in orders] == [[1], [1]]
    assert site.counters["status"] == 2


# -- the journal ------------------------------------------------------------------------------------
def chmod_stops_us(folder: Path) -> bool:
    probe = folder / "probe"
    probe.write_text("x")
    probe.chmod(0o444)
    try:
        with probe.open("a"):
            return False  # root: chmod does not stop it
    except PermissionError:
        return True
    finally:
        probe.unlink()


@contextmanager
def read_only(paths: list[Path]) -> Iterator[None]:
    """chmod them read-only; as root, whom chmod does not stop, set the immutable flag (or skip)."""
    if chmod_stops_us(paths[0]):
        modes = {path: path.stat().st_mode for path in paths}
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    names = [str(path) for path in paths]
    try:
        if not shutil.which("chattr") or subprocess.run(["chattr", "+i", *names], capture_output=True).returncode:
            pytest.skip("running as root and the file system has no immutable flag: cannot make a read-only file")
        yield
    finally:
        if shutil.which("chattr"):
            subprocess.run(["chattr", "-i", *names], capture_output=True)


def test_a_read_only_journal_is_73(cli, megapteka):
    _, site = megapteka
    pulled(cli, site, 1)
    site.add_order([order_line(*NUROFEN, 1)])
    folder = cli.journal.parent
    before = saved_orders(cli)

    with read_only([folder, *sorted(folder.glob("journal.db*"))]):
        code, result, stderr = cli.json("pull-orders")

    assert code == 73 and result["exit_code"] == 73, stderr
    assert code == 73 and result["exit_code"] == 73, stderr
    assert saved_orders(cli) == before
    assert counts(ok(cli, "pull-orders"))["booked_full"] == 1  # writable again: the order was not lost


@pytest.mark.parametrize("command", [("pull-orders",), ("bookings", "list"), ("status",)])
def test_a_journal_that_cannot_be_created_is_73(cli, megapteka, command):
    blocker = cli.workdir / "not-a-folder"
    blocker.write_text("a regular file where the journal's folder should be")
    bad = blocker / "journal.db"

    code, result, stderr = cli.json(*command, MAORDERS_JOURNAL=str(bad))

    assert code == 73 and result["exit_code"] == 73
    assert len(error_lines(stderr)) == 1 and str(blocker) in error_lines(stderr)[0], stderr


def test_a_journal_that_is_not_sqlite_is_73(cli, megapteka):
    cli.journal.write_bytes(b"this is not a database, " * 100)
    code, _, stderr = cli.json("pull-orders")
    assert code == 73
    assert str(cli.journal) in error_lines(stderr)[0]


def test_a_log_folder_that_cannot_be_created_is_73(cli, megapteka):
    blocker = cli.workdir / "logs-file"
    blocker.write_text("x")
    code, _, stderr = cli.json("pull-orders", MAORDERS_LOG_DIR=str(blocker / "logs"))
    assert code == 73
    assert "log directory" in error_lines(stderr)[0]


def test_a_journal_locked_by_another_program_is_75(cli, megapteka):
    _, site = megapteka
    pulled(cli, site, 1)
    site.add_order([order_line(*NUROFEN, 1)])
    runs = journal(cli, "SELECT COUNT(*) FROM runs")
    holder = sqlite3.connect(cli.journal, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # held past the CLI's busy timeout
    try:
        code, result, stderr = cli.json("pull-orders", MAORDERS_BUSY_TIMEOUT="1")
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert code == 75 and result["exit_code"] == 75
    assert "locked" in error_lines(stderr)[0]
    assert journal(cli, "SELECT COUNT(*) FROM runs") == runs
    assert counts(ok(cli, "pull-orders"))["booked_full"] == 1  # the next run goes on


def test_two_passes_of_one_kind_at_once_the_second_exits_75_at_once(cli, megapteka):
    _, site = megapteka
    (order,) = pulled(cli, site, 1)
    site.add_order([order_line(*NUROFEN, 1)])
    owner = cli.journal.parent / "locks" / f"{cli.journal.stem}.pull-orders.owner"
    site.faults.delay = 2.0  # keeps the first pass busy on the wire
    first = cli.popen("pull-orders")
    try:
        deadline = time.monotonic() + 20
        while not owner.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert owner.exists(), "the first pass never took its lock"

        code, result, stderr = cli.json("pull-orders")
        still_running = first.poll() is None
        other_kind = cli.run("expire-bookings")  # another kind of pass is not held up
    finally:
        site.faults.delay = 0.0
        _, err = first.communicate(timeout=60)

    assert code == 75 and result["exit_code"] == 75
    assert "already running" in error_lines(stderr)[0] and f"pid {first.pid}" in error_lines(stderr)[0]
    assert still_running, "the second pass waited for the first instead of leaving at once"
    assert other_kind.returncode == 0, other_kind.stderr
    assert first.returncode == 0, err
    assert len(saved_orders(cli)) == 2 and order["id"] in saved_orders(cli)


# -- settings ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("drop, change, variable", [
    (("MEGAPTEKA_SECRET",), {}, "MEGAPTEKA_SECRET"),
    ((), {"MEGAPTEKA_SECRET": "  "}, "MEGAPTEKA_SECRET"),
    ((), {"MEGAPTEKA_BOOKING_TTL_HOURS": "двое суток"}, "MEGAPTEKA_BOOKING_TTL_HOURS"),
    ((), {"MEGAPTEKA_BOOKING_TTL_HOURS": "-1"}, "MEGAPTEKA_BOOKING_TTL_HOURS"),
    ((), {"MEGAPTEKA_URL": "megapteka.example"}, "MEGAPTEKA_URL"),
    ((), {"MAORDERS_HTTP_RETRIES": "many"}, "MAORDERS_HTTP_RETRIES"),
])
def test_bad_settings_are_78_naming_the_variable(cli, megapteka, drop, change, variable):
    broken = other_cli(cli, drop, **change)
    done = broken.run("pull-orders")
    assert done.returncode == 78, done.stderr
    assert len(error_lines(done.stderr)) == 1 and variable in error_lines(done.stderr)[0]
    code, result, _ = broken.json("expire-bookings")  # --json: still the one object
    assert (code, result["exit_code"], result["command"]) == (78, 78, "expire-bookings")
    assert variable in result["error"]
    assert megapteka[1].counters["requests"] == 0
    assert not broken.journal.exists()


# -- secrets and personal data --------------------------------------------------------------------------
SECRET = "Vault-7f3K9q-s3cret-value"
WRONG_SECRET = "Guess-the-s3cret-Q81"
CUSTOMER = {"name": "Ковалевская Евдокия Петровна", "phone": "+7 (916) 123-45-67"}
NEVER = [SECRET, WRONG_SECRET, "Ковалевская", "Евдокия", "+79161234567", "79161234567", "9161234567",
         "123-45-67", "(916)"]


def test_secrets_tokens_and_customers_never_reach_logs_or_output(cli, megapteka):
    _, site = megapteka
    site.secret = SECRET
    cli.env["MEGAPTEKA_SECRET"] = SECRET
    granted = count_tokens(site)
    said: list[str] = []

    def run(*args: str, **env: str) -> int:
        done = cli.run("-v", *args, **env)
        said.extend([done.stdout, done.stderr])
        return done.returncode

    assert run("export-stock") == 0
    site.add_order([order_line(*NUROFEN, 2)], customer=CUSTOMER)
    site.add_order([order_line(*ARBIDOL, 0)], customer=CUSTOMER, comment=f"Позвонить {CUSTOMER['phone']}")
    partial = site.add_order([order_line(*ARBIDOL, 9)], customer=CUSTOMER)
    assert run("pull-orders") == 0
    assert run("bookings", "request-confirmation", partial["number"]) == 0
    site.on_effect = lambda effect: site.expire_tokens() if effect == "status" else None  # 401s
    site.faults.error_rate = 0.3
    assert run("push-statuses", MAORDERS_HTTP_RETRIES="1") in (0, 75)
    site.faults.error_rate, site.faults.malformed_rate = 0.0, 1.0
    assert run("push-statuses") == 75
    site.faults.malformed_rate = 0.0
    assert run("push-statuses", MEGAPTEKA_SECRET=WRONG_SECRET) == 69
    assert run("push-statuses") == 0
    for args in (("status",), ("--json", "status"), ("bookings", "list"),
                 ("bookings", "show", partial["number"]), ("--json", "bookings", "show", partial["number"]),
                 ("--json", "doctor")):
        assert run(*args) in (0, 1)

    written = "\n".join(said) + cli.log_text()
    assert len(granted) >= 3 and cli.log_text()
    for value in NEVER + granted:
        assert value not in written, f"{value!r} leaked"
    assert site.order_statuses, "the passes did talk to the site"
