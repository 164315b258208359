"""The booking rules of the MAOrders seed, as pure functions (no I/O).

A booking document has a state (New, Closed = assembled, Issued, Deleted); the
order has a state as people at the pharmacy know it (the seed's «Статус заказа»).
Site statuses: 1 Новый, 2 Выдан, 3 Отменен, 5 Готов к выдаче, 6 Комплектуется,
7 Ожидает подтверждения, 8 Подтвержден.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from maorders.i18n import _
from maorders.megapteka.words import booking_word
from maorders.errors import InputError

# booking document states
NEW, CLOSED, ISSUED, DELETED = "New", "Closed", "Issued", "Deleted"
ACTIVE = (NEW, CLOSED)  # these hold stock

# order states (the seed's words)
ORDER_NEW = "Новый"
AWAITING = "Ожидает подтверждения"
CONFIRMED = "Подтвержден"
READY = "Готов к выдаче"
ISSUED_STATE = "Выдан"
CANCELLED = "Отменен"
CANCELLED_BY_CLIENT = "Аннулирован клиентом"

STATUS_NEW, STATUS_ISSUED, STATUS_CANCELLED, STATUS_READY = 1, 2, 3, 5
STATUS_AWAITING, STATUS_CONFIRMED = 7, 8
STATUS_NAMES = {1: "Новый", 2: "Выдан", 3: "Отменен", 5: "Готов к выдаче", 6: "Комплектуется",
                7: "Ожидает подтверждения", 8: "Подтвержден"}


@dataclass(frozen=True)
class OrderLine:
    line_id: int
    sku: str
    name: str
    barcode: str
    protek_code: str
    katren_code: str
    egk_code: str
    quantity: int
    price: float


@dataclass(frozen=True)
class Order:
    id: int
    number: str
    created_at: str
    comment: str
    lines: tuple[OrderLine, ...]


@dataclass(frozen=True)
class LineBooking:
    line_id: int
    stock_sku: str | None  # the pharmacy's item the line matched, None when unknown
    ordered: int
    booked: int


@dataclass(frozen=True)
class Decision:
    outcome: str  # "full", "partial" or "none"
    lines: tuple[LineBooking, ...]
    status: int
    comment: str
    notification: str

    @property
    def booked(self) -> bool:
        return self.outcome != "none"


# (stock sku, quantity available now) for an order line; (None, 0) when no item matches
Availability = Callable[[OrderLine], tuple[str | None, int]]


def book(order: Order, available: Availability) -> Decision:
    """All / part / none, from what the default department has right now."""
    used: dict[str, int] = {}  # two lines of one order may match the same item
    lines = []
    for line in order.lines:
        sku, free = available(line)
        free = max(0, free - used.get(sku, 0)) if sku else 0
        booked = min(line.quantity, free)
        if sku and booked:
            used[sku] = used.get(sku, 0) + booked
        lines.append(LineBooking(line.line_id, sku, line.quantity, booked))
    wanted = sum(line.ordered for line in lines)
    got = sum(line.booked for line in lines)
    if got == 0:
        return Decision("none", tuple(lines), STATUS_CANCELLED, "Нет товара в наличии",
                        _("Internet order {number}: nothing in stock, the order is cancelled").format(number=order.number))
    if got < wanted:
        return Decision("partial", tuple(lines), STATUS_NEW, f"Есть {got} из {wanted}",
                        _("New internet order {number}: booked in part ({got} of {wanted})").format(
                            number=order.number, got=got, wanted=wanted))
    return Decision("full", tuple(lines), STATUS_NEW, "",
                    _("New internet order {number}: booked in full").format(number=order.number))


def expired(booked_at: datetime, ttl_hours: float, now: datetime) -> bool:
    """A booking past its keeping time (counted from when it was made); 0 expires all."""
    return now - booked_at >= timedelta(hours=ttl_hours)


@dataclass(frozen=True)
class Change:
    """What happens to a booking: new states, the status to queue (if any), a message."""

    booking_state: str | None
    order_state: str
    status: int | None = None
    notification: str | None = None
    release: bool = False  # the booking stops holding stock
    needs_person: bool = False  # the notification asks a person to act (MAORDERS_ALERT_LEVEL=problems)


def on_site_cancel(number: str, booking_state: str | None, order_state: str) -> Change:
    """Event 3. A New booking is deleted at once; an assembled one needs a person."""
    if booking_state == NEW:
        return Change(DELETED, CANCELLED, release=True,
                      notification=_("Internet order {number} was cancelled on the site; its booking is deleted").format(
                          number=number))
    if booking_state == CLOSED:
        return Change(CLOSED, CANCELLED_BY_CLIENT, needs_person=True,
                      notification=_("Internet order {number} was cancelled by the client: the order is assembled "
                                     "and must be disbanded (maorders bookings delete)").format(number=number))
    return Change(booking_state, CANCELLED if booking_state != ISSUED else order_state)


def on_site_confirm(booking_state: str | None, order_state: str) -> Change:
    """Event 8: the customer accepted the partial order."""
    if booking_state in ACTIVE and order_state == AWAITING:
        return Change(booking_state, CONFIRMED)
    return Change(booking_state, order_state)


def on_expiry(number: str, order_state: str) -> Change:
    """Past its keeping time: deleted, stock released, status 3 unless the site cancelled."""
    status = None if order_state in (CANCELLED_BY_CLIENT, CANCELLED) else STATUS_CANCELLED
    return Change(DELETED, CANCELLED if status else order_state, status, release=True, needs_person=True,
                  notification=_("«{number}» deleted, the order must be disbanded").format(number=number))


def operator_action(action: str, number: str, booking_state: str | None, order_state: str) -> Change:
    """What a person at the pharmacy does with a booking: each checked before it is queued."""
    if booking_state not in ACTIVE:
        raise InputError(_("order {number} has no active booking ({booking}, order «{order_state}»)")
            .format(number=number, booking=booking_word(booking_state), order_state=order_state))
    if action == "request-confirmation":
        if order_state != ORDER_NEW:
            raise InputError(_("order {number} is «{order_state}»: confirmation is asked only of a new order")
                .format(number=number, order_state=order_state))
        return Change(CLOSED, AWAITING, STATUS_AWAITING)
    if action == "ready":
        if order_state not in (ORDER_NEW, CONFIRMED):
            raise InputError(_("order {number} is «{order_state}»: only a new or confirmed order can be ready")
                .format(number=number, order_state=order_state))
        return Change(CLOSED, READY, STATUS_READY)
    if action == "issue":
        if order_state != READY:
            raise InputError(_("order {number} is «{order_state}»: mark it ready (status 5) before issuing")
                .format(number=number, order_state=order_state))
        return Change(ISSUED, ISSUED_STATE, STATUS_ISSUED, release=True)
    if action == "delete":
        status = None if order_state in (CANCELLED_BY_CLIENT, CANCELLED) else STATUS_CANCELLED
        return Change(DELETED, CANCELLED if status else order_state, status, release=True)
    raise ValueError(action)
