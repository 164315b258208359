"""Money and points: Decimal, 2 decimals, half-up, range-checked (1 point = 1 rouble).

The contract (shared/protocols/megainsight.md) sends money and points as JSON numbers
with 2 decimals. We parse them as Decimal from the literal text (`parse_float=Decimal`),
so 20.16 stays 20.16, and refuse what is not finite, negative, too large or finer than
a kopeck: such a value is a malformed reply, never silently rounded.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
MAX_MONEY = Decimal("100000000")  # 10^8 roubles: far above any till receipt, far below int64
MAX_QUANTITY = Decimal("100000")  # litres or pieces on one line
QUANTITY_STEP = Decimal("0.001")  # a dispenser counts millilitres


class BadNumber(ValueError):
    """A value that is not a number of the kind asked for; the message says why."""


def to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise BadNumber(f"not a number: {type(value).__name__}")
    try:
        number = Decimal(str(value).strip().replace(",", ".")) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise BadNumber(f"not a number: {str(value)[:20]!r}") from None
    if not number.is_finite():
        raise BadNumber("not a finite number")
    return number


def money(value: Any, *, positive: bool = False) -> Decimal:
    """A sum or a number of points: 0 (or > 0) up to MAX_MONEY, at most 2 decimals."""
    number = to_decimal(value)
    if number < 0 or (positive and number == 0):
        raise BadNumber(f"must be {'more than' if positive else 'at least'} 0, got {number}")
    if number > MAX_MONEY:
        raise BadNumber(f"too large: {number}")
    if number != number.quantize(CENT):
        raise BadNumber(f"more than 2 decimals: {number}")
    return number.quantize(CENT)


def quantity(value: Any) -> Decimal:
    number = to_decimal(value)
    if number <= 0 or number > MAX_QUANTITY:
        raise BadNumber(f"must be more than 0 and at most {MAX_QUANTITY}, got {number}")
    if number != number.quantize(QUANTITY_STEP):
        raise BadNumber(f"more than 3 decimals: {number}")
    return number


def round_money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_amount(qty: Decimal, price: Decimal) -> Decimal:
    """amount = quantity × price, rounded half-up to the kopeck (as a till prints it)."""
    return round_money(qty * price)


def as_json(value: Decimal) -> float:
    """A 2-decimal Decimal as a JSON number (float repr of a 2-decimal value round-trips)."""
    return float(value)
