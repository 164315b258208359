"""HTTP for every wire client: one session per remote, timeouts, retries, error classes.

- Timeouts are always set; TLS verification stays on (REQUESTS_CA_BUNDLE for a private CA).
- Only calls that are safe to repeat (GET, PUT, keyed POST) are retried: connection
  errors, timeouts, 429, 5xx and malformed bodies, with exponential backoff and
  jitter, honouring Retry-After, inside the pass's time budget.
- 4xx other than 401/403/408/429 is `PermanentError` for that item; 401 and 403 are
  `Unauthorized`/`RefusedError` (the wire client refreshes a token once on 401). A call that
  is about the whole pass (`whole_pass=True`: a token, a feed) has no item to blame: its 4xx
  is `RefusedError` (69), or `ConfigError` (78) naming the URL setting for 404/405/410.
- A broken transfer (connection cut mid-body, a body that does not decode) and a reply of
  the wrong shape (the `parse` function fails on it) are retried, then 75: never a bug (1).
- Redirects are not followed blindly: credentials stay with their host. Only a GET to the
  same scheme, host and port is followed; anything else stops with a `ConfigError` naming
  the address to put in the setting.
- Replies are size-limited while they are read (`max_reply_bytes`), not after.
- Every attempt has a total deadline, the end of the pass's budget, not only a per-read
  timeout: a reply trickled one byte a second is cut when the budget ends (75), its socket
  shut from a timer (`Deadline`), whether the trickle is in the headers or the body.
- An optional client-side limit keeps us under a remote's requests-per-second cap.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import socket
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable

import requests
from urllib3 import connection as _connection, connectionpool as _pool, exceptions as _exceptions
from urllib3 import poolmanager as _poolmanager
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from maorders import settings
from maorders.errors import ConfigError, PermanentError, RefusedError, TransientError
from maorders.i18n import _
from maorders.ratelimit import RateLimiter
from maorders.redact import redact

log = logging.getLogger("maorders.http")

USER_AGENT = "maorders/0.1"
MAX_BACKOFF_S = 30.0
MAX_REPLY_BYTES = 64 * 1024 * 1024
MAX_REDIRECTS = 5
BROKEN_TRANSFER = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                   requests.exceptions.ContentDecodingError)
# what a parser raises on a reply it cannot read: a missing key, a wrong type, a bad number
# (Decimal's InvalidOperation is an ArithmeticError), nesting past the stack, broken XML
WRONG_SHAPE = (LookupError, TypeError, ValueError, AttributeError, ArithmeticError, RecursionError, SyntaxError)


class Unauthorized(RefusedError):
    """401: the token expired or the credentials are wrong."""


class Retryable(Exception):
    """A failure worth another try; `retry_after` is the remote's own wish, if any."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass
class Budget:
    """The wall time a pass may spend; retries stop when it is spent."""

    seconds: float
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = self.started or time.monotonic()

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.started)


_current = threading.local()  # the Deadline of the attempt this thread is making, if any


class Deadline:
    """The end of one attempt: when it passes, the attempt's connections are shut by the watchdog.

    A per-read timeout never fires for a reply that trickles a byte at a time, so the wall time
    is held here: the socket's shutdown wakes the blocked read, in the headers or the body."""

    def __init__(self, seconds: float):
        self.when = time.monotonic() + max(seconds, 0.0)
        self.lock = threading.Lock()
        self.connections: list[Any] = []
        self.passed = self.done = False

    def __enter__(self) -> "Deadline":
        _current.deadline = self
        _WATCHDOG.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.done = True
        _current.deadline = None

    def watch(self, connection: Any) -> None:
        with self.lock:
            if connection not in self.connections:
                self.connections.append(connection)
            if self.passed:
                _shut(connection)

    def cut(self) -> None:
        with self.lock:
            if self.done:
                return
            self.passed = True
            for connection in self.connections:
                _shut(connection)


class _Watchdog:
    """One thread for every Deadline (a thread per attempt cost ~2 ms a call): it sleeps until
    the nearest one and cuts it if its attempt is still running."""

    def __init__(self) -> None:
        self.wake = threading.Condition()
        self.queue: list[tuple[float, int, Deadline]] = []
        self.numbers = itertools.count()
        self.thread: threading.Thread | None = None
        self.until = float("inf")  # when the thread wakes next on its own

    def add(self, deadline: Deadline) -> None:
        with self.wake:
            heapq.heappush(self.queue, (deadline.when, next(self.numbers), deadline))
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="maorders-deadlines", daemon=True)
                self.thread.start()
            elif deadline.when < self.until - 0.01:  # most calls share their pass's end: no wake-up
                self.wake.notify()

    def _run(self) -> None:
        with self.wake:
            while True:
                while self.queue and self.queue[0][2].done:  # finished attempts leave as they surface
                    heapq.heappop(self.queue)
                self.until = self.queue[0][0] if self.queue else float("inf")
                pause = self.until - time.monotonic()
                if pause > 0:
                    self.wake.wait(None if self.until == float("inf") else pause)
                    continue
                heapq.heappop(self.queue)[2].cut()


_WATCHDOG = _Watchdog()


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:  # the plain socket's shutdown, also under TLS: it wakes a read blocked in another thread
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


class _Watched:
    """A urllib3 connection that puts itself under the current attempt's Deadline."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _watch(self)

    def request(self, *args: Any, **kwargs: Any) -> Any:
        _watch(self)
        return super().request(*args, **kwargs)  # type: ignore[misc]


def _watch(connection: Any) -> None:
    deadline = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(connection)


class _HTTPPool(_pool.HTTPConnectionPool):
    ConnectionCls = type("HTTPConnection", (_Watched, _connection.HTTPConnection), {})


class _HTTPSPool(_pool.HTTPSConnectionPool):
    ConnectionCls = type("HTTPSConnection", (_Watched, _connection.HTTPSConnection), {})


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter with connections a Deadline can cut (direct and through an HTTP proxy)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if manager.pool_classes_by_scheme is _poolmanager.pool_classes_by_scheme:  # not SOCKS's own
            manager.pool_classes_by_scheme = _POOLS
        return manager


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds or as an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def error_text(response: requests.Response, limit: int = 200) -> str:
    """The remote's own words for an error, short, on one line, and masked (a remote may echo our
    credentials back in its error: masked before they are cut, so no half-secret slips through)."""
    body = _json_or_none(response)
    if isinstance(body, dict):
        parts = [str(body.get(k)) for k in ("error", "errorMsg", "message") if body.get(k)]
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items()]
        elif isinstance(errors, list):
            parts += [str(e) for e in errors]
        if parts:
            return redact(" ".join(" — ".join(parts).split()))[:limit]
    text = redact(" ".join(response.text.split()))
    return (text[:limit] or response.reason or "no body")


class Remote:
    """One remote service: a keep-alive session and the retry policy around it."""

    def __init__(self, name: str, base_url: str, timeout: float, retries: int, budget: Budget,
                 rate_limit: int | None = None, headers: dict[str, str] | None = None,
                 url_setting: str | None = None, max_reply_bytes: int = MAX_REPLY_BYTES):
        self.name = name
        self.url_setting = url_setting or settings.url_setting(base_url) or _("the service's URL setting")
        self.max_reply_bytes = max_reply_bytes
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.budget = budget
        self.limiter = RateLimiter(rate_limit) if rate_limit else None
        self.session = requests.Session()
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, _Adapter())
        self.session.headers.update({"User-Agent": USER_AGENT, **(headers or {})})
        self.calls = 0

    def close(self) -> None:
        self.session.close()

    def url(self, path: str) -> str:
        return self.base_url + path if path.startswith("/") or not path else f"{self.base_url}/{path}"

    def call(self, method: str, path: str, *, safe: bool,
             parse: Callable[[requests.Response], Any] | None = None, whole_pass: bool = False,
             accept: tuple[int, ...] = (), **kwargs: Any) -> Any:
        """Send one request; retry it when `safe`; return `parse(response)` or the response.

        `parse` runs inside the retry loop: a malformed body, or one of the wrong shape (the
        parser fails on it with KeyError, TypeError, ValueError, …), is retried there.
        `whole_pass`: a 4xx refuses the pass, not an item (see the module's notes).
        `accept`: 4xx statuses whose body the parser reads itself (e.g. a 409 with the remote's words).
        """
        what = f"{self.name}: {method} {path}"
        attempts = 1 + (self.retries if safe else 0)
        started = time.monotonic()
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            retry=retry_if_exception_type(Retryable),
            wait=self._backoff,
            before_sleep=lambda state: self._before_sleep(what, state),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self._send(method, path, what, accept, **kwargs)
                    return self._parse(parse, response) if parse else response
        except Retryable as exc:
            tries = attempt.retry_state.attempt_number
            raise TransientError(_("{what} failed after {tries} attempt(s) in {seconds:.1f} s: {reason}").format(
                what=what, tries=tries, seconds=time.monotonic() - started, reason=exc)) from None
        except PermanentError as exc:
            if whole_pass:
                raise self._refusal(what, exc) from None
            raise
        raise AssertionError("unreachable")

    @staticmethod
    def _parse(parse: Callable[[requests.Response], Any], response: requests.Response) -> Any:
        try:
            return parse(response)
        except WRONG_SHAPE as exc:
            raise Retryable(f"malformed reply: unexpected shape ({type(exc).__name__}: {exc})"[:300]) from None

    def _refusal(self, what: str, exc: PermanentError) -> Exception:
        if exc.status in (404, 405, 410):
            return ConfigError(_("{what}: {status} — no such API at {url}; check {setting}").format(
                what=what, status=exc.status, url=self.base_url, setting=self.url_setting))
        return RefusedError(str(exc))

    def _send(self, method: str, path: str, what: str, accept: tuple[int, ...] = (),
              **kwargs: Any) -> requests.Response:
        if self.budget.left() <= 0:
            raise TransientError(_("{what}: the pass's time budget is spent; run again later").format(what=what))
        if self.limiter:
            self.limiter.wait()
            if self.budget.left() <= 0:  # the wait for the rate limit counts against the budget too
                raise TransientError(_("{what}: the pass's time budget is spent; run again later").format(what=what))
        self.calls += 1
        left = self.budget.left()
        timeout = min(self.timeout, max(left, 0.1))
        cut = TransientError(_("{what}: no whole reply within the time budget of {seconds:g} s; "
                               "run again later").format(what=what, seconds=self.budget.seconds))
        try:
            with Deadline(left) as deadline:
                response = self._follow(method, self.url(path), what, timeout, kwargs)
                self._read(response, what)
        except requests.RequestException as exc:
            raise cut if deadline.passed else self._failure(what, exc) from None
        if deadline.passed:  # cut mid-headers, http.client takes the end of the stream for their end
            response.close()
            raise cut
        if response.status_code not in accept:
            classify(response, what)
        return response

    def _failure(self, what: str, exc: requests.RequestException) -> Exception:
        if isinstance(exc, requests.exceptions.SSLError):
            return RefusedError(_("{what}: TLS verification failed ({kind}); set REQUESTS_CA_BUNDLE for a private "
                                  "CA").format(what=what, kind=type(exc).__name__))
        unreachable = _unreachable(exc)
        if unreachable:
            host = requests.utils.urlparse(exc.request.url if exc.request else self.base_url).netloc
            return Retryable(_("cannot connect to {host} ({reason}); check {setting}").format(
                host=host.rpartition("@")[2], reason=unreachable, setting=self.url_setting))
        if isinstance(exc, BROKEN_TRANSFER):
            return Retryable(_("broken transfer ({kind})").format(kind=type(exc).__name__))
        return exc

    def _follow(self, method: str, url: str, what: str, timeout: float, kwargs: dict[str, Any]
                ) -> requests.Response:
        """The request, following only same-origin GET redirects (credentials stay with their host)."""
        for _hop in range(MAX_REDIRECTS + 1):
            response = self.session.request(method, url, timeout=timeout, allow_redirects=False, stream=True,
                                            **kwargs)
            if not response.is_redirect:
                return response
            target = requests.compat.urljoin(url, response.headers["Location"])
            response.close()
            if method.upper() != "GET" or _origin(target) != _origin(url):
                raise ConfigError(_("{what} was redirected ({status}) to {target}; credentials are not sent "
                                    "there: put the right address in {setting}").format(
                    what=what, status=response.status_code, target=_shown(target), setting=self.url_setting))
            url = target
            kwargs = {k: v for k, v in kwargs.items() if k != "params"}  # the Location carries the query
        raise ConfigError(_("{what}: more than {count} redirects; check {setting}").format(
            what=what, count=MAX_REDIRECTS, setting=self.url_setting))

    def _read(self, response: requests.Response, what: str) -> None:
        """Read the body, stopping as soon as it passes `max_reply_bytes` (decoded size)."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_reply_bytes:
            response.close()
            raise TransientError(_("{what}: reply of {size} bytes is over the {limit}-byte limit").format(
                what=what, size=f"{int(declared):,}", limit=f"{self.max_reply_bytes:,}"))
        body = bytearray()
        for chunk in response.iter_content(64 * 1024):
            body += chunk
            if len(body) > self.max_reply_bytes:
                response.close()
                raise TransientError(_("{what}: reply over the {limit}-byte limit").format(
                    what=what, limit=f"{self.max_reply_bytes:,}"))
        response._content = bytes(body)  # what requests itself does when it reads a body whole

    def _backoff(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        wished = getattr(exc, "retry_after", None)
        exponential = min(MAX_BACKOFF_S, 0.5 * 2 ** (state.attempt_number - 1))
        pause = max(wished or 0.0, random.uniform(0, exponential))  # full jitter
        left = self.budget.left()
        if pause >= left:
            raise TransientError(_("{what}: the pass's time budget is spent; run again later").format(what=self.name))
        return pause

    def _before_sleep(self, what: str, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s: attempt %d failed (%s); retrying", what, state.attempt_number, exc)


def _unreachable(exc: requests.RequestException) -> str | None:
    """Why no connection was made (refused, no such host, no answer), or None if one was."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return _("no answer")
    reason = getattr(exc.args[0], "reason", None) if isinstance(exc, requests.ConnectionError) and exc.args else None
    if isinstance(reason, _exceptions.NameResolutionError):
        return _("host name not found")
    if not isinstance(reason, _exceptions.NewConnectionError):
        return None
    cause = reason.__cause__
    if isinstance(cause, ConnectionRefusedError):
        return _("connection refused")
    return (cause.strerror or "").lower() if isinstance(cause, OSError) and cause.strerror else _("no connection")


def _origin(url: str) -> tuple[str, str]:
    parts = requests.utils.urlparse(url)
    return parts.scheme.lower(), (parts.netloc.rpartition("@")[2]).lower()


def _shown(url: str) -> str:
    """An address as it may be shown: no user info, no query (either may carry a secret)."""
    parts = requests.utils.urlparse(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def classify(response: requests.Response, what: str) -> None:
    """Turn an HTTP status into our error classes; 2xx and 3xx pass."""
    status = response.status_code
    if status < 400:
        return
    text = error_text(response)
    if status == 401:
        raise Unauthorized(f"{what}: 401 {text}")
    if status == 403:
        raise RefusedError(f"{what}: 403 {text}")
    if status in (408, 429) or status >= 500:
        raise Retryable(f"{status} {text}", status, retry_after_seconds(response.headers.get("Retry-After")))
    raise PermanentError(f"{what}: {status} {text}", status=status, code=_error_code(response))


def _error_code(response: requests.Response) -> str | None:
    body = _json_or_none(response)
    return body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), str) else None


def json_body(response: requests.Response, **decoding: Any) -> Any:
    """The JSON body; a body that cannot be decoded, whatever the decoder raises (RecursionError
    on deep nesting, NaN or Infinity, a bad byte), is a malformed reply (retryable).
    `decoding`: json.loads's hooks (e.g. parse_float=Decimal for money)."""
    try:
        return response.json(parse_constant=_no_constant, **decoding)  # the reply's charset, when it names one
    except Exception as exc:  # noqa: BLE001 - any failure to decode a remote's body is the remote's
        raise Retryable(f"malformed reply: not JSON ({len(response.content)} bytes, {type(exc).__name__})") from None


def decode_json(content: bytes, **decoding: Any) -> Any:
    """Bytes as JSON the way `json_body` reads a reply (UTF-8/16/32), or ValueError naming what was
    wrong, whatever the decoder raised: for a parser that reads the body itself."""
    try:
        return json.loads(content, parse_constant=_no_constant, **decoding)
    except Exception as exc:  # noqa: BLE001 - any failure to decode a remote's body is the remote's
        raise ValueError(f"not JSON ({len(content)} bytes, {type(exc).__name__})") from None


def _json_or_none(response: requests.Response) -> Any:
    try:
        return json_body(response)
    except Retryable:
        return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")  # RFC 8259 §6: NaN and Infinity are not permitted
