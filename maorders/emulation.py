"""What every emulator shares: a real HTTP server on 127.0.0.1, fault knobs, effect counters.

A connector's emulator subclasses `EmulatorApp` and implements `route()`. Faults are
applied here, the same way for every remote, so a test or the demo can make any
service slow, flaky, rate-limited or malformed with the same knobs:

    app.faults.error_rate = 0.3          # 30 % of requests answer 500
    app.faults.rate_limit_every = 5      # every 5th request answers 429 + Retry-After
    app.faults.delay = 2.0               # every reply waits this long (past a short timeout)
    app.faults.drop_rate = 0.2           # the connection is closed with no reply
    app.faults.malformed_rate = 0.2      # the body is cut in half (a short, well-framed reply)
    app.faults.cut_body_rate = 0.2       # the headers promise the whole body, half is sent, the
                                         # connection closes (a transfer broken mid-body)
    app.faults.wrong_shape_rate = 0.2    # valid JSON/XML of the wrong shape (`wrong_shape()`)
    app.faults.redirect_to = "http://…"  # every request answers 307 to that base URL
    app.faults.trickle = 1.0             # the body is sent one byte at a time, this many seconds
                                         # apart (a slow link or upstream: no read ever times out)
    app.faults.trickle_headers = True    # the status line and headers trickle too
    app.faults.replace_body = "[[[…"     # every routed reply carries this body instead (hostile
                                         # bodies: deep nesting, NaN, an echo of what was sent)
    app.faults.ascii_json = True         # JSON replies escape every non-ASCII character as a \\u escape,
                                         # as .NET's and many other serialisers do by default
    app.faults.echo_status = 500         # requests (whose path holds `echo_path`, if set) answer
                                         # this status quoting what was sent, secrets and all, as
                                         # services that quote a refused request do
    app.on_effect = lambda name: ...     # called right after an effect is applied,
                                         # before the reply: crash tests kill the client here

A remote's own request limits (RetailCRM's 10 a second, MeaSoft's fair usage) are counted
with `SlidingWindow`, the same way for every emulator.

The same knobs are reachable over HTTP for `maorders sandbox`:
`GET /_emulator/counters`, `GET /_emulator/faults`, `POST /_emulator/faults` (JSON).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

CONTROL_PREFIX = "/_emulator/"


@dataclass
class Faults:
    error_rate: float = 0.0
    rate_limit_every: int = 0
    retry_after: int = 1
    delay: float = 0.0
    drop_rate: float = 0.0
    malformed_rate: float = 0.0
    drop_after_effect: int = 0  # the next N effects are applied, then the connection drops
    cut_body_rate: float = 0.0
    wrong_shape_rate: float = 0.0
    redirect_to: str = ""
    trickle: float = 0.0
    trickle_headers: bool = False
    replace_body: str = ""
    ascii_json: bool = False
    echo_status: int = 0
    echo_path: str = ""
    seed: int = 1

    def update(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if name not in self.__dataclass_fields__:
                raise KeyError(name)
            kind = type(getattr(self, name))
            if kind is bool and isinstance(value, str):  # bool("false") is True
                value = value.strip().lower() in ("1", "true", "yes", "on")
            setattr(self, name, kind(value))


class SlidingWindow:
    """Requests in a sliding window of `seconds`, as a remote counts them per IP.

    `admit(now)` says whether one more request is within `limit`. `counts_refused`: whether a
    refused request still counts (nginx's limit_req does not count it; a fair-usage counter
    that blocks an IP counts everything it sees). `most` is the largest number of requests seen
    in any window, refused or not: what a benchmark reports.
    """

    def __init__(self, seconds: float, limit: int, counts_refused: bool = False) -> None:
        self.seconds, self.limit, self.counts_refused = seconds, limit, counts_refused
        self.seen: deque[float] = deque()      # every request
        self.counted: deque[float] = deque()   # the requests the limit counts
        self.most = 0

    def admit(self, now: float) -> bool:
        for window in (self.seen, self.counted):
            while window and now - window[0] >= self.seconds:
                window.popleft()
        self.seen.append(now)
        self.most = max(self.most, len(self.seen))
        allowed = self.limit <= 0 or len(self.counted) < self.limit
        if allowed or self.counts_refused:
            self.counted.append(now)
        return allowed


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    cut: bool = False  # send half the body under the whole body's Content-Length, then close

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> "Response":
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return cls(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    @classmethod
    def xml(cls, status: int, text: str) -> "Response":
        return cls(status, text.encode("utf-8"), {"Content-Type": "text/xml; charset=utf-8"})


def _ascii_json(body: bytes) -> bytes:
    try:
        return json.dumps(json.loads(body), ensure_ascii=True).encode("ascii")
    except ValueError:  # not JSON (a hostile body on purpose): left as it is
        return body


class DropConnection(Exception):
    """Raised inside a handler to close the socket without any reply."""


class EmulatorApp:
    """State, faults and counters of one emulated remote. Subclasses implement `route`."""

    name = "emulator"

    def __init__(self) -> None:
        self.faults = Faults()
        self.counters: Counter[str] = Counter()
        self.lock = threading.RLock()
        self.on_effect: Callable[[str], None] | None = None
        self._random = random.Random(self.faults.seed)
        self._requests = 0

    # -- for subclasses -------------------------------------------------
    def route(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def effect(self, name: str) -> None:
        """Count an accepted effect; then let a crash test strike before the reply."""
        self.counters[name] += 1
        if self.on_effect is not None:
            self.on_effect(name)
        if self.faults.drop_after_effect > 0:
            self.faults.drop_after_effect -= 1
            raise DropConnection()

    def wrong_shape(self, request: Request) -> Response:
        """A well-formed reply of the wrong shape; emulators override it with one that fits."""
        return Response.json(200, {"unexpected": [1, 2, 3]})

    def echo(self, request: Request) -> Response:
        """An error quoting the request: its credentials first, so they survive any cut."""
        quoted = " ".join(filter(None, (request.headers.get("authorization"), request.headers.get("x-api-key"),
                                        request.body.decode("utf-8", "replace"))))
        return Response.json(self.faults.echo_status, {"error": "refused", "message": f"refused: {quoted}"})

    def rate_limited(self, request: Request) -> Response | None:
        """A remote's own rate limit (a subclass may answer 429/503); None when allowed."""
        return None

    # -- the fault layer --------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)
        with self.lock:
            self._requests += 1
            self.counters["requests"] += 1
            number = self._requests
            roll_error, roll_drop, roll_bad = (self._random.random() for _ in range(3))
        # the newer knobs draw only when set, so that seeded fault sequences stay as they were
        roll_cut = self._random.random() if self.faults.cut_body_rate else 1.0
        roll_shape = self._random.random() if self.faults.wrong_shape_rate else 1.0
        if self.faults.delay:
            time.sleep(self.faults.delay)
        if self.faults.redirect_to:
            self.counters["fault_redirect"] += 1
            query = "&".join(f"{k}={v}" for k, values in request.query.items() for v in values)
            location = self.faults.redirect_to.rstrip("/") + request.path + (f"?{query}" if query else "")
            return Response(307, b"", {"Location": location})
        if roll_drop < self.faults.drop_rate:
            self.counters["fault_dropped"] += 1
            raise DropConnection()
        if self.faults.rate_limit_every and number % self.faults.rate_limit_every == 0:
            self.counters["fault_429"] += 1
            return Response.json(429, {"error": "too_many_requests", "message": "slow down"},
                                 {"Retry-After": str(self.faults.retry_after)})
        if roll_error < self.faults.error_rate:
            self.counters["fault_500"] += 1
            return Response.json(500, {"error": "internal", "message": "emulated failure"})
        if self.faults.echo_status and self.faults.echo_path in request.path:
            self.counters["fault_echo"] += 1
            return self.echo(request)
        limited = self.rate_limited(request)
        if limited is not None:
            return limited
        if roll_shape < self.faults.wrong_shape_rate:
            self.counters["fault_wrong_shape"] += 1
            return self.wrong_shape(request)
        with self.lock:
            response = self.route(request)
        if roll_bad < self.faults.malformed_rate and response.body:
            self.counters["fault_malformed"] += 1
            response.body = response.body[: len(response.body) // 2]
        if self.faults.ascii_json and "json" in response.headers.get("Content-Type", ""):
            response.body = _ascii_json(response.body)
        if self.faults.replace_body:
            self.counters["fault_replaced_body"] += 1
            response.body = self.faults.replace_body.encode("utf-8")
        if roll_cut < self.faults.cut_body_rate and len(response.body) > 1:
            self.counters["fault_cut_body"] += 1
            response.cut = True
        return response

    def _control(self, request: Request) -> Response:
        what = request.path[len(CONTROL_PREFIX):]
        if what == "counters":
            return Response.json(200, dict(self.counters))
        if what == "faults" and request.method == "POST":
            try:
                self.faults.update(request.json())
            except (KeyError, ValueError) as exc:
                return Response.json(400, {"error": "bad_fault", "message": str(exc)})
            self._random.seed(self.faults.seed)
        if what == "faults":
            return Response.json(200, asdict(self.faults))
        return Response.json(404, {"error": "not_found", "message": what})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else every keep-alive reply waits ~40 ms for a delayed ACK
    app: EmulatorApp

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read counters
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                          {k.lower(): v for k, v in self.headers.items()}, body)
        try:
            response = self.app.handle(request)
        except DropConnection:
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.cut:
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self._write(response.body)

    def flush_headers(self) -> None:
        if self.app.faults.trickle and self.app.faults.trickle_headers and getattr(self, "_headers_buffer", None):
            head, self._headers_buffer = b"".join(self._headers_buffer), []
            self._write(head)
        else:
            super().flush_headers()

    def _write(self, data: bytes) -> None:
        """The bytes at once, or one at a time `faults.trickle` seconds apart."""
        pause = self.app.faults.trickle
        if not pause:
            self.wfile.write(data)
            return
        self.app.counters["fault_trickle"] += 1
        for index in range(len(data)):
            self.wfile.write(data[index:index + 1])
            time.sleep(pause)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        import ssl
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError)):
            super().handle_error(request, client_address)  # a client that hung up is no emulator error


class EmulatorServer:
    """Runs an app on 127.0.0.1 in a background thread; `url` is its base address."""

    def __init__(self, app: EmulatorApp, port: int = 0, base_path: str = "") -> None:
        handler = type("Handler", (_Handler,), {"app": app})
        self.app = app
        self.httpd = _Server(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.base_path = base_path
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), name=app.name, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    def start(self) -> "EmulatorServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
