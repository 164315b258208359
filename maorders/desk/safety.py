"""The desk's safety: the password (kept hashed), the sign-in session, CSRF tokens, the Host check.

- Bound to 127.0.0.1 it answers only requests naming a loopback host (a web page elsewhere
  cannot reach it by a DNS name it points at 127.0.0.1: DNS rebinding).
- `MAORDERS_DESK_PASSWORD` holds a hash (`maorders desk --hash-password` prints one) or,
  tolerated, the password itself, hashed at start and never kept, logged or shown.
- The session cookie is HttpOnly and SameSite=Strict; every POST carries the session's CSRF
  token, compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from typing import Any

HASH_PREFIXES = ("scrypt:", "pbkdf2:")
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}


def password_hash(setting: str | None) -> str | None:
    """The hash to check sign-ins against: the setting itself when it is a hash, else its hash."""
    if not setting:
        return None
    if setting.startswith(HASH_PREFIXES):
        return setting
    from maorders.redact import register_secret
    from werkzeug.security import generate_password_hash

    register_secret(setting)  # a plain password in the settings: masked wherever text is written
    return generate_password_hash(setting)


def make_hash(password: str) -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password)


def password_ok(stored_hash: str, given: str) -> bool:
    from werkzeug.security import check_password_hash

    return bool(given) and check_password_hash(stored_hash, given)


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_NAMES or host.startswith("127.")


def host_allowed(host_header: str, loopback_only: bool) -> bool:
    """Bound to loopback: the Host header must name loopback (the port may be anything)."""
    if not loopback_only:
        return True
    name = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
    return is_loopback(name.strip().lower())


def csrf_token(session: Any) -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(session: Any, given: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and given) and hmac.compare_digest(str(expected), str(given))


SECURITY_HEADERS = {
    # the desk's own files only: no inline script, nothing from a CDN, no framing
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; media-src 'self' data:; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class SignInGuard:
    """Wrong passwords from one address: after `limit` within `window` seconds, sign-in waits
    out the rest of the window (a shared desk password is short; guessing must be slow)."""

    def __init__(self, limit: int = 5, window: float = 300.0):
        self.limit, self.window = limit, window
        self.failures: dict[str, list[float]] = {}
        self.lock = threading.Lock()

    def _recent(self, address: str) -> list[float]:
        cutoff = time.monotonic() - self.window
        recent = [t for t in self.failures.get(address, []) if t > cutoff]
        self.failures[address] = recent
        return recent

    def blocked(self, address: str) -> bool:
        with self.lock:
            return len(self._recent(address)) >= self.limit

    def failed(self, address: str) -> None:
        with self.lock:
            self._recent(address).append(time.monotonic())
