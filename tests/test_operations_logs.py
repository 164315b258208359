"""Issue 17 point 3 through the installed `maorders`: every run's last log line carries its exit
code, counts and reason (65/69/78 at ERROR, 75 at WARNING, a 78 too), and an operator action leaves an
audit line — who, what, when, with which arguments (masked) — in the log, the journal and `status`."""

from __future__ import annotations

import getpass
import json
import sqlite3
from pathlib import Path

from conftest import Cli, order_line
from test_cli_contract import closed_port_url


def last_line(path: Path) -> str:
    return path.read_text(encoding="utf-8").rstrip("\n").splitlines()[-1]


def test_point3_every_run_ends_its_log_with_code_counts_and_reason(cli):
    logs = Path(cli.env["MAORDERS_LOG_DIR"])
    assert cli.run("pull-orders").returncode == 0
    line = last_line(logs / "pull-orders.log")
    assert " INFO " in line and "pull-orders exit 0; megapteka: " in line

    assert cli.run("pull-orders", MEGAPTEKA_SECRET="not-the-secret").returncode == 69
    line = last_line(logs / "pull-orders.log")
    assert " ERROR " in line and "pull-orders exit 69; reason: megapteka: " in line
    assert "not-the-secret" not in line

    assert cli.run("pull-orders", MEGAPTEKA_URL=closed_port_url(), MAORDERS_HTTP_RETRIES="0").returncode == 75
    line = last_line(logs / "pull-orders.log")
    assert " WARNING " in line and "pull-orders exit 75; reason: " in line

    assert cli.run("export-stock", MEGAPTEKA_STOCK_FILE=str(cli.workdir / "missing.csv")).returncode == 65
    line = last_line(logs / "export-stock.log")
    assert " ERROR " in line and "export-stock exit 65; reason: " in line and "missing.csv" in line

    assert cli.run("pull-orders", MEGAPTEKA_DEPARTMENT="").returncode == 78
    line = last_line(logs / "errors.log")
    assert " ERROR " in line and "pull-orders exit 78; reason: MEGAPTEKA_DEPARTMENT" in line


def _booked_number(cli: Cli, megapteka) -> str:
    assert cli.run("export-stock").returncode == 0  # the stock the booking is taken from
    megapteka[1].add_order([order_line("A-1001", "4601234567890", 1)])
    assert cli.run("pull-orders").returncode == 0
    code, listed, _ = cli.json("bookings", "list")
    return listed["bookings"][0]["number"]


def test_point3_an_operator_action_leaves_an_audit_line_in_log_journal_and_status(cli, megapteka):
    number = _booked_number(cli, megapteka)
    assert cli.run("bookings", "list").returncode == 0  # reading changes nothing: no audit line
    assert cli.run("bookings", "ready", number).returncode == 0
    assert cli.run("status", "--ack").returncode == 0

    user = getpass.getuser()
    operator_log = (Path(cli.env["MAORDERS_LOG_DIR"]) / "operator.log").read_text(encoding="utf-8")
    assert f"operator {user}: bookings ready" in operator_log and number in operator_log
    assert f"operator {user}: status" in operator_log
    assert "bookings list" not in operator_log.replace("bookings ready", "")
    with sqlite3.connect(cli.journal) as db:
        rows = db.execute("SELECT user, action, arguments, exit_code, at FROM audit ORDER BY id").fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [(user, "bookings ready", 0), (user, "status", 0)]
    assert json.loads(rows[0][2]) == {"order": number} and rows[0][4]

    code, status, _ = cli.json("status")
    actions = [(a["user"], a["action"]) for a in status["activity"]]
    assert (user, "bookings ready") in actions and (user, "status") in actions
    shown = cli.run("status", MAORDERS_LANG="en").stdout  # status's tables are its result: stdout
    assert "Recent activity" in shown and "bookings ready" in shown


def test_point3_and_n_more_names_the_log_file(cli):
    header = "sku;name;manufacturer;department;quantity;price;barcode;protek_code;katren_code;egk_code;expires_at"
    rows = [f"B-{i};n;m;Основной;lots;1,00;;;;;" for i in range(25)]
    Path(cli.env["MEGAPTEKA_STOCK_FILE"]).write_text("\n".join([header, *rows]) + "\n", encoding="cp1251")
    done = cli.run("export-stock")
    log_file = Path(cli.env["MAORDERS_LOG_DIR"]) / "export-stock.log"
    assert f"… and 5 more (see the log {log_file})" in done.stderr
    assert "B-24" in log_file.read_text(encoding="utf-8")
