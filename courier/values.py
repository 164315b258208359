"""MeaSoft's and RetailCRM's values that the courier rules share: the status groups and
numbers as each side writes them. No I/O.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from maorders.i18n import _, number as people_number


# MeaSoft statuses in which an order is not yet in work: it may still be changed or cancelled.
NOT_IN_WORK = ("NEW", "AWAITING_SYNC")
# Final delivered statuses: the money is collected, the payment is settled (COURIER… are
# preliminary, confirmed later by COMPLETE/PARTIALLY: we wait for the confirmation).
DELIVERED = ("COMPLETE", "PARTIALLY")
# Every code MeaSoft documents (research 1.8); others are kept and shown, never refused.
KNOWN_STATUSES = (
    "AWAITING_SYNC", "NEW", "NEWPICKUP", "PICKUP", "WMSASSEMBLED", "WMSDISASSEMBLED", "ACCEPTED",
    "CUSTOMSPROCESS", "CUSTOMSFINISHED", "CONFIRM", "UNCONFIRM", "DEPARTURING", "DEPARTURE",
    "INVENTORY", "PICKUPREADY", "DELIVERY", "COURIERDELIVERED", "COURIERPARTIALLY",
    "COURIERCANCELED", "COURIERRETURN", "DATECHANGE", "COMPLETE", "PARTIALLY", "CANCELED",
    "RETURNING", "RETURNED", "LOST", "PARTLYRETURNING", "PARTLYRETURNED", "TRANSACCEPTED",
    "PICKUPTRANS",
)
PAID = "paid"  # RetailCRM's standard payment status code for money received
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIME = re.compile(r"^\d{2}:\d{2}$")
GRAMS_PER_KG = Decimal(1000)
# The largest sum, quantity, weight or size a real order has, by far: a number beyond it (1e300,
# a NaN, an overflow) is a rejected item, never an arithmetic error that stops a pass.
SANE_LIMIT = Decimal(10) ** 12


def money(value: Decimal | int | float, places: int = 2) -> str:
    """A MeaSoft number: dot decimals, no trailing zeros, no exponent."""
    quantum = Decimal(1).scaleb(-places)
    text = format(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def json_number(value: Decimal) -> int | float:
    """A sum for RetailCRM's JSON: whole sums as integers (1200, not 1200.0)."""
    return int(value) if value == value.to_integral_value() else float(value)


def measoft_number(text: str | None) -> Decimal:
    """A number as MeaSoft writes it; empty, unreadable or insane (NaN, 1e400) is 0 (SDKs drop
    empty elements). Where a sum matters, `sane_measoft_number` tells the insane apart."""
    number = sane_measoft_number(text)
    return Decimal(0) if number is None else number


def sane_measoft_number(text: str | None) -> Decimal | None:
    """A number as MeaSoft writes it (empty is 0); None when it is not a finite number within
    SANE_LIMIT."""
    try:
        number = Decimal((text or "0").strip() or "0")
    except InvalidOperation:
        return None
    return number if number.is_finite() and abs(number) <= SANE_LIMIT else None


def decimal_of(value: Any, where: str, problems: list[str]) -> Decimal | None:
    if value is None or value == "":
        return Decimal(0)
    try:
        number = None if isinstance(value, bool) else Decimal(str(value).replace(",", "."))
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        problems.append(_("field [{where}] is not a number: {value}").format(where=where, value=repr(value)))
        return None
    if abs(number) > SANE_LIMIT:
        problems.append(_("field [{where}] is out of range: {value} (at most {limit})").format(
            where=where, value=_short(value), limit=people_number(SANE_LIMIT)))
        return None
    return number


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def size_of(value: Any) -> Decimal:
    """A non-negative weight or size; anything else (an insane one too) counts as unknown (0)."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return number if number.is_finite() and 0 < number <= SANE_LIMIT else Decimal(0)


def text_of(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None and not isinstance(value, (dict, list)) else ""
