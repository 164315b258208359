"""`maorders serve`: warm workers for the till's scan-qr, and the command's way to them.

The till program runs the installed `maorders` as always; with the service running, the sale
is made by a warm worker with the till's own environment. Whatever is wrong on the way (no
service, a stale or false one, a dead worker) the command makes the sale itself.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path

import psutil
import pytest

from conftest import MAORDERS, base_env, wait_dead
from loyalty_fixtures import CARD, TOKEN, loyalty_cli, megainsight  # noqa: F401
from maorders.tillservice import GLOBAL_FLAGS, GLOBAL_VALUES, service_file

SALE = ("--code", CARD, "--line", "AI95:40:56.00")


class Service:
    """`maorders serve` of the test's own user folder, started with NO settings of its own."""

    def __init__(self, workdir: Path, user: dict[str, str]):
        (workdir / "service").mkdir(exist_ok=True)
        self.env = {**base_env(workdir / "service"), **user}
        (workdir / "service" / "none.env").write_text("", encoding="utf-8")
        self.file = service_file()
        self.process = subprocess.Popen([MAORDERS, "serve"], env=self.env, cwd=workdir, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        encoding="utf-8")
        deadline = time.monotonic() + 60
        while not self.file.exists():
            assert self.process.poll() is None, self.process.communicate()
            assert time.monotonic() < deadline, "serve never published its port"
            time.sleep(0.05)

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children()

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM if sys.platform != "win32" else signal.CTRL_BREAK_EVENT)
        _, err = self.process.communicate(timeout=30)
        return err


@pytest.fixture
def user(tmp_path: Path, monkeypatch, loyalty_cli) -> dict[str, str]:
    """The test's own user folder (where the service leaves its address), for the service, the
    till's command and this process's `service_file()` alike."""
    folder = {"XDG_CACHE_HOME": str(tmp_path / "user-cache"), "LOCALAPPDATA": str(tmp_path / "user-cache")}
    for name, value in folder.items():
        monkeypatch.setenv(name, value)
    loyalty_cli.env.update(folder)
    return folder


@pytest.fixture
def service(tmp_path: Path, user: dict[str, str]):
    running = Service(tmp_path, user)
    yield running
    running.stop()


def test_the_sale_is_made_by_a_warm_worker_with_the_tills_environment(loyalty_cli, megainsight, service):
    code, loyalty, err = loyalty_cli.sale(*SALE, "--receipt-number", "0042")
    assert code == 0, err
    assert loyalty["result"]["total_to_pay"] > 0 and loyalty["result"]["operation_id"]
    code, again, err = loyalty_cli.sale(*SALE, "--receipt-number", "0042")
    assert code == 0 and again["result"]["already_confirmed"], err
    assert megainsight.app.counters["confirm"] == 1
    told = service.stop()
    assert told.count("scan-qr: exit 0") == 2, told  # both runs went through the service
    assert CARD not in told and TOKEN not in told  # never a customer's card nor the token
    assert not service.file.exists()  # a stopped service leaves no address behind


def test_a_worker_killed_right_after_the_confirm_was_applied_loses_nothing(loyalty_cli, megainsight, service):
    """The worst instant: the service applied the sale, the worker died before answering.
    The command runs the receipt itself, asks by request id first: one operation, exit 0."""
    def kill_the_workers(effect: str) -> None:
        if effect == "confirm":
            for worker in service.workers():
                with suppress(psutil.NoSuchProcess):
                    worker.kill()
                wait_dead(worker.pid)

    megainsight.app.on_effect = kill_the_workers
    try:
        code, loyalty, err = loyalty_cli.sale(*SALE, "--receipt-number", "0043")
    finally:
        megainsight.app.on_effect = None
    assert code == 0, err
    assert loyalty["result"]["already_confirmed"] and megainsight.app.counters["confirm"] == 1
    assert "scan-qr: run by the command itself" in service.stop()


def test_a_stale_address_or_a_false_service_never_gets_the_environment(loyalty_cli, megainsight, user):
    from maorders.tillservice import PACKAGE

    place = service_file()
    place.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket() as closed:  # a port nobody listens on any more
        closed.bind(("127.0.0.1", 0))
        stale_port = closed.getsockname()[1]
    place.write_text(json.dumps({"port": stale_port, "token": "t", "commands": ["scan-qr"], "package": PACKAGE}),
                     encoding="utf-8")
    code, _, err = loyalty_cli.sale(*SALE, "--receipt-number", "0044")
    assert code == 0, err

    received: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as false_service:
        def answer_wrongly() -> None:
            conn, _ = false_service.accept()
            with conn:
                stream = conn.makefile("rwb")
                stream.readline()  # the challenge
                stream.write(b'{"proof": "not it"}\n')
                stream.flush()
                received.append(stream.read())  # whatever comes after: must be nothing
        listener = threading.Thread(target=answer_wrongly)
        listener.start()
        place.write_text(json.dumps({"port": false_service.getsockname()[1], "token": "t",
                                     "commands": ["scan-qr"], "package": PACKAGE}), encoding="utf-8")
        code, _, err = loyalty_cli.sale(*SALE, "--receipt-number", "0045")
        listener.join(30)
    assert code == 0, err
    assert received == [b""]  # the till's environment (with MEGAINSIGHT_TOKEN) was never sent
    assert megainsight.app.counters["confirm"] == 2


def test_one_service_per_user(service):
    second = subprocess.run([MAORDERS, "serve"], env=service.env, capture_output=True, text=True,
                            encoding="utf-8", stdin=subprocess.DEVNULL, timeout=60)
    assert second.returncode == 75 and "serve is already running" in second.stderr


def test_the_command_knows_the_clis_global_options():
    """The entry point reads the global options without typer: both lists must agree."""
    import typer

    from maorders.cli import app

    params = typer.main.get_command(app).params
    flags = {name for p in params if getattr(p, "is_flag", False) for name in p.opts}
    values = {name for p in params if not getattr(p, "is_flag", False) for name in p.opts}
    assert flags == set(GLOBAL_FLAGS) and values == set(GLOBAL_VALUES)


def test_doctor_says_whether_the_till_service_answers(loyalty_cli, megainsight, user):
    code, without, err = loyalty_cli.json("doctor")
    (check,) = [c for c in without["checks"] if c["check"] == "till service"]
    assert code == 0 and not check["ok"] and check["warning"], err  # cold, but it works: not a failure
    running = Service(Path(loyalty_cli.workdir), user)
    try:
        code, served, err = loyalty_cli.json("doctor")
    finally:
        running.stop()
    (check,) = [c for c in served["checks"] if c["check"] == "till service"]
    assert code == 0 and check["ok"] and str(running.process.pid) in check["detail"], err


def test_killed_at_random_instants_with_the_service_one_operation_per_receipt(loyalty_cli, megainsight, service):
    """The till's command killed (the service stops its worker with it), or the worker killed
    mid-sale (the command goes on by itself): either way, the receipt run again gives the one
    operation."""
    import random

    for number in range(4):
        receipt = f"K{number:04d}"
        sale = (*SALE, "--receipt-number", receipt)
        before = megainsight.app.counters["requests"]
        proc = loyalty_cli.popen("--json", "scan-qr", *sale, "--yes")
        deadline = time.monotonic() + 30
        while megainsight.app.counters["requests"] == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(random.Random(number).uniform(0, 0.05))  # identify → confirm takes a few hundredths
        victims = [psutil.Process(proc.pid)] if number % 2 == 0 else service.workers()
        for victim in victims:
            with suppress(psutil.NoSuchProcess):
                victim.kill()
        proc.communicate(timeout=60)
        for _ in range(6):  # 75 while the worker still holds the sale: the till runs it again
            code, loyalty, err = loyalty_cli.sale(*sale)
            if code != 75:
                break
        assert code == 0, err
        mine = [op for op in megainsight.app.purchases() if op.receipt_number == receipt]
        assert len(mine) == 1 and loyalty["result"]["operation_id"] == mine[0].id


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal (os.openpty)")
def test_a_cashier_at_a_terminal_is_never_handed_over(loyalty_cli, megainsight, service):
    """The panel and the questions need the command's own terminal: it runs the sale itself."""
    from test_loyalty_e2e import test_cashier_at_a_terminal_picks_offers_and_points as at_a_terminal

    at_a_terminal(loyalty_cli, megainsight)
    assert "scan-qr:" not in service.stop()  # the service ran nothing
