"""The `maorders` entry point, and the warm worker of the till service (`maorders serve`).

A cashier waits for `scan-qr`. Starting Python and importing typer, requests and the rest
takes ~0.3 s on a till PC before any work is done; a process that has done it already
answers in a few hundredths of a second. The service and the way to it are in
`maorders.tillservice`; here are the two ends that run the CLI:

- `main()`: hand the run to the user's service when it has a warm worker for the command,
  else run the CLI here (a till program's call; at a terminal the command always runs itself,
  with its questions and panels). Whatever goes wrong on the way (no service, a stale file, a
  refused token, a worker that died or was stopped, all workers busy) the command runs itself,
  exactly as without the service. A rerun of the same receipt is what the journal is built for.
- `worker()`: a process of the pool, with everything imported, that runs one request.

This module imports only the standard library until it knows whether a worker runs the command.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from maorders.tillservice import READY, command_of, published, receive, send, set_gate
from maorders.tillservice import ask as _ask


def main() -> None:
    """The `maorders` command: a warm worker's run when the service has one, else the CLI here."""
    code = forwarded(sys.argv[1:])
    if code is None:
        from maorders.cli import main as run_here

        run_here()
    sys.exit(code)


# -- the client side: hand the run to the service --------------------------------------
def forwarded(argv: list[str]) -> int | None:
    """The exit code of the run a warm worker made of `argv`, or None: run it here."""
    command = command_of(argv)
    if command is None or "--help" in argv or "-h" in argv or _on_a_terminal():
        return None
    service = published()
    if service is None or command not in service.get("commands", ()):
        return None
    reply = _ask(service, {"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()})
    if not isinstance(reply, dict) or not isinstance(reply.get("exit_code"), int):
        return None
    sys.stdout.write(str(reply.get("stdout", "")))
    sys.stdout.flush()
    sys.stderr.write(str(reply.get("stderr", "")))
    sys.stderr.flush()
    return reply["exit_code"]


def _on_a_terminal() -> bool:
    """A person at a terminal gets the questions and panels only a run here can show."""
    return any(stream is not None and stream.isatty() for stream in (sys.stdin, sys.stderr))


# -- the worker: one run in a warm process ----------------------------------------------------
def worker() -> None:
    """Import everything a resident pass needs, say so, run one request, answer, exit."""
    import io
    import time
    from contextlib import redirect_stderr, redirect_stdout

    import typer

    from maorders import cli

    _preload()
    command = typer.main.get_command(cli.app)  # ~15 ms of typer's a run would spend
    answer, inbox = sys.stdout.buffer, sys.stdin.buffer
    answer.write(READY.encode() + b"\n")
    answer.flush()
    try:
        request = receive(inbox)
    except ValueError:  # the service stopped
        return
    sys.stdin = io.StringIO()  # the pipe is the service's: a pass reads nothing from it
    set_gate(lambda: _caller_present(answer, inbox))
    os.environ.clear()
    os.environ.update(request["env"])
    if hasattr(time, "tzset"):  # the till's time zone, for the journal's local times
        time.tzset()
    os.chdir(request["cwd"])
    sys.argv = ["maorders", *request["argv"]]
    printed, told = io.StringIO(), io.StringIO()
    code: Any = 0
    with redirect_stdout(printed), redirect_stderr(told):
        try:
            cli.main(command)
        except SystemExit as exc:
            code = exc.code
    send(answer, {"exit_code": code if isinstance(code, int) else 1, "stdout": printed.getvalue(),
                  "stderr": told.getvalue()})


def _caller_present(answer: Any, inbox: Any) -> bool:
    """Ask the service whether the caller's connection is still open (before an effect)."""
    try:
        send(answer, {"ask": "caller"})
        reply = receive(inbox)
    except (OSError, ValueError):
        return False
    return isinstance(reply, dict) and reply.get("go") is True


def _preload() -> None:
    """The modules a resident pass uses, so that the run itself imports nothing."""
    import importlib

    from maorders import connectors
    from maorders.connector import load

    for module in ("maorders.http", "maorders.journal", "maorders.operations", "filelock", "logging.handlers",
                   "dotenv"):
        importlib.import_module(module)
    for connector in connectors.registered().values():
        load(connector.settings)
        for part in connector.passes.values():
            if part.resident:
                for reference in (part.run, part.lock, part.alerts, part.attended):
                    if isinstance(reference, str):
                        load(reference)


if __name__ == "__main__":
    worker()
