"""Masking of secrets and personal data in everything we write: logs, --json, stderr, and the
text the journal keeps (a run's summary, an attempt's message, an item's last error, a
notification): a remote that echoes our token in its error text must not put it on disk.

Secrets are masked by value (each configured secret and every token a client
receives is registered). Personal data (phones, e-mails) is masked by shape,
since it comes from remote data we cannot list in advance; names are simply
never logged.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
_secrets: set[str] = set()

PHONE = re.compile(r"(?<![\w.])\+?[78][\s(-]*\d{3}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}(?!\d)")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
AUTH = re.compile(r"(?i)(authorization|x-api-key|apikey|access_token|secret|pass(?:word)?)([\"']?\s*[:=]\s*[\"']?)([^\s\"'&,}]+)")


def register_secret(value: str | None) -> None:
    """Mask `value` wherever it appears from now on (short values would mask too much),
    as it is and as it looks URL-encoded, JSON-escaped and XML-escaped."""
    if value and len(value) >= 4:
        _secrets.update(encodings(value))


def encodings(value: str) -> set[str]:
    """The forms a secret takes on the way out: in a query or form, in JSON, in XML."""
    return {value, quote(value, safe=""), quote_plus(value), quote(value),
            json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
            _xml(value, "&quot;", "&apos;"), _xml(value, "&#34;", "&#39;")}


def _xml(value: str, quot: str, apos: str) -> str:
    # by hand: xml.sax.saxutils would pull urllib.request and http.client into every start
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace('"', quot).replace("'", apos)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = AUTH.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = EMAIL.sub(MASK, text)
    return PHONE.sub(MASK, text)


def masked(value: Any) -> Any:
    """`value` with every string in it redacted, dict and list structure kept (for JSON columns:
    masking the dumped text instead could cut a JSON escape in two)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: masked(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(item) for item in value]
    return value


class RedactingFormatter(logging.Formatter):
    """Formats as usual, tracebacks included, then masks the whole text. A line's time is ISO-8601
    UTC (`2026-12-06T08:41:06.447Z`), as the journal's and `--json`'s: one clock to match them by."""

    converter = time.gmtime
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
