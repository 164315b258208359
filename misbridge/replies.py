"""Reading a remote's JSON body (ТМ:МИС, sms.ru) so that no value in it can crash the cash desk.

- Any body that does not decode (not UTF-8, not JSON, nested deeper than the decoder's stack) is
  `Undecodable` (a ValueError): the wire client reads it as a malformed or lost reply, never 1.
- An integer of more than MAX_DIGITS digits is kept as `OutOfRange`, neither int nor str: every
  field check refuses it by name (a bad invoice, the feed goes on), and nothing converts it (a
  400-digit `count` once raised OverflowError in math.isfinite; past 4,300 digits Python's own
  int() refuses to parse it and the whole reply was lost).
- NaN and Infinity literals are not JSON (RFC 8259 §6): they are `OutOfRange` too.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DIGITS = 30  # far above any number a field takes (2**63 has 19 digits, money < 10**9)


class Undecodable(ValueError):
    """A body that is not JSON we can read."""


class OutOfRange:
    """A number from a reply that no field takes; shown shortened, never converted."""

    def __init__(self, literal: str) -> None:
        self.literal = literal

    def __str__(self) -> str:
        return self.literal if len(self.literal) <= 24 else f"{self.literal[:12]}…({len(self.literal)} characters)"

    __repr__ = __str__


def _int(literal: str) -> int | OutOfRange:
    return int(literal) if len(literal.lstrip("-")) <= MAX_DIGITS else OutOfRange(literal)


def decode(content: bytes) -> Any:
    """The JSON value of a reply body (UTF-8, or UTF-16/32 with its BOM as json.loads detects)."""
    try:
        return json.loads(content, parse_int=_int, parse_constant=OutOfRange)
    except (ValueError, RecursionError, TypeError) as exc:
        raise Undecodable(f"not JSON ({type(exc).__name__}, {len(content)} bytes)") from None


def as_text(value: Any, limit: int = 200) -> str:
    """A value from a reply as one short line of text (a Message, a status_text)."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (int, float, bool, OutOfRange)) or value is None:
        text = "" if value is None else str(value)
    else:
        text = type(value).__name__  # a list or object where text belongs: its kind, not its bulk
    return " ".join(text.split())[:limit]


def stored(raw: Any) -> str:
    """`raw` as JSON text for the journal; a value that cannot be written is replaced by a note."""
    try:
        return json.dumps(raw, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        return json.dumps({"not_stored": "the reply could not be kept as JSON"})
