"""The outside of the `maorders` command (CONTRACT.md): help, --json, exit codes for usage."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from typing import Any

import click
import pytest
import typer
from typer.testing import CliRunner

import maorders.cli
from conftest import Cli
from maorders.i18n import _

# in-process help is in this process's language; a text with no translation yet shows in English
EXAMPLES = (_("Example: {command}").format(command="").strip(), "Example:")
USAGE = _("Usage:")


def example_of(help_text: str) -> str | None:
    """The example command a help text gives, after its «Example:» in either language."""
    for marker in EXAMPLES:
        if marker in help_text:
            return help_text.split(marker, 1)[1].strip().splitlines()[0]
    return None

PASSES = ("export-stock", "pull-orders", "push-statuses", "expire-bookings")
NETWORK_PASSES = ("export-stock", "pull-orders", "push-statuses")


def command_tree() -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command and group under `maorders`, with its path of names."""
    found: list[tuple[tuple[str, ...], click.Command]] = []

    def walk(path: tuple[str, ...], command: click.Command) -> None:
        found.append((path, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk((*path, name), sub)

    walk((), typer.main.get_command(maorders.cli.app))
    return found


COMMANDS = command_tree()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def one_json_object(done: subprocess.CompletedProcess) -> dict[str, Any]:
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, (done.stdout, done.stderr)
    result = json.loads(lines[0])
    assert result["exit_code"] == done.returncode
    return result


# -- help ---------------------------------------------------------------------------------------------
def test_the_command_tree_has_every_pass_and_operator_command():
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {*PASSES, "bookings list", "bookings show", "bookings request-confirmation", "bookings ready",
            "bookings issue", "bookings delete", "status", "doctor", "demo", "sandbox"} <= paths


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) or "maorders" for p, _ in COMMANDS])
def test_every_command_has_help_with_an_example(path, command):
    assert command.help and command.help.strip(), f"maorders {' '.join(path)} has no help"
    example = example_of(command.help)
    assert example and example.startswith("maorders"), command.help
    assert all(word in example.split() for word in path), (path, example)


def test_help_is_printed_for_every_command():
    """Rendered in-process (the text is the same; the subprocess tests below show the wiring)."""
    runner = CliRunner()
    for path, _ in COMMANDS:
        done = runner.invoke(maorders.cli.app, [*path, "--help"], prog_name="maorders")
        assert done.exit_code == 0, (path, done.output)
        assert f"{USAGE} maorders" in done.output and example_of(done.output), path


@pytest.mark.parametrize("path", [(), ("pull-orders",), ("bookings", "ready")], ids=" ".join)
def test_the_installed_command_prints_help_and_touches_nothing(cli, megapteka, path):
    done = cli.run(*path, "--help", MAORDERS_LANG="en")
    assert done.returncode == 0, done.stderr
    assert "Usage: maorders" in done.stdout and "Example:" in done.stdout
    assert not cli.journal.exists()
    assert megapteka[1].counters["requests"] == 0


def test_python_dash_m_is_the_same_program(cli):
    module = subprocess.run([sys.executable, "-m", "maorders", "--help"], env=cli.env, cwd=cli.workdir,
                            capture_output=True, text=True, encoding="utf-8", timeout=60)
    script = cli.run("--help")
    assert module.returncode == script.returncode == 0, module.stderr
    assert module.stdout == script.stdout  # the same help, its usage line naming `maorders` in both
    for option in ("--env-file", "--journal", "--json", "--verbose", "--quiet"):
        assert option in module.stdout


# -- --json: one object, whatever happens ----------------------------------------------------------------
@pytest.mark.parametrize("command", PASSES)
def test_json_success_is_one_object_with_the_contract_fields(cli, megapteka, command):
    done = cli.run("--json", command)
    result = one_json_object(done)
    assert done.returncode == 0, done.stderr
    assert set(result) >= {"command", "exit_code", "started_at", "finished_at", "connectors"}
    assert result["command"] == command
    assert set(result["connectors"]["megapteka"]) >= {"ok", "counts", "errors"}
    assert result["connectors"]["megapteka"]["ok"] is True


def failure_env(cli: Cli, failure: str) -> dict[str, str]:
    blocker = cli.workdir / "a-file"
    blocker.write_text("a regular file where a folder should be")
    return {
        "site down": {"MEGAPTEKA_URL": closed_port_url(), "MAORDERS_HTTP_RETRIES": "0"},
        "setting missing": {"MEGAPTEKA_DEPARTMENT": ""},
        "journal cannot be created": {"MAORDERS_JOURNAL": str(blocker / "journal.db")},
        "stock file missing": {"MEGAPTEKA_STOCK_FILE": str(cli.workdir / "missing.csv")},
    }[failure]


def expected_code(failure: str, command: str) -> int:
    if failure == "site down":
        return 75 if command in NETWORK_PASSES else 0  # expire-bookings does not call the site
    if failure == "stock file missing":
        return 65 if command == "export-stock" else 0
    return {"setting missing": 78, "journal cannot be created": 73}[failure]


@pytest.mark.parametrize("failure", ["site down", "setting missing", "journal cannot be created",
                                     "stock file missing"])
@pytest.mark.parametrize("command", PASSES)
def test_json_on_failure_is_still_exactly_one_object(cli, megapteka, command, failure):
    done = cli.run("--json", command, **failure_env(cli, failure))

    result = one_json_object(done)
    assert done.returncode == expected_code(failure, command), done.stderr
    assert result["command"] == command
    if done.returncode:
        message = result.get("error") or result["connectors"]["megapteka"]["errors"][0]
        assert message and message.splitlines()[0] in done.stderr


@pytest.mark.parametrize("args, code", [
    (("bookings", "list"), 0),
    (("bookings", "show", "MA-404"), 65),
    (("bookings", "ready", "404"), 65),
    (("status",), 0),
    (("status", "--check"), 0),
])
def test_json_of_operator_commands_is_one_object(cli, megapteka, args, code):
    done = cli.run("--json", *args)
    one_json_object(done)
    assert done.returncode == code, done.stderr


def test_json_of_doctor_is_one_object_even_when_the_site_is_down(cli):
    done = cli.run("--json", "doctor", MEGAPTEKA_URL=closed_port_url(), MAORDERS_HTTP_RETRIES="0")
    result = one_json_object(done)
    assert done.returncode != 0
    assert any(c["check"] == "megapteka" and not c["ok"] for c in result["checks"])


# -- wrong usage: 2, and nothing happens -----------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ("no-such-command",),
    ("pull-orders", "--no-such-option"),
    ("pull-orders", "unexpected-argument"),
    ("bookings", "show"),
    ("bookings", "no-such-action", "MA-1001"),
    ("sandbox", "--port", "eighty"),
    ("--json",),
], ids=lambda args: " ".join(args))
def test_wrong_usage_is_2_and_touches_nothing(cli, megapteka, args):
    done = cli.run(*args, MAORDERS_LANG="en")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Usage:" in done.stderr
    assert not cli.journal.exists()
    assert megapteka[1].counters["requests"] == 0


def test_wrong_usage_with_json_still_prints_one_object(cli):
    done = cli.run("--json", "pull-orders", "--no-such-option")
    assert done.returncode == 2
    assert one_json_object(done)["exit_code"] == 2
    assert "no-such-option" in done.stderr


def test_only_naming_no_connector_is_wrong_usage(cli, megapteka):
    code, result, stderr = cli.json("pull-orders", "--only", "nosuch")
    assert code == 2 and result["exit_code"] == 2
    assert "nosuch" in stderr and megapteka[1].counters["requests"] == 0


def test_every_pass_a_connector_declares_can_be_imported():
    from maorders import connectors

    for name, connector in connectors.registered().items():
        for command in connector.passes:
            assert callable(connector.pass_function(command)), (name, command)
