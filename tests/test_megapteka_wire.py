"""The MegApteka wire's reading of an order: whatever the site sends, one order is either
read with every number in range or refused with `BadOrder` naming the field; never a crash."""

from __future__ import annotations

import math
import sqlite3

from hypothesis import given, settings, strategies as st

from maorders.megapteka.client import BadOrder, entry_id, parse_order
from maorders.megapteka.limits import MAX_ID, MAX_PACKS, MAX_PRICE

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=300))
JSON = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
LINE = st.fixed_dictionaries({}, optional={
    "line_id": st.one_of(st.integers(min_value=-2, max_value=2**64), JSON_SCALARS),
    "quantity": st.one_of(st.integers(min_value=-2, max_value=2**64), JSON_SCALARS),
    "price": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(max_value=2**64), JSON_SCALARS),
    "sku": JSON_SCALARS, "barcode": JSON_SCALARS, "protek_code": JSON, "katren_code": JSON_SCALARS,
    "egk_code": JSON_SCALARS, "name": JSON})


@settings(max_examples=300, deadline=None)
@given(number=JSON_SCALARS, items=st.one_of(st.lists(st.one_of(LINE, JSON), max_size=4), JSON),
       created_at=JSON, comment=JSON)
def test_an_order_is_read_in_range_or_refused_by_field(number, items, created_at, comment):
    raw = {"id": 1042, "number": number, "items": items, "created_at": created_at, "comment": comment}
    try:
        order = parse_order(raw)
    except BadOrder as exc:
        assert str(exc).startswith("order ")
        return
    db = sqlite3.connect(":memory:")  # what is read can be stored: SQLite's ranges
    db.execute("CREATE TABLE l (line_id INTEGER, quantity INTEGER, price REAL)")
    for line in order.lines:
        assert 0 < line.line_id <= MAX_ID and 1 <= line.quantity <= MAX_PACKS
        assert math.isfinite(line.price) and 0 <= line.price <= MAX_PRICE
        assert any((line.sku, line.barcode, line.protek_code, line.katren_code, line.egk_code))
        db.execute("INSERT INTO l VALUES (?, ?, ?)", (line.line_id, line.quantity, line.price))


def test_entry_ids_are_whole_numbers_sqlite_keeps():
    assert [entry_id({"id": v}) for v in (1, MAX_ID, MAX_ID + 1, 0, -1, True, 1.0, "7", None)] == [
        1, MAX_ID, None, None, None, None, None, None, None]
    assert entry_id(["id", 1]) is None and entry_id("1") is None
