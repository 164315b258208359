"""Shared fixtures: real emulators on 127.0.0.1, a real journal file, the installed CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from maorders.megapteka.demo import STOCK

BIN = Path(sys.executable).parent
MAORDERS = shutil.which("maorders", path=str(BIN)) or shutil.which("maorders")

# Tests compare English text (issue 18: Russian is the people's default); the in-process CLI tests
# read the language from here, the subprocesses from base_env. Tests of the Russian texts set it.
os.environ.setdefault("MAORDERS_LANG", "en")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--crash-rounds", type=int, default=int(os.environ.get("MAORDERS_CRASH_ROUNDS", "6")),
                     help="rounds of the kill-and-rerun tests (CI runs a few; run 200 by hand)")


@pytest.fixture
def crash_rounds(request: pytest.FixtureRequest) -> int:
    return request.config.getoption("--crash-rounds")


@pytest.fixture
def megapteka():
    """A strict MegApteka emulator on a free port: (server, app)."""
    from maorders.megapteka.emulator import serve

    server, app = serve()
    app.rate_limit_rps = 0
    yield server, app
    server.stop()


class Cli:
    """Runs the installed `maorders` as a subprocess, the way Task Scheduler does."""

    def __init__(self, workdir: Path, env: dict[str, str]):
        self.workdir = workdir
        self.env = env

    @property
    def journal(self) -> Path:
        return Path(self.env["MAORDERS_JOURNAL"])

    def popen(self, *args: str, **extra_env: str) -> subprocess.Popen:
        return subprocess.Popen([MAORDERS, *args], env={**self.env, **extra_env}, cwd=self.workdir,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                text=True, encoding="utf-8")

    def run(self, *args: str, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess:
        return subprocess.run([MAORDERS, *args], env={**self.env, **extra_env}, cwd=self.workdir,
                              capture_output=True, stdin=subprocess.DEVNULL, text=True, encoding="utf-8",
                              timeout=timeout)

    def json(self, *args: str, **extra_env: str) -> tuple[int, dict[str, Any], str]:
        """Run with --json: (exit code, the one JSON object on stdout, stderr)."""
        done = self.run("--json", *args, **extra_env)
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, f"stdout must be one JSON object, got {done.stdout!r} / {done.stderr!r}"
        return done.returncode, json.loads(lines[0]), done.stderr

    def log_text(self) -> str:
        logs = Path(self.env["MAORDERS_LOG_DIR"])
        return "".join(p.read_text(encoding="utf-8") for p in logs.glob("*.log*")) if logs.exists() else ""


def base_env(workdir: Path) -> dict[str, str]:
    """A clean environment: no settings leak in from the machine running the tests."""
    keep = {k: v for k, v in os.environ.items()
            if k in ("PATH", "SYSTEMROOT", "HOME", "TMPDIR", "TEMP", "TMP", "LANG", "LC_ALL")}
    return {**keep, "PYTHONIOENCODING": "utf-8", "MAORDERS_JOURNAL": str(workdir / "journal.db"),
            "MAORDERS_LOG_DIR": str(workdir / "logs"), "MAORDERS_HTTP_TIMEOUT": "5",
            "MAORDERS_HTTP_RETRIES": "2", "MAORDERS_ENV_FILE": str(workdir / "none.env"),
            "MAORDERS_LANG": "en"}


@pytest.fixture
def cli(tmp_path: Path, megapteka) -> Cli:
    """The CLI configured for the MegApteka emulator, with the demo's cp1251 stock file."""
    server, _ = megapteka
    (tmp_path / "none.env").write_text("", encoding="utf-8")
    stock = tmp_path / "stock.csv"
    stock.write_bytes(STOCK.encode("cp1251"))
    env = base_env(tmp_path) | {
        "MEGAPTEKA_URL": server.url, "MEGAPTEKA_PHARMACY_CODE": "1001", "MEGAPTEKA_SECRET": "s3cret",
        "MEGAPTEKA_COMPANY_INFO": "Московская область, Подольск, Тест Аптека",
        "MEGAPTEKA_STOCK_FILE": str(stock), "MEGAPTEKA_DEPARTMENT": "Основной",
    }
    return Cli(tmp_path, env)


def order_line(sku: str, barcode: str, quantity: int, price: float = 100.0, **codes: str) -> dict[str, Any]:
    return {"sku": sku, "name": sku, "barcode": barcode, "protek_code": "", "katren_code": "", "egk_code": "",
            "quantity": quantity, "price": price, **codes}


# -- courier: MeaSoft and RetailCRM emulators, the CLI configured for them ----------------------
COURIER_STATUS_MAP = ("COMPLETE=complete,PARTIALLY=partially-delivered,CANCELED=cancel-other,"
                      "RETURNED=returned,DELIVERY=delivering")


class CourierEmulators:
    """Both courier remotes on free ports; `measoft`/`crm` are the emulator apps."""

    def __init__(self) -> None:
        from courier.emulator import serve_measoft, serve_retailcrm

        self.measoft_server, self.measoft = serve_measoft()
        self.crm_server, self.crm = serve_retailcrm()  # its 10 requests a second limit stays on

    def env(self) -> dict[str, str]:
        return {"RETAILCRM_URL": self.crm_server.url, "RETAILCRM_API_KEY": "crm-key", "RETAILCRM_SITE": "shop",
                "MEASOFT_URL": self.measoft_server.url, "MEASOFT_LOGIN": "test", "MEASOFT_PASSWORD": "testm",
                "MEASOFT_EXTRA": "8", "COURIER_SEND_STATUSES": "SentMeaSoft",
                "COURIER_DELIVERY_TYPES": "courier,incity", "COURIER_STATUS_MAP": COURIER_STATUS_MAP,
                "COURIER_COD_PAYMENT_TYPES": "cash,bank-card", "COURIER_PAYTYPE_MAP": "CASH=cash,CARD=bank-card",
                "COURIER_PAYMENT_STATUS": "paid", "COURIER_SYNC_PAYMENTS": "yes"}

    def stop(self) -> None:
        self.measoft_server.stop()
        self.crm_server.stop()


@pytest.fixture
def courier_emulators():
    emulators = CourierEmulators()
    yield emulators
    emulators.stop()


def courier_cli_for(workdir: Path, emulators: CourierEmulators) -> Cli:
    (workdir / "none.env").write_text("", encoding="utf-8")
    return Cli(workdir, base_env(workdir) | emulators.env())


@pytest.fixture
def courier_cli(tmp_path: Path, courier_emulators: CourierEmulators) -> Cli:
    """The CLI configured for the courier emulators only (no MegApteka)."""
    return courier_cli_for(tmp_path, courier_emulators)


def wait_dead(pid: int, timeout: float = 10.0) -> None:
    """Until the killed process is gone (a zombie is gone enough: it runs no more code)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.001)
    raise AssertionError(f"process {pid} still running after SIGKILL")
