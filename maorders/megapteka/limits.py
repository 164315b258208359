"""The ranges every number from outside must fall in (the site's replies, the stock file).

A value outside them is one bad item (an order rejected, a stock row skipped by its
line), never a crash: SQLite keeps 64-bit integers only, and a NaN or 1e308 price
would poison every sum it enters.
"""

from __future__ import annotations

import math
from typing import Any

MAX_ID = 2**63 - 1  # SQLite's INTEGER
MAX_PACKS = 1_000_000  # of one item: no pharmacy holds or sells a million packs of anything
MAX_PRICE = 10_000_000.0  # roubles a pack; the dearest medicines cost a few million
MAX_TEXT = 200  # characters of an order number or a code


def is_id(value: Any) -> bool:
    """A site id: a whole number SQLite can keep (bool is not one)."""
    return type(value) is int and 0 < value <= MAX_ID


def is_packs(value: Any, least: int = 0) -> bool:
    return type(value) is int and least <= value <= MAX_PACKS


def is_price(value: Any) -> bool:
    return (type(value) in (int, float) and math.isfinite(value)  # NaN and inf fail isfinite
            and 0 <= value <= MAX_PRICE)
