"""The cash desk's rules (seed 004, CONTRACT.md «Receipts at the clinic's cash desk»): pure functions.

- VAT: the MIS's «0%» is «без НДС» (tag 1199 value 6) unless MIS_ZERO_VAT_AS_NO_VAT=no
  (seed §12: clinics hardly ever sell at 0%; the price lists say 0% for «без НДС»).
- Catalogs: MIS_UPDATE_PAYERS / MIS_UPDATE_SERVICES yes: what the MIS sends replaces what
  is kept locally; no: what is kept stays (seed §9.2, §9.3 «Изменять контрагентов/номенклатуру»).
- Payments: `cash:SUM` (PaymentType 1), `card:SUM` (2), `advance:SUM` (3, «зачёт аванса»);
  they add up to what is due (`paySum`, less what earlier receipts paid) unless `--partial`.
- A receipt's BillDate is fixed when it is recorded and never changes on a resend (seed §15:
  «с датой их фактической оплаты»).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from maorders.i18n import _
from maorders.errors import InputError

PAYMENT_TYPES = {"cash": 1, "card": 2, "advance": 3}
PAYMENT_NAMES = {1: "наличными", 2: "безналичными", 3: "зачёт аванса"}
SALE, REFUND = 1, 2
NO_VAT = "без НДС"
# tag 1199 values (research/retail_apis.md 3.3, OrangeData's enum); 22 % is not confirmed there
VAT_TAG = {"20%": 1, "10%": 2, "0%": 5, NO_VAT: 6, "5%": 7, "7%": 8}
MAX_SUM = Decimal("1000000000")
MAX_CHECK = 2**31 - 1
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


def vat_rate(tax: str, zero_as_no_vat: bool) -> str:
    """The rate printed on the receipt for the MIS's `tax`."""
    return NO_VAT if tax == "0%" and zero_as_no_vat else tax


def vat_tag(rate: str) -> int | None:
    return VAT_TAG.get(rate)


@dataclass(frozen=True)
class Payment:
    type: int
    amount: Decimal

    def wire(self) -> dict[str, Any]:
        return {"PaymentType": self.type, "paySum": float(self.amount)}


def amount(raw: str, where: str) -> Decimal:
    try:
        value = Decimal(raw.strip().replace(",", "."))
    except InvalidOperation:
        raise InputError(_("{where}: {raw} is not a sum").format(where=where, raw=repr(raw))) from None
    if not value.is_finite() or value <= 0 or value >= MAX_SUM:
        raise InputError(_("{where}: the sum must be more than 0 and less than {max_sum}")
            .format(where=where, max_sum=MAX_SUM))
    if value != value.quantize(Decimal("0.01")):
        raise InputError(_("{where}: the sum has more than 2 decimals (kopecks)").format(where=where))
    return value.quantize(Decimal("0.01"))


def parse_payments(raw: Iterable[str]) -> list[Payment]:
    """`--payment cash:1000 --payment card:500` → payments, one per type."""
    payments: dict[int, Decimal] = {}
    for item in raw:
        kind, sep, sum_text = item.partition(":")
        kind = kind.strip().lower()
        if not sep or kind not in PAYMENT_TYPES:
            raise InputError(_("--payment {item}: write TYPE:SUM with TYPE cash, card or advance")
                .format(item=repr(item)))
        code = PAYMENT_TYPES[kind]
        if code in payments:
            raise InputError(_("--payment {item}: {kind} is given twice").format(item=repr(item), kind=kind))
        payments[code] = amount(sum_text, f"--payment {item!r}")
    if not payments:
        raise InputError(_("--payment is required: e.g. --payment cash:1000"))
    return [Payment(code, value) for code, value in sorted(payments.items())]


def total(payments: Iterable[Payment]) -> Decimal:
    return sum((p.amount for p in payments), Decimal("0.00"))


def check_sale(pay_sum: Decimal, paid_before: Decimal, payments: list[Payment], partial: bool) -> None:
    """A sale pays what is still due; less only with --partial, never more."""
    due = pay_sum - paid_before
    paid = total(payments)
    if due <= 0:
        raise InputError(_("--payment: nothing is due on this invoice (paySum {pay_sum}, paid {paid_before})")
            .format(pay_sum=pay_sum, paid_before=paid_before))
    if paid > due:
        raise InputError(_("--payment: {paid} is more than is due ({due})").format(paid=paid, due=due))
    if paid < due and not partial:
        raise InputError(_("--payment: {paid} does not add up to what is due ({due}); add --partial for a partial "
                           "payment").format(paid=paid, due=due))


def check_refund(paid_before: Decimal, refunded_before: Decimal, payments: list[Payment]) -> None:
    refundable = paid_before - refunded_before
    asked = total(payments)
    if asked > refundable:
        raise InputError(_("--payment: a refund of {asked} is more than was paid and not refunded ({refundable})")
            .format(asked=asked, refundable=refundable))


def check_number(value: int) -> int:
    if not 1 <= value <= MAX_CHECK:
        raise InputError(_("--check-num must be 1..{max_check}, got {value}")
            .format(max_check=MAX_CHECK, value=value))
    return value


def bill_date(raw: str | None, now: datetime) -> str:
    """`--date` (ISO, local time) or now; seconds precision, as the MIS writes dates."""
    if raw is None:
        return now.astimezone().strftime(DATE_FORMAT)  # the MIS writes local time
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InputError(_("--date {raw}: write an ISO date and time, e.g. 2023-06-21T09:48:26")
            .format(raw=repr(raw))) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone().replace(tzinfo=None)
    if not 2000 <= parsed.year <= 2100:
        raise InputError(_("--date {raw}: the year must be 2000..2100").format(raw=repr(raw)))
    return parsed.strftime(DATE_FORMAT)


EMAIL = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")


def contact(email: str | None, phone: str | None) -> tuple[str, str] | None:
    """The buyer's contact given at payment: ('email', addr) or ('sms', 79XXXXXXXXX)."""
    from misbridge.sms import normalise_phone

    if email and phone:
        raise InputError(_("give --email or --phone, not both"))
    if email:
        if not EMAIL.fullmatch(email.strip()) or len(email) > 254 or not _idna_ok(email):
            raise InputError(_("--email: not an e-mail address"))
        return "email", email.strip()
    if phone:
        number = normalise_phone(phone)
        if number is None:
            raise InputError(_("--phone: not a mobile number (write +79XXXXXXXXX)"))
        return "sms", number
    return None


def _idna_ok(email: str) -> bool:
    """The domain can go on the wire as IDNA (пример.рф → xn--e1afmkfd.xn--p1ai)."""
    try:
        email.strip().rpartition("@")[2].encode("idna")
    except UnicodeError:
        return False
    return True


def payments_json(bill: str, check_num: int, kind: int, cashdesk_guid: str,
                  payments: list[Payment]) -> dict[str, Any]:
    """The Pay request's `Payments` object, made once at `receipts pay` and kept as sent."""
    return {"BillDate": bill, "CheckNum": check_num, "Type": kind, "cashdeskGuid": cashdesk_guid,
            "Payments": [p.wire() for p in payments]}


# -- catalogs: whose data wins ----------------------------------------------------------------
def merged(kept: dict[str, Any] | None, incoming: dict[str, Any], update: bool) -> dict[str, Any]:
    """The catalog entry to keep: the MIS's when updating (or new), else the kept one."""
    if kept is None or update:
        return incoming
    return kept


def invoice_state(cancelled: bool, paid: Decimal, refunded: Decimal, pay_sum: Decimal) -> str:
    if cancelled:
        return "annulled"
    net = paid - refunded
    if paid > 0 and net <= 0:
        return "refunded"
    if net >= pay_sum and pay_sum > 0:
        return "paid"
    if net > 0:
        return "partially_paid"
    return "new"
