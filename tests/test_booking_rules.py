"""The booking rules of the seed, without I/O."""

from datetime import datetime, timedelta, timezone

import pytest

from maorders import i18n
from maorders.errors import InputError
from maorders.megapteka import booking as b


@pytest.fixture(autouse=True)
def in_russian():
    """The notifications as the pharmacy reads them by default: the seed's own words."""
    i18n.set_language("ru")
    yield
    i18n.set_language(None)


def line(line_id: int, sku: str, quantity: int) -> b.OrderLine:
    return b.OrderLine(line_id, sku, sku, "", "", "", "", quantity, 10.0)


def order(*lines: b.OrderLine) -> b.Order:
    return b.Order(1042, "MA-1042", "", "", tuple(lines))


def stock(**free: int):
    return lambda ln: (ln.sku, free[ln.sku]) if ln.sku in free else (None, 0)


def test_everything_available_books_all_and_queues_status_1():
    decision = b.book(order(line(1, "A", 2), line(2, "B", 1)), stock(A=5, B=1))
    assert decision.outcome == "full"
    assert decision.status == b.STATUS_NEW
    assert [lb.booked for lb in decision.lines] == [2, 1]
    assert "полное бронирование" in decision.notification


def test_part_available_books_what_is_there_flags_partial_and_queues_status_1():
    decision = b.book(order(line(1, "A", 5), line(2, "X", 1)), stock(A=3))
    assert decision.outcome == "partial"
    assert decision.status == b.STATUS_NEW
    assert [(lb.stock_sku, lb.booked) for lb in decision.lines] == [("A", 3), (None, 0)]
    assert "частичное бронирование" in decision.notification


def test_nothing_available_books_nothing_and_queues_status_3():
    decision = b.book(order(line(1, "A", 2)), stock(A=0))
    assert decision.outcome == "none"
    assert not decision.booked
    assert decision.status == b.STATUS_CANCELLED


def test_two_lines_of_one_item_share_what_is_free():
    decision = b.book(order(line(1, "A", 2), line(2, "A", 2)), stock(A=3))
    assert [lb.booked for lb in decision.lines] == [2, 1]
    assert decision.outcome == "partial"


@pytest.mark.parametrize("age_hours, ttl, expected", [(47.9, 48, False), (48, 48, True), (0, 0, True),
                                                      (1, 0.5, True), (0.4, 0.5, False)])
def test_expiry_counts_from_when_the_booking_was_made(age_hours, ttl, expected):
    now = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)
    assert b.expired(now - timedelta(hours=age_hours), ttl, now) is expected


def test_site_cancel_deletes_a_new_booking_and_releases_stock():
    change = b.on_site_cancel("MA-1", b.NEW, b.ORDER_NEW)
    assert (change.booking_state, change.order_state, change.release, change.status) == \
        (b.DELETED, b.CANCELLED, True, None)  # the site forbids echoing 3 back


def test_site_cancel_of_an_assembled_booking_needs_a_person():
    change = b.on_site_cancel("MA-1", b.CLOSED, b.READY)
    assert (change.booking_state, change.order_state, change.release) == (b.CLOSED, b.CANCELLED_BY_CLIENT, False)
    assert "расформировать" in change.notification


def test_site_confirm_moves_an_awaiting_order_to_confirmed_only():
    assert b.on_site_confirm(b.CLOSED, b.AWAITING).order_state == b.CONFIRMED
    assert b.on_site_confirm(b.CLOSED, b.READY).order_state == b.READY


def test_expiry_queues_3_unless_the_site_already_cancelled():
    assert b.on_expiry("MA-1", b.ORDER_NEW).status == b.STATUS_CANCELLED
    expired_cancelled = b.on_expiry("MA-1", b.CANCELLED_BY_CLIENT)
    assert expired_cancelled.status is None and expired_cancelled.booking_state == b.DELETED
    assert "«MA-1» удален, заказ необходимо расформировать" == b.on_expiry("MA-1", b.ORDER_NEW).notification


def test_operator_path_new_to_awaiting_to_ready_to_issued():
    change = b.operator_action("request-confirmation", "MA-1", b.NEW, b.ORDER_NEW)
    assert (change.booking_state, change.order_state, change.status) == (b.CLOSED, b.AWAITING, 7)
    assert b.operator_action("ready", "MA-1", b.CLOSED, b.CONFIRMED).status == 5
    issued = b.operator_action("issue", "MA-1", b.CLOSED, b.READY)
    assert (issued.booking_state, issued.status, issued.release) == (b.ISSUED, 2, True)


@pytest.mark.parametrize("action, booking_state, order_state", [
    ("issue", b.NEW, b.ORDER_NEW),                    # 2 only after 5
    ("ready", b.CLOSED, b.AWAITING),                  # the customer has not confirmed yet
    ("request-confirmation", b.CLOSED, b.READY),
    ("ready", b.DELETED, b.CANCELLED),                # nothing is booked any more
    ("delete", None, b.CANCELLED),
])
def test_operator_actions_out_of_order_are_refused(action, booking_state, order_state):
    with pytest.raises(InputError):
        b.operator_action(action, "MA-1", booking_state, order_state)


def test_deleting_a_client_cancelled_booking_sends_nothing_more():
    change = b.operator_action("delete", "MA-1", b.CLOSED, b.CANCELLED_BY_CLIENT)
    assert change.status is None and change.release and change.booking_state == b.DELETED
