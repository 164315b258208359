"""Only our own orders. MeaSoft order numbers are unique within a calendar year only (error 17
"order exists" is checked within the year: MeaSoft wiki rev. 12446/12453), and the account's
other integrations and its cabinet make orders too. So a MeaSoft order found under our number
is ours only when something proves it:

- adopting it after error 17 (a neworder whose reply was lost): it has our receiver's phone,
  and it was not made before our shipment was queued (last year's order under the same
  number is not ours). A reply without the receiver's phone proves nothing: not ours;
- feeding its statuses to our CRM order: its ordercode is the one we know, or, before we know
  one, it was not made before our shipment. Where the reply carries no creation time (the
  docs do not promise `statushistory`), the number alone is taken, and the docs say so.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from courier.measoft import Parcel

# MeaSoft writes local (Moscow) times, the journal UTC with an offset: a day's slack either way.
SLACK = timedelta(days=1)


def adoptable(parcel: Parcel, receiver_phone: str, queued_at: str) -> bool:
    """A MeaSoft order answering error 17 is the one we sent when its reply was lost."""
    theirs, ours = _digits(parcel.phone)[-10:], _digits(receiver_phone)[-10:]
    return bool(theirs) and theirs == ours and not made_before(parcel, queued_at)


def feeds(parcel: Parcel, shipment: dict[str, Any]) -> bool:
    """A MeaSoft status under our orderno is about our shipment (not last year's order)."""
    known = shipment.get("ordercode") or ""
    if known and parcel.ordercode:
        return parcel.ordercode == known
    return not made_before(parcel, shipment.get("created_at") or "")


def made_before(parcel: Parcel, queued_at: str) -> bool:
    """MeaSoft made the order before our shipment existed (False when either date is unknown)."""
    made, queued = _day(parcel.created), _day(queued_at)
    return made is not None and queued is not None and made < queued - SLACK


def pick(parcels: list[Parcel], shipment: dict[str, Any]) -> Parcel | None:
    """Our order among those a lookup by number found (newest first when several fit)."""
    fitting = [p for p in parcels if feeds(p, shipment)]
    return max(fitting, key=lambda p: p.created) if fitting else None


def lookup_range(created: list[str]) -> tuple[str, str]:
    """The statusreq date range (datefrom, dateto) covering shipments queued at these times."""
    days = [d for d in (_day(c) for c in created) if d is not None] or [date.today()]
    return (min(days) - SLACK).isoformat(), (max(max(days), date.today()) + SLACK).isoformat()


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat((text or "")[:10])
    except ValueError:
        return None


def _digits(text: str) -> str:
    return "".join(ch for ch in text or "" if ch.isdigit())
