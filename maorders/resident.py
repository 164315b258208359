"""A warm maorders for the passes a person waits for: `maorders serve` (the till service).

A cashier waits for `scan-qr`. Starting Python and importing typer, requests and the rest
takes ~0.3 s on a till PC before any work is done; a process that has done it already
answers in a few hundredths of a second.

`maorders serve` keeps WORKERS processes started, each with everything imported and waiting
for one run. A `maorders` command for a resident pass (`Pass.resident`) of the same install
finds the user's service through a file in the user's own folder (a port and a token only
that user can read), checks that the service knows the token, hands over its arguments,
environment (so its settings and journal, not the service's) and working
directory, prints what the worker printed and exits with its code (a till program's call: at
a terminal the command runs itself, with its questions and panels). Each run gets a fresh
process, so nothing is carried from one sale to the next; a new worker starts after it.

Whatever goes wrong on the way (no service, a stale file, a refused token, a worker that
died, all workers busy) the command runs itself, exactly as without the service. A rerun of
the same receipt is what the journal is built for, so nothing is lost or done twice.

This module is the `maorders` entry point: it imports only the standard library until it
knows whether a worker runs the command.
"""

from __future__ import annotations

import hmac
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

WORKERS = 2  # a sale and a scheduled `--reconcile` at the same moment both find one warm
READY = "ready"
PACKAGE = str(Path(__file__).resolve().parent)
MAX_MESSAGE = 1 << 20  # a request is argv + environment; a reply is a pass's output
CONNECT_TIMEOUT_S = 1.0

# The CLI's global options (maorders.cli.main_options), read here without importing typer;
# tests/test_resident.py checks that the two lists agree.
GLOBAL_FLAGS = ("--json", "-v", "--verbose", "-q", "--quiet")
GLOBAL_VALUES = ("--env-file", "--journal")


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
    command = _command(argv)
    if command is None or "--help" in argv or _on_a_terminal():
        return None
    service = _published()
    if service is None or command not in service.get("commands", ()):
        return None
    reply = _ask(service, {"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()})
    if not isinstance(reply, dict) or not isinstance(reply.get("exit_code"), int):
        return None
    sys.stdout.write(reply.get("stdout", ""))
    sys.stdout.flush()
    sys.stderr.write(reply.get("stderr", ""))
    sys.stderr.flush()
    return reply["exit_code"]


def _published() -> dict[str, Any] | None:
    """What this user's service published, if it is of this install (another install's workers
    would run other code)."""
    try:
        service = json.loads(service_file().read_text(encoding="utf-8"))
    except Exception:  # no file, no home folder, garbage: whatever it is, the command runs here
        return None
    return service if isinstance(service, dict) and service.get("package") == PACKAGE else None


def _on_a_terminal() -> bool:
    """A person at a terminal gets the questions and panels only a run here can show."""
    return any(stream is not None and stream.isatty() for stream in (sys.stdin, sys.stderr))


def _command(argv: list[str]) -> str | None:
    """The command after the global options; None if anything else comes before it."""
    at = 0
    while at < len(argv):
        if argv[at] in GLOBAL_FLAGS:
            at += 1
        elif argv[at].partition("=")[0] in GLOBAL_VALUES:
            at += 1 if "=" in argv[at] else 2
        elif argv[at].startswith("-"):
            return None
        else:
            return argv[at]
    return None


def service_file() -> Path:
    """The user's own: its port and token must be readable by nobody else (0600 in a 0700
    folder; on Windows the profile's ACL). One service per user serves any journal."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("maorders", appauthor=False)) / "serve.json"


def _ask(service: dict[str, Any], request: dict[str, Any] | None) -> Any:
    """One exchange: the service proves it knows the token before the environment (with its
    secrets) is sent; then the request, then the reply. None if any step fails; with no
    request, True once the service has proved itself (doctor's check)."""
    token = str(service.get("token", ""))
    try:
        with socket.create_connection(("127.0.0.1", int(service["port"])), timeout=CONNECT_TIMEOUT_S) as conn:
            stream = conn.makefile("rwb")
            challenge = os.urandom(16).hex()
            _send(stream, {"challenge": challenge})
            proof = _receive(stream)
            if not isinstance(proof, dict) or not hmac.compare_digest(
                    str(proof.get("proof", "")), _proof(token, challenge)):
                return None
            if request is None:
                return True
            conn.settimeout(None)  # the run is bounded by its own budgets and the scanner's timeout
            _send(stream, {**request, "token": token})
            return _receive(stream)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def doctor_checks(configured: list[str]) -> list[dict[str, Any]]:
    """Whether this user's service answers, when a configured connector has a resident pass.
    A warning only: without it those commands still run, cold."""
    commands = resident_commands(configured)
    if not commands:
        return []
    service = _published()
    if service is not None and _ask(service, None):
        return [{"check": "till service", "ok": True,
                 "detail": f"maorders serve (pid {service.get('pid')}) takes {', '.join(commands)} for this user"}]
    return [{"check": "till service", "ok": False, "warning": True,
             "detail": f"maorders serve is not running for this user: {', '.join(commands)} start cold (~0.4 s); "
                       "start `maorders serve` at the log-on of the user who runs them (README: Scheduling)"}]


def _proof(token: str, challenge: str) -> str:
    return hmac.new(token.encode(), challenge.encode(), "sha256").hexdigest()


def _send(stream: Any, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message).encode("ascii") + b"\n")  # ASCII: no code page can spoil it
    stream.flush()


def _receive(stream: Any) -> Any:
    line = stream.readline(MAX_MESSAGE + 1)
    if not line.endswith(b"\n"):
        raise ValueError("no whole message")
    return json.loads(line)


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
    answer = sys.stdout.buffer
    answer.write(READY.encode() + b"\n")
    answer.flush()
    try:
        request = _receive(sys.stdin.buffer)
    except ValueError:  # the service stopped
        return
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
    _send(answer, {"exit_code": code if isinstance(code, int) else 1, "stdout": printed.getvalue(),
                   "stderr": told.getvalue()})


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


def resident_commands(names: list[str] | None = None) -> list[str]:
    """The passes a warm worker may run: of every connector, or of those named."""
    from maorders import connectors

    return sorted({command for name, connector in connectors.registered().items() if names is None or name in names
                   for command, part in connector.passes.items() if part.resident})


# -- the service: `maorders serve` ------------------------------------------------------------
def serve(out: Any) -> None:
    """Serve until stopped (Ctrl+C, SIGTERM, the scheduler ending the task); one per user."""
    import secrets

    from filelock import FileLock, Timeout

    from maorders.errors import TransientError

    commands = resident_commands()
    token = secrets.token_hex(32)
    place = service_file()
    place.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = FileLock(str(place.with_suffix(".lock")), timeout=0, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise TransientError(f"serve is already running for this user ({place})") from None
    try:
        _serve_until_stopped(place, token, commands, out)
    finally:
        lock.release()


def _serve_until_stopped(place: Path, token: str, commands: list[str], out: Any) -> None:
    import signal
    import threading

    with socket.create_server(("127.0.0.1", 0)) as listener, WarmPool(WORKERS) as pool:
        port = listener.getsockname()[1]
        _publish(place, {"port": port, "token": token, "pid": os.getpid(), "commands": commands,
                         "package": PACKAGE})
        if hasattr(signal, "SIGTERM"):
            signal.signal(signal.SIGTERM, _stop)
        out.info(f"serving {', '.join(commands)} on 127.0.0.1:{port} with {WORKERS} warm workers; "
                 "Ctrl+C stops")
        try:
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=_serve_one, args=(conn, token, pool, out), daemon=True).start()
        except KeyboardInterrupt:
            out.info("stopped")
        finally:
            _withdraw(place, token)


def _stop(*_: Any) -> None:
    raise KeyboardInterrupt


def _publish(place: Path, service: dict[str, Any]) -> None:
    """The port and token, readable by the user alone, replaced in one step."""
    draft = place.with_suffix(".draft")
    fd = os.open(draft, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump(service, file)
    os.replace(draft, place)


def _withdraw(place: Path, token: str) -> None:
    """Remove the file if it is still this service's (another may have started since)."""
    try:
        if json.loads(place.read_text(encoding="utf-8")).get("token") == token:
            place.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def _serve_one(conn: socket.socket, token: str, pool: "WarmPool", out: Any) -> None:
    import time

    started = time.perf_counter()
    with conn:
        conn.settimeout(CONNECT_TIMEOUT_S * 5)  # a client sends its request at once
        stream = conn.makefile("rwb")
        try:
            _send(stream, {"proof": _proof(token, str(_receive(stream)["challenge"]))})
            request = _receive(stream)
            if not hmac.compare_digest(str(request.pop("token", "")), token):
                _send(stream, {"refused": "token"})
                out.warn("refused a request with a wrong token")
                return
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return
        worker = pool.take()
        reply = worker.run(request) if worker else None
        conn.settimeout(None)
        try:  # the client may be gone (killed): the run is done and in the journal all the same
            _send(stream, reply or {"refused": "no warm worker" if worker is None else "the worker died"})
        except OSError:
            pass
    if worker:
        pool.replace()
    # never the arguments: they may hold a customer's card or code
    command = _command(request.get("argv", [])) or "?"
    outcome = f"exit {reply['exit_code']}" if reply else "run by the command itself"
    out.info(f"{command}: {outcome} in {time.perf_counter() - started:.3f} s")


class WarmPool:
    """Worker processes started ahead, each ready for one run; one is started per one taken."""

    def __init__(self, size: int):
        import queue
        import threading

        self.size, self.ready, self.lock = size, queue.Queue(), threading.Lock()
        self.alive: list[Any] = []  # starting or ready
        self.stopped = False
        for _ in range(size):
            self._start()

    def __enter__(self) -> "WarmPool":
        return self

    def __exit__(self, *_: Any) -> None:
        self.stopped = True
        with self.lock:
            alive, self.alive = self.alive, []
        for process in alive:
            process.kill()
            process.wait()

    def take(self, wait_s: float = 2.0) -> "Worker | None":
        """A ready worker (waiting a little for one still starting), or None: run it elsewhere."""
        import queue

        with self.lock:
            missing = self.size - len(self.alive)  # one failed to start earlier: try again
        for _ in range(missing):
            self._start()
        try:
            worker = self.ready.get(timeout=wait_s)
        except queue.Empty:
            return None
        with self.lock:
            self.alive.remove(worker.process)
        return worker

    def replace(self) -> None:
        """One more warm worker for the one used: started after its run, not beside it, since
        the start (~0.4 s of CPU) would slow the sale the cashier is waiting for."""
        if not self.stopped:
            self._start()

    def _start(self) -> None:
        import subprocess
        import threading

        process = subprocess.Popen([sys.executable, "-m", "maorders.resident"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        with self.lock:
            self.alive.append(process)
        threading.Thread(target=self._wait_ready, args=(process,), daemon=True).start()

    def _wait_ready(self, process: Any) -> None:
        if process.stdout.readline().strip() == READY.encode() and not self.stopped:
            self.ready.put(Worker(process))
            return
        process.kill()
        process.wait()
        with self.lock:
            if process in self.alive:
                self.alive.remove(process)


class Worker:
    def __init__(self, process: Any):
        self.process = process

    def run(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """Its one run; None if it died before answering."""
        try:
            _send(self.process.stdin, request)
            reply = _receive(self.process.stdout)
        except (OSError, ValueError):
            reply = None
        import threading

        self.process.stdin.close()  # the answer goes out now; the exit (~50 ms of teardown) is awaited aside
        threading.Thread(target=self.process.wait, daemon=True).start()
        return reply if isinstance(reply, dict) and isinstance(reply.get("exit_code"), int) else None


if __name__ == "__main__":
    worker()
