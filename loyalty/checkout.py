"""The till's rules for a loyalty sale and refund: pure functions, no I/O.

- A line is `CODE:QTY:PRICE[:fuel|shop[:NAME]]` (kind fuel when left out); `--amount SUM`
  is one shop line AMOUNT × 1 (CONTRACT.md, "scan-qr at the till").
- amount = quantity × price to the kopeck, half-up, as the till prints it.
- `--redeem 0` is «Не списывать» (accrue only); `--redeem max` is the lower of the
  service's `max_redeem` and the balance; a number must not exceed the balance.
- Offers: `--offer ID` must be one the client has; `--all-offers` applies every one.
- A sale is known by its receipt number as the till passes it (docs/loyalty.md: the shift
  and the number, or the fiscal document number); a rerun with the same inputs is the same
  sale (the fingerprint leaves the code out: the app's QR changes every time it is shown).
- A refund is keyed by its return receipt when the till has one; without one, an operation
  has one refund (the same command again is that refund, never a second).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable

from loyalty.money import MAX_MONEY, BadNumber, as_json, line_amount, money, quantity
from maorders.errors import InputError, UsageError
from maorders.i18n import _

KINDS = ("fuel", "shop")
PAYMENT_TYPES = ("cash", "card")
PRODUCT_CODE = re.compile(r"[\x21-\x7e]{1,64}")
RECEIPT_NUMBER = re.compile(r"[0-9A-Za-z_./-]{1,64}")
OPERATION_ID = re.compile(r"[\x21-\x7e]{1,128}")
MAX_LINES = 200
NO_REDEEM = Decimal(0)


@dataclass(frozen=True)
class Line:
    code: str
    quantity: Decimal
    price: Decimal
    kind: str
    name: str

    @property
    def amount(self) -> Decimal:
        return line_amount(self.quantity, self.price)

    def wire(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "kind": self.kind, "quantity": float(self.quantity),
                "price": as_json(self.price), "amount": as_json(self.amount)}

    def key(self) -> list[str]:
        return [self.code, str(self.quantity.normalize()), str(self.price), self.kind, self.name]


@dataclass(frozen=True)
class Redeem:
    """What the cashier asked to redeem: a number of points, or the most allowed."""

    points: Decimal
    most: bool = False

    def key(self) -> str:
        return "max" if self.most else str(self.points)


@dataclass(frozen=True)
class SaleRequest:
    lines: tuple[Line, ...]
    offer_ids: tuple[str, ...]
    all_offers: bool
    redeem: Redeem
    payment_type: str
    receipt_number: str | None

    def fingerprint(self) -> str:
        """The sale's inputs without the code: a rerun with the same inputs is the same sale."""
        payload = {"lines": [line.key() for line in self.lines], "offers": sorted(self.offer_ids),
                   "all_offers": self.all_offers, "redeem": self.redeem.key(), "payment": self.payment_type}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))


# -- parsing the till's options ------------------------------------------------------------------
def parse_line(spec: str) -> Line:
    """`CODE:QTY:PRICE[:fuel|shop[:NAME]]`; the name may itself hold colons."""
    parts = spec.split(":", 4)
    if len(parts) < 3:
        raise InputError(_("--line {spec}: expected CODE:QTY:PRICE[:fuel|shop[:NAME]]").format(spec=repr(spec[:80])))
    code, qty, price = (p.strip() for p in parts[:3])
    kind = (parts[3].strip().lower() if len(parts) > 3 else "") or "fuel"
    name = parts[4].strip() if len(parts) > 4 else ""
    if not PRODUCT_CODE.fullmatch(code):
        raise InputError(_("--line {spec}: CODE must be 1-64 printable characters without spaces").format(
            spec=repr(spec[:80])))
    if kind not in KINDS:
        raise InputError(_("--line {spec}: the kind must be fuel or shop, got {kind}").format(
            spec=repr(spec[:80]), kind=repr(kind[:20])))
    if len(name) > 128 or any(not c.isprintable() for c in name):
        raise InputError(_("--line {spec}: NAME must be at most 128 printable characters").format(spec=repr(spec[:80])))
    try:
        qty_value = quantity(qty)
    except BadNumber as exc:
        raise InputError(_("--line {spec}: QTY {reason}").format(spec=repr(spec[:80]), reason=exc)) from None
    try:
        price_value = money(price, positive=True)
    except BadNumber as exc:
        raise InputError(_("--line {spec}: PRICE {reason}").format(spec=repr(spec[:80]), reason=exc)) from None
    line = Line(code, qty_value, price_value, kind, name or code)
    _within_money(line.amount, _("--line {spec}: QTY × PRICE").format(spec=repr(spec[:80])))
    return line


def _within_money(amount: Decimal, what: str) -> None:
    """A sum our own reply parser would refuse is the till's mistake now (65), not 15 s of
    retries of a reply we cannot read."""
    if amount > MAX_MONEY:
        raise InputError(_("{what} is {amount}, more than {most} (the most a receipt may hold)").format(
            what=what, amount=amount, most=MAX_MONEY))


def amount_line(amount: str) -> Line:
    try:
        value = money(amount, positive=True)
    except BadNumber as exc:
        raise InputError(_("--amount {value}: {reason}").format(value=repr(amount[:40]), reason=exc)) from None
    return Line("AMOUNT", Decimal(1), value, "shop", "Покупка")


def parse_redeem(value: str | None) -> Redeem:
    if value is None or value.strip() == "":
        return Redeem(NO_REDEEM)  # «Не списывать»: accrue only
    if value.strip().lower() == "max":
        return Redeem(NO_REDEEM, most=True)
    try:
        return Redeem(money(value))
    except BadNumber as exc:
        raise InputError(_("--redeem {value}: POINTS {reason} (or give max)").format(value=repr(value[:40]), reason=exc)) from None


def receipt_number(value: str | None, option: str = "--receipt-number") -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not RECEIPT_NUMBER.fullmatch(value):
        raise InputError(_("{option} {value}: 1-64 letters, digits, '_', '-', '.' or '/'").format(
            option=option, value=repr(value[:70])))
    return value


def operation_id(value: str) -> str:
    value = value.strip()
    if not OPERATION_ID.fullmatch(value):
        raise InputError(_("--refund {value}: not an operation id (as scan-qr printed it)").format(value=repr(value[:70])))
    return value


def sale_request(lines: Iterable[str] | None, amount: str | None, offers: Iterable[str] | None,
                 all_offers: bool, redeem: str | None, payment_type: str | None,
                 receipt: str | None) -> SaleRequest:
    specs = list(lines or [])
    if specs and amount is not None:
        raise UsageError(_("give --line or --amount, not both"))
    if not specs and amount is None:
        raise UsageError(_("a sale needs --line CODE:QTY:PRICE (repeatable) or --amount SUM"))
    if len(specs) > MAX_LINES:
        raise UsageError(_("at most {count} --line options").format(count=MAX_LINES))
    parsed = tuple(parse_line(s) for s in specs) if specs else (amount_line(amount),)
    payment = str(getattr(payment_type, "value", payment_type) or "cash").strip().lower()
    if payment not in PAYMENT_TYPES:
        raise UsageError(_("--payment-type {value}: cash or card (one payment type per sale)").format(
            value=repr(payment_type)))
    offer_ids = tuple(dict.fromkeys(o.strip() for o in (offers or []) if o.strip()))
    if all_offers and offer_ids:
        raise UsageError(_("give --offer ID or --all-offers, not both"))
    request = SaleRequest(parsed, offer_ids, all_offers, parse_redeem(redeem), payment, receipt_number(receipt))
    _within_money(request.total, _("the receipt's total"))
    return request


def refund_amount(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return money(value, positive=True)
    except BadNumber as exc:
        raise InputError(_("--amount {value}: {reason}").format(value=repr(value[:40]), reason=exc)) from None


# -- decisions -------------------------------------------------------------------------------
def chosen_offers(request: SaleRequest, available: Iterable[str]) -> list[str]:
    """The offer ids to send; an offer the client does not have is the cashier's mistake (65)."""
    have = list(available)
    if request.all_offers:
        return have
    missing = [o for o in request.offer_ids if o not in have]
    if missing:
        listed = ", ".join(have) or _("none")
        raise InputError(_("--offer {offer}: the client has no such offer (the client's offers: {listed})").format(
            offer=missing[0], listed=listed))
    return list(request.offer_ids)


def points_to_redeem(redeem: Redeem, balance: Decimal, max_redeem: Decimal | None = None) -> Decimal:
    """Points to ask for: max → min(max_redeem, balance); a number must not exceed the balance."""
    if redeem.most:
        return min(max_redeem if max_redeem is not None else balance, balance)
    if redeem.points > balance:
        raise InputError(_("--redeem {points}: insufficient points, the balance is {balance}").format(
            points=redeem.points, balance=balance))
    return redeem.points


def refund_key(operation: str, return_receipt: str | None, amount: Decimal | None) -> str:
    """What makes a refund the same refund when the till runs it again: its return receipt;
    without one, the operation and the amount asked (an operation's one such refund)."""
    if return_receipt:
        return f"{operation}/receipt/{return_receipt}"
    return f"{operation}/no-receipt/{'all' if amount is None else amount}"


def refundable(paid: Decimal, refunded: Decimal, amount: Decimal | None) -> Decimal:
    """The amount to refund of an operation the journal knows; more than is left is 65."""
    left = paid - refunded
    if left <= 0:
        raise InputError(_("the operation is already refunded in full ({paid})").format(paid=paid))
    if amount is None:
        return left
    if amount > left:
        raise InputError(_("--amount {amount} is more than was paid and not yet refunded ({left})").format(
            amount=amount, left=left))
    return amount
