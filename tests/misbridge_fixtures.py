"""The cash desk's shared test fixtures: ТМ:МИС and sms.ru emulators, a real SMTP server (aiosmtpd),
and the installed CLI configured for them.

Until `misbridge.connector` is in the kernel's registry the CLI runs through a tiny launcher
that adds it first; once it is registered the launcher changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from conftest import MAORDERS, Cli, base_env
from misbridge.emulator import API_ID, CASHDESK, OGRN, OID, SmtpServer, serve_mis, serve_sms, service

LAUNCHER = """import sys
import maorders.connectors as c
if "misbridge.connector" not in c.REGISTRY:
    c.REGISTRY = c.REGISTRY + ("misbridge.connector",)
    c.registered.cache_clear()
from maorders.cli import main
sys.argv[0] = "maorders"
main()
"""


def registered() -> bool:
    import maorders.connectors as connectors

    return "misbridge.connector" in connectors.REGISTRY


def in_process_app() -> Any:
    """The real `maorders` typer app with the cash desk's groups, or None when it cannot be had
    in this process (maorders.cli imported earlier without misbridge registered)."""
    import maorders.connectors as connectors

    if "maorders.cli" not in sys.modules and not registered():
        connectors.REGISTRY = connectors.REGISTRY + ("misbridge.connector",)
        connectors.registered.cache_clear()
    import maorders.cli

    names = {group.name for group in maorders.cli.app.registered_groups}
    return maorders.cli.app if "receipts" in names else None


class MisCli(Cli):
    """`maorders`: a subprocess (through the launcher while misbridge is not registered), or with
    `inproc` the same typer app called in this process (no interpreter start: the 90 s budget)."""

    def __init__(self, workdir: Path, env: dict[str, str], inproc: bool = False):
        super().__init__(workdir, env)
        self.launcher = workdir / "maorders_launch.py"
        self.launcher.write_text(LAUNCHER, encoding="utf-8")
        self.app = in_process_app() if inproc else None

    def _in_process(self, args: tuple[str, ...], extra_env: dict[str, str]):
        import io
        import os
        import subprocess
        from contextlib import redirect_stderr, redirect_stdout

        import typer

        saved = dict(os.environ)
        out, err = io.StringIO(), io.StringIO()
        os.environ.clear()
        os.environ.update({**self.env, **extra_env})
        try:
            with redirect_stdout(out), redirect_stderr(err):
                try:
                    code = self.app(args=list(args), standalone_mode=False)
                except typer.Exit as exc:
                    code = exc.exit_code
                except typer.exceptions.TyperException as exc:
                    code = getattr(exc, "exit_code", 2)
                    if "--json" in args:
                        out.write(json.dumps({"exit_code": code, "error": exc.format_message()}) + "\n")
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return subprocess.CompletedProcess(list(args), code if isinstance(code, int) else 0, out.getvalue(),
                                           err.getvalue())

    def _argv(self, args: tuple[str, ...]) -> list[str]:
        return [MAORDERS, *args] if registered() else [sys.executable, str(self.launcher), *args]

    def popen(self, *args: str, **extra_env: str):
        import subprocess

        return subprocess.Popen(self._argv(args), env={**self.env, **extra_env}, cwd=self.workdir,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                text=True, encoding="utf-8")

    def run(self, *args: str, timeout: float = 120, **extra_env: str):
        import subprocess

        if self.app is not None:
            return self._in_process(args, extra_env)
        return subprocess.run(self._argv(args), env={**self.env, **extra_env}, cwd=self.workdir,
                              capture_output=True, stdin=subprocess.DEVNULL, text=True, encoding="utf-8",
                              timeout=timeout)

    # -- helpers ------------------------------------------------------------------------
    def pass_(self, command: str, *args: str, **env: str) -> tuple[int, dict[str, Any]]:
        code, summary, err = self.json(command, "--only", "misbridge", *args, **env)
        part = summary["connectors"].get("misbridge", {"counts": {}, "errors": [summary.get("error", err)]})
        return code, part

    def ok(self, command: str, **env: str) -> dict[str, int]:
        code, part = self.pass_(command, **env)
        assert code == 0, part
        return part["counts"]

    def op(self, *args: str, **env: str) -> tuple[int, dict[str, Any]]:
        code, body, _ = self.json(*args, **env)
        return code, body

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.journal)
        conn.row_factory = sqlite3.Row
        return conn

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with closing(self.db()) as conn:
            return [dict(r) for r in conn.execute(sql, params).fetchall()]

    def quick_pay(self, invoice: str, check: int, *payments: str, partial: bool = False,
                  email: str | None = None, phone: str | None = None) -> dict[str, Any]:
        """Set-up only: the same desk code as `receipts pay`, in-process (no interpreter start)."""
        from maorders.journal import Journal
        from maorders.settings import Env
        from misbridge import desk, settings

        journal = Journal.open(self.journal, ["misbridge.migrations:migrations"])
        try:
            return desk.record_receipt(journal, settings.read(Env(self.env)), invoice, check, list(payments),
                                       partial=partial, email=email, phone=phone)
        finally:
            journal.close()

    def outbox(self, kind: str) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM outbox WHERE connector = 'misbridge' AND kind = ? ORDER BY id", (kind,))


class ClinicRemotes:
    """ТМ:МИС and sms.ru emulators and a plain local SMTP server, on free ports."""

    def __init__(self, smtp: SmtpServer | None = None) -> None:
        self.mis_server, self.mis = serve_mis()
        self.sms_server, self.sms = serve_sms()
        self.smtp = smtp or SmtpServer().start()

    def env(self) -> dict[str, str]:
        return {"MIS_URL": self.mis_server.url, "MIS_OGRN": OGRN, "MIS_OID": OID, "MIS_CASHDESK_GUID": CASHDESK,
                "MIS_CASHDESK_NAME": "ККМ Филиал", "MIS_SHOP": "Клиника на ул. Горького",
                "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(self.smtp.port), "SMTP_STARTTLS": "no",
                "SMTP_FROM": "kassa@clinic.example", "SMS_URL": f"{self.sms_server.url}/sms/send",
                "SMS_API_ID": API_ID, "SMS_SENDER": "Clinic"}

    def stop(self) -> None:
        self.mis_server.stop()
        self.sms_server.stop()
        self.smtp.stop()


@pytest.fixture
def clinic():
    remotes = ClinicRemotes()
    yield remotes
    remotes.stop()


def clinic_cli_for(workdir: Path, remotes: ClinicRemotes, inproc: bool = True, **extra: str) -> MisCli:
    (workdir / "none.env").write_text("", encoding="utf-8")
    return MisCli(workdir, base_env(workdir) | remotes.env() | extra, inproc)


@pytest.fixture
def desk_cli(tmp_path: Path, clinic: ClinicRemotes) -> MisCli:
    """The CLI in this process (the real typer app); `installed_cli` is the subprocess."""
    return clinic_cli_for(tmp_path, clinic)


@pytest.fixture
def installed_cli(tmp_path: Path, clinic: ClinicRemotes) -> MisCli:
    """The installed `maorders` as a subprocess, as Task Scheduler runs it."""
    return clinic_cli_for(tmp_path, clinic, inproc=False)


def visit(remotes: ClinicRemotes, number: int = 6902, **fields: Any) -> dict[str, Any]:
    """An invoice for a visit: 2,000 at 0 % and 3,000 at 20 %, 5,000 due."""
    return remotes.mis.add_invoice(number, [service("B01.065.008", 2000, tax="0%", name="Приём врача"),
                                            service("A16.07.002", 3000, tax="20%", name="Пломба")], **fields)


__all__ = ["MisCli", "ClinicRemotes", "clinic", "desk_cli", "installed_cli", "clinic_cli_for", "visit", "service", "json"]
