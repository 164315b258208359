"""The till service (`maorders serve`): warm workers for the passes a person waits for, and the
command's way to them. The entry point and the worker itself live in `maorders.resident`.

`maorders serve` keeps WORKERS processes started, each with everything imported and waiting
for one run. A `maorders` command for a resident pass (`Pass.resident`) of the same install
finds the user's service through a file in the user's own folder (a port and a token only
that user can read), checks that the service knows the token, hands over its arguments,
environment and working directory, prints what the worker printed and exits with its code.

The worker's run belongs to its caller: when the caller's connection closes (the till program
killed it, or gave up) the worker is killed, as the caller's own cold run would have been, and
a worker asks (`caller_present()`) right before it sends a confirm or a refund. What a killed
worker leaves is what a killed cold run leaves: the journal is built for it. Stopping the
service kills its workers and waits for them before any caller falls back to a run of its own.

The service refuses more than MAX_CONNECTIONS at once, gives a caller HANDSHAKE_S in all to
prove itself and send its request, and reads no JSON nested deeper than Python can.

This module imports only the standard library at the top: the entry point uses it before it
knows whether a worker runs the command. It never imports the CLI or `health` (they use it).
"""

from __future__ import annotations

import hmac
import json
import os
import select
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

WORKERS = 2  # a sale and a scheduled `--reconcile` at the same moment both find one warm
READY = "ready"
PACKAGE = str(Path(__file__).resolve().parent)
MAX_MESSAGE = 1 << 20  # a request is argv + environment; a reply is a pass's output
CONNECT_TIMEOUT_S = 1.0
HANDSHAKE_S = 5.0  # a caller sends its challenge and request at once: all of it within this
MAX_CONNECTIONS = 16  # a till makes one call at a time; a few more for doctor and reconcile

# The CLI's global options (maorders.cli.main_options), read here without importing typer;
# tests/test_resident.py checks that the two lists agree.
GLOBAL_FLAGS = ("--json", "-v", "--verbose", "-q", "--quiet", "--version", "--install-completion",
                "--show-completion")
GLOBAL_VALUES = ("--env-file", "--journal")


# -- the caller's presence, as a pass sees it ------------------------------------------------------
_gate: Callable[[], bool] | None = None


def caller_present() -> bool:
    """Right before an effect (a confirm, a refund): is whoever asked for this run still there?
    Always in a run of its own; in a warm worker, the service looks at the caller's connection."""
    return _gate() if _gate is not None else True


def set_gate(gate: Callable[[], bool] | None) -> None:
    global _gate
    _gate = gate


# -- the wire between a command, the service and a worker -----------------------------------------
def command_of(argv: list[str]) -> str | None:
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


def published() -> dict[str, Any] | None:
    """What this user's service published, if it is of this install (another install's workers
    would run other code)."""
    try:
        service = json.loads(service_file().read_text(encoding="utf-8"))
    except Exception:  # no file, no home folder, garbage: whatever it is, the command runs here
        return None
    return service if isinstance(service, dict) and service.get("package") == PACKAGE else None


def ask(service: dict[str, Any], request: dict[str, Any] | None) -> Any:
    """One exchange: the service proves it knows the token before the environment (with its
    secrets) is sent; then the request, then the reply. None if any step fails; with no
    request, True once the service has proved itself (doctor's check)."""
    token = str(service.get("token", ""))
    try:
        with socket.create_connection(("127.0.0.1", int(service["port"])), timeout=CONNECT_TIMEOUT_S) as conn:
            stream = conn.makefile("rwb")
            challenge = os.urandom(16).hex()
            send(stream, {"challenge": challenge})
            proof = receive(stream)
            if not isinstance(proof, dict) or not hmac.compare_digest(
                    str(proof.get("proof", "")), _proof(token, challenge)):
                return None
            if request is None:
                return True
            conn.settimeout(None)  # the run is bounded by its own budgets and the scanner's timeout
            send(stream, {**request, "token": token})
            return receive(stream)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _proof(token: str, challenge: str) -> str:
    return hmac.new(token.encode(), challenge.encode(), "sha256").hexdigest()


def send(stream: Any, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message).encode("ascii") + b"\n")  # ASCII: no code page can spoil it
    stream.flush()


def receive(stream: Any) -> Any:
    return decode(stream.readline(MAX_MESSAGE + 1))


def decode(line: bytes) -> Any:
    """One message; anything that is not one whole JSON line (cut, too long, nested past what
    the decoder can take) is a ValueError."""
    if not line.endswith(b"\n"):
        raise ValueError("no whole message")
    try:
        return json.loads(line)
    except RecursionError:
        raise ValueError("nested too deep") from None


def _read_line(conn: socket.socket, deadline: float) -> Any:
    """One message from a caller within the whole handshake's deadline (a caller trickling
    bytes gets no more time than one sending at once)."""
    data = bytearray()
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or len(data) > MAX_MESSAGE:
            raise ValueError("no whole message in time")
        conn.settimeout(left)
        chunk = conn.recv(min(65536, MAX_MESSAGE + 1 - len(data)) or 1)
        if not chunk:
            raise ValueError("closed")
        data += chunk
    return decode(bytes(data))


def doctor_checks(configured: list[str]) -> list[dict[str, Any]]:
    """Whether this user's service answers, when a configured connector has a resident pass.
    A warning only: without it those commands still run, cold."""
    from maorders.i18n import _

    commands = resident_commands(configured)
    if not commands:
        return []
    service = published()
    if service is not None and ask(service, None):
        return [{"check": "till service", "ok": True,
                 "detail": _("maorders serve (pid {pid}) takes {commands} for this user").format(
                     pid=service.get("pid"), commands=", ".join(commands))}]
    return [{"check": "till service", "ok": False, "warning": True,
             "detail": _("maorders serve is not running for this user: {commands} start cold (~0.4 s); start "
                         "`maorders serve` at the log-on of the user who runs them (README: Scheduling)").format(
                             commands=", ".join(commands))}]


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
        from maorders.i18n import _

        raise TransientError(_("serve is already running for this user ({place})").format(place=place)) from None
    try:
        _serve_until_stopped(place, token, commands, out)
    finally:
        lock.release()


def _serve_until_stopped(place: Path, token: str, commands: list[str], out: Any) -> None:
    import signal

    slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
    with socket.create_server(("127.0.0.1", 0)) as listener, WarmPool(WORKERS) as pool:
        port = listener.getsockname()[1]
        _publish(place, {"port": port, "token": token, "pid": os.getpid(), "commands": commands,
                         "package": PACKAGE})
        if hasattr(signal, "SIGTERM"):
            signal.signal(signal.SIGTERM, _stop)
        from maorders.i18n import _

        out.info(_("serving {commands} on 127.0.0.1:{port} with {workers} warm workers; Ctrl+C stops").format(
            commands=", ".join(commands), port=port, workers=WORKERS))
        try:
            while True:
                conn, _ = listener.accept()
                if not slots.acquire(blocking=False):  # too many at once: the command runs itself
                    conn.close()
                    continue
                threading.Thread(target=_serve_one, args=(conn, token, pool, out, slots), daemon=True).start()
        except KeyboardInterrupt:
            out.info(_("stopped"))
        finally:
            _withdraw(place, token)  # no new caller finds it; then the pool ends its workers and waits


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


def _serve_one(conn: socket.socket, token: str, pool: "WarmPool", out: Any, slots: Any) -> None:
    started = time.perf_counter()
    try:
        with conn:
            request = _handshake(conn, token, out)
            if request is None:
                return
            worker = pool.take()
            reply = worker.run(request, conn) if worker else None
            conn.settimeout(None)
            try:  # the client may be gone (killed): what the run did is in the journal all the same
                conn.sendall(json.dumps(reply or {"refused": "no warm worker" if worker is None
                                                  else "the worker died"}).encode("ascii") + b"\n")
            except OSError:
                pass
    finally:
        slots.release()
    if worker:
        pool.replace()
    from maorders.i18n import _

    # never the arguments: they may hold a customer's card or code
    command = command_of(request.get("argv", [])) or "?"
    outcome = f"exit {reply['exit_code']}" if reply else \
        _("the caller went away: worker stopped") if worker and worker.abandoned else _("run by the command itself")
    out.info(_("{command}: {outcome} in {seconds} s").format(command=command, outcome=outcome,
                                                              seconds=f"{time.perf_counter() - started:.3f}"))


def _handshake(conn: socket.socket, token: str, out: Any) -> dict[str, Any] | None:
    """The challenge answered, then the request with the token, all within HANDSHAKE_S."""
    deadline = time.monotonic() + HANDSHAKE_S
    try:
        hello = _read_line(conn, deadline)
        conn.settimeout(max(deadline - time.monotonic(), 0.01))
        conn.sendall(json.dumps({"proof": _proof(token, str(hello["challenge"]))}).encode("ascii") + b"\n")
        request = _read_line(conn, deadline)
        if not isinstance(request, dict) or not isinstance(request.get("argv"), list):
            return None
        if not hmac.compare_digest(str(request.pop("token", "")), token):
            conn.sendall(json.dumps({"refused": "token"}).encode("ascii") + b"\n")
            from maorders.i18n import _

            out.warn(_("refused a request with a wrong token"))
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return request


def _gone(conn: socket.socket) -> bool:
    """The caller closed its end (killed, or gave up): after its request it sends nothing more,
    so anything readable is the end of the connection."""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        if not readable:
            return False
        return conn.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class WarmPool:
    """Worker processes started ahead, each ready for one run; one is started per one taken.
    It knows every worker it started, busy ones included, and ends them all when it stops."""

    def __init__(self, size: int):
        import queue

        self.size, self.ready, self.lock = size, queue.Queue(), threading.Lock()
        self.alive: list[Any] = []  # starting or ready
        self.busy: list[Any] = []  # running a caller's run
        self.stopped = False
        for _ in range(size):
            self._start()

    def __enter__(self) -> "WarmPool":
        return self

    def __exit__(self, *_: Any) -> None:
        """Every worker killed and waited for: a caller whose run it was falls back to a run of
        its own only once no worker of ours can still send anything."""
        with self.lock:
            self.stopped = True
            every, self.alive, self.busy = self.alive + self.busy, [], []
        for process in every:
            process.kill()
        for process in every:
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
            if self.stopped:
                return None
            self.alive.remove(worker.process)
            self.busy.append(worker.process)
        return worker

    def done(self, process: Any) -> None:
        process.wait()
        with self.lock:
            if process in self.busy:
                self.busy.remove(process)

    def replace(self) -> None:
        """One more warm worker for the one used: started after its run, not beside it, since
        the start (~0.4 s of CPU) would slow the sale the cashier is waiting for."""
        if not self.stopped:
            self._start()

    def _start(self) -> None:
        import subprocess

        with self.lock:
            if self.stopped:
                return
            process = subprocess.Popen([sys.executable, "-m", "maorders.resident"],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self.alive.append(process)
        threading.Thread(target=self._wait_ready, args=(process,), daemon=True).start()

    def _wait_ready(self, process: Any) -> None:
        if process.stdout.readline().strip() == READY.encode() and not self.stopped:
            self.ready.put(Worker(process, self))
            return
        process.kill()
        process.wait()
        with self.lock:
            if process in self.alive:
                self.alive.remove(process)


class Worker:
    def __init__(self, process: Any, pool: WarmPool):
        self.process, self.pool = process, pool
        self.abandoned = False

    def run(self, request: dict[str, Any], caller: socket.socket) -> dict[str, Any] | None:
        """Its one run for `caller`; None if it died (or was ended: the caller went away)."""
        finished = threading.Event()
        threading.Thread(target=self._watch, args=(caller, finished), daemon=True).start()
        reply: Any = None
        try:
            send(self.process.stdin, request)
            while True:
                reply = receive(self.process.stdout)
                if not (isinstance(reply, dict) and "ask" in reply):
                    break
                send(self.process.stdin, {"go": not _gone(caller)})  # the last word before an effect
        except (OSError, ValueError):
            reply = None
        finally:
            finished.set()
        ok = isinstance(reply, dict) and isinstance(reply.get("exit_code"), int)
        try:
            self.process.stdin.close()
        except OSError:
            pass
        if ok:  # the answer goes out now; the exit (~50 ms of teardown) is awaited aside
            threading.Thread(target=self.pool.done, args=(self.process,), daemon=True).start()
            return reply
        self.process.kill()
        self.pool.done(self.process)  # dead, its journal lock free, before the caller runs it itself
        return None

    def _watch(self, caller: socket.socket, finished: threading.Event) -> None:
        """The run ends when its caller goes away, as the caller's own run would have."""
        while not finished.is_set():
            try:
                readable, _, _ = select.select([caller], [], [], 0.1)
            except (OSError, ValueError):
                readable = [caller]
            if readable and not finished.is_set() and _gone(caller):
                self.abandoned = True
                self.process.kill()
                return
