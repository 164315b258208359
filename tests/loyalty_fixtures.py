"""Shared fixtures of the loyalty tests: the Megainsight emulator and the CLI configured for it.

Until the registry names `loyalty.connector`, the CLI runs through a two-line wrapper that
adds it (the same `maorders.cli:main`); once registered, the installed `maorders` runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import MAORDERS, Cli, base_env

TOKEN = "mi-network-token"
PLACE = "azs-0042"
CARD = "79093184923"
WRAPPER = ("import maorders.connectors as c\n"
           "c.REGISTRY = c.REGISTRY if 'loyalty.connector' in c.REGISTRY else c.REGISTRY + ('loyalty.connector',)\n"
           "from maorders.cli import main\nmain()\n")


def command() -> list[str]:
    from maorders import connectors

    if "loyalty.connector" in connectors.REGISTRY:
        return [MAORDERS]
    return [sys.executable, "-c", WRAPPER]


class LoyaltyCli(Cli):
    """`Cli` whose program is the installed maorders (or the wrapper, see above)."""

    def popen(self, *args: str, stdin: Any = subprocess.DEVNULL, **extra_env: str) -> subprocess.Popen:
        return subprocess.Popen([*command(), *args], env={**self.env, **extra_env}, cwd=self.workdir,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin,
                                text=True, encoding="utf-8")

    def run(self, *args: str, timeout: float = 60, **extra_env: str) -> subprocess.CompletedProcess:
        return subprocess.run([*command(), *args], env={**self.env, **extra_env}, cwd=self.workdir,
                              capture_output=True, stdin=subprocess.DEVNULL, text=True, encoding="utf-8",
                              timeout=timeout)

    def sale(self, *args: str, **extra_env: str) -> tuple[int, dict[str, Any], str]:
        """`--json scan-qr ARGS --yes`: (exit code, connectors.loyalty, stderr)."""
        code, summary, err = self.json("scan-qr", *args, "--yes", **extra_env)
        return code, summary["connectors"].get("loyalty", {"error": summary.get("error")}), err


class Megainsight:
    """The emulator on a free port, with the contract's sample client."""

    def __init__(self) -> None:
        from loyalty.emulator import sample_client, serve

        self.server, self.app = serve()
        self.client = sample_client(self.app)

    @property
    def url(self) -> str:
        return self.server.url

    def qr(self, ttl: float = 300) -> str:
        return self.app.issue_qr(self.client, ttl)

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def megainsight():
    emulator = Megainsight()
    yield emulator
    emulator.stop()


def loyalty_env(workdir: Path, url: str) -> dict[str, str]:
    (workdir / "none.env").write_text("", encoding="utf-8")
    (workdir / "none.env").chmod(0o600)  # doctor refuses a settings file every user can read
    return base_env(workdir) | {"MEGAINSIGHT_URL": url, "MEGAINSIGHT_TOKEN": TOKEN, "MEGAINSIGHT_PLACE_ID": PLACE,
                                "MEGAINSIGHT_BUDGET": "5"}


@pytest.fixture
def loyalty_cli(tmp_path: Path, megainsight: Megainsight) -> LoyaltyCli:
    return LoyaltyCli(tmp_path, loyalty_env(tmp_path, megainsight.url))


def journal_rows(cli: Cli, sql: str, params: tuple = ()) -> list[tuple]:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(f"file:{cli.journal}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return db.execute(sql, params).fetchall()


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class InProcess:
    """The same CLI in this process (typer's runner): for the many refusal cases, where a new
    interpreter per case would only measure Python's start."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    @property
    def journal(self) -> Path:
        return Path(self.env["MAORDERS_JOURNAL"])

    def json(self, *args: str, **extra_env: str) -> tuple[int, dict[str, Any]]:
        from typer.testing import CliRunner

        from maorders.cli import app

        result = CliRunner().invoke(app, ["--json", *args], env={**self.env, **extra_env}, catch_exceptions=False)
        lines = [line for line in result.stdout.splitlines() if line.strip().startswith("{")]
        assert len(lines) == 1, result.output
        return result.exit_code, json.loads(lines[0])

    def help(self, *args: str) -> str:
        from typer.testing import CliRunner

        from maorders.cli import app

        result = CliRunner().invoke(app, [*args], env=self.env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    def sale(self, *args: str, **extra_env: str) -> tuple[int, dict[str, Any]]:
        code, summary = self.json("scan-qr", *args, "--yes", **extra_env)
        return code, summary["connectors"].get("loyalty", {"errors": [summary.get("error")]})


@pytest.fixture
def in_process(tmp_path: Path, megainsight: Megainsight) -> InProcess:
    return InProcess(loyalty_env(tmp_path, megainsight.url))
