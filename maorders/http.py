"""HTTP for every wire client: one session per remote, timeouts, retries, error classes.

- Timeouts are always set; TLS verification stays on (REQUESTS_CA_BUNDLE for a private CA).
- Only calls that are safe to repeat (GET, PUT, keyed POST) are retried: connection
  errors, timeouts, 429, 5xx and malformed bodies, with exponential backoff and
  jitter, honouring Retry-After, inside the pass's time budget.
- 4xx other than 401/403/408/429 is `PermanentError` for that item; 401 and 403 are
  `Unauthorized`/`RefusedError` (the wire client refreshes a token once on 401).
- An optional client-side limit keeps us under a remote's requests-per-second cap.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from maorders.errors import PermanentError, RefusedError, TransientError
from maorders.ratelimit import RateLimiter

log = logging.getLogger("maorders.http")

USER_AGENT = "maorders/0.1"
MAX_BACKOFF_S = 30.0


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
    """The remote's own words for an error, short and on one line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = [str(body.get(k)) for k in ("error", "errorMsg", "message") if body.get(k)]
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items()]
        elif isinstance(errors, list):
            parts += [str(e) for e in errors]
        if parts:
            return " ".join(" — ".join(parts).split())[:limit]
    text = " ".join(response.text.split())
    return (text[:limit] or response.reason or "no body")


class Remote:
    """One remote service: a keep-alive session and the retry policy around it."""

    def __init__(self, name: str, base_url: str, timeout: float, retries: int, budget: Budget,
                 rate_limit: int | None = None, headers: dict[str, str] | None = None):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.budget = budget
        self.limiter = RateLimiter(rate_limit) if rate_limit else None
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, **(headers or {})})
        self.calls = 0

    def close(self) -> None:
        self.session.close()

    def url(self, path: str) -> str:
        return self.base_url + path if path.startswith("/") or not path else f"{self.base_url}/{path}"

    def call(self, method: str, path: str, *, safe: bool,
             parse: Callable[[requests.Response], Any] | None = None, **kwargs: Any) -> Any:
        """Send one request; retry it when `safe`; return `parse(response)` or the response.

        `parse` runs inside the retry loop: a malformed body raises `Retryable` there.
        """
        what = f"{self.name}: {method} {path}"
        attempts = 1 + (self.retries if safe else 0)
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
                    response = self._send(method, path, what, **kwargs)
                    return parse(response) if parse else response
        except Retryable as exc:
            tries = attempt.retry_state.attempt_number
            raise TransientError(f"{what} failed after {tries} attempt(s): {exc}") from None
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, what: str, **kwargs: Any) -> requests.Response:
        if self.budget.left() <= 0:
            raise TransientError(f"{what}: the pass's time budget is spent; run again later")
        if self.limiter:
            self.limiter.wait()
        self.calls += 1
        timeout = min(self.timeout, max(self.budget.left(), 0.1))
        try:
            response = self.session.request(method, self.url(path), timeout=timeout, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise RefusedError(f"{what}: TLS verification failed ({type(exc).__name__}); "
                               "set REQUESTS_CA_BUNDLE for a private CA") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Retryable(type(exc).__name__) from None
        classify(response, what)
        return response

    def _backoff(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        wished = getattr(exc, "retry_after", None)
        exponential = min(MAX_BACKOFF_S, 0.5 * 2 ** (state.attempt_number - 1))
        pause = max(wished or 0.0, random.uniform(0, exponential))  # full jitter
        left = self.budget.left()
        if pause >= left:
            raise TransientError(f"{self.name}: the pass's time budget is spent; run again later")
        return pause

    def _before_sleep(self, what: str, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s: attempt %d failed (%s); retrying", what, state.attempt_number, exc)


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
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), str) else None


def json_body(response: requests.Response) -> Any:
    """The JSON body; a body that is not JSON is a malformed reply (retryable)."""
    try:
        return response.json()
    except ValueError:
        raise Retryable(f"malformed reply: not JSON ({len(response.content)} bytes)") from None
