"""Issue 16 point 2b for MegApteka: hostile files and replies give the right exit code, never a
traceback. Through the installed CLI against the MegApteka emulator, and hypothesis properties
over the stock reader's bytes and over every reply frame the client reads from a real server."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from maorders.emulation import Response
from maorders.errors import InputError, MaordersError, PermanentError, TransientError
from maorders.http import Budget, Remote
from maorders.megapteka.client import MegaptekaClient, Page
from maorders.megapteka.stock import BadRow, StockFile, StockRow
from test_megapteka_faults import HEADER, error_lines, ok, stock_table

ROW = "A-2001;Нурофен;Reckitt;Основной;3;189,50;4601234567890;;;;2027-05-01\n"


# ---------------------------------------------------------------------- the stock file
@pytest.mark.parametrize("rows_before", [0, 3000], ids=["in the first chunk", "past the first chunk"])
def test_point2b_a_cp1251_stock_file_with_an_undefined_byte_is_65_naming_line_and_byte(cli, megapteka,
                                                                                      rows_before):
    _, site = megapteka
    ok(cli, "export-stock")
    before, shown = stock_table(cli), list(site.stock_items)
    bad = cli.workdir / "bad.csv"
    good = (HEADER + "\n" + ROW * (rows_before + 1)).encode("cp1251")
    bad.write_bytes(good + "A-2002;Аспирин".encode("cp1251") + b"\x98;Bayer;;1;10,00;4600000000001;;;;\n")
    code, result, stderr = cli.json("export-stock", "--stock-file", str(bad))
    line = rows_before + 3  # the header, the good rows, then the bad one
    assert code == 65 and "Traceback" not in stderr, stderr
    assert len(error_lines(stderr)) == 1
    assert f"line {line}:" in error_lines(stderr)[0] and "0x98" in error_lines(stderr)[0]
    assert str(bad) in error_lines(stderr)[0]
    assert stock_table(cli) == before and site.stock_items == shown


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(head=st.sampled_from([b"", (HEADER + "\n").encode("cp1251"), (HEADER + "\n").encode("utf-8-sig")]),
       body=st.binary(max_size=600), cp1251_undefined=st.booleans())
def test_point2b_any_bytes_in_a_stock_file_are_rows_bad_rows_or_65(tmp_path, head, body, cp1251_undefined):
    path = tmp_path / "stock.csv"
    path.write_bytes(head + body + (b"\x98;x;;;1;1;1;;;;\n" if cp1251_undefined else b""))
    try:
        rows = list(StockFile(path).rows())
    except InputError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    assert all(isinstance(row, (StockRow, BadRow)) for row in rows)


# ---------------------------------------------------------------------- replies
def test_point2b_a_deeply_nested_events_reply_is_75_never_1(cli, megapteka):
    _, site = megapteka
    original = site.route
    site.route = lambda request: (Response(200, b"[" * 200_000, {"Content-Type": "application/json"})
                                  if request.path.endswith("/events") else original(request))
    code, result, stderr = cli.json("pull-orders", MAORDERS_HTTP_RETRIES="1")
    assert code == 75 and "Traceback" not in stderr, stderr
    assert any("malformed" in e for e in result["connectors"]["megapteka"]["errors"])


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**80, max_value=2**80),
                    st.floats(allow_nan=False), st.text(max_size=20))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=10)
FRAMES = st.one_of(
    VALUES.map(lambda v: json.dumps(v).encode()),  # any JSON at all
    st.fixed_dictionaries({"orders": VALUES, "last_id": VALUES, "has_more": VALUES}).map(
        lambda v: json.dumps(v).encode()),  # the frame's keys, any values
    st.integers(min_value=1, max_value=100_000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(min_value=1, max_value=100_000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
    st.sampled_from([b"NaN", b'{"orders": [], "last_id": NaN, "has_more": false}', b"Infinity", b"\xff\xfe",
                     b'{"orders": [], "last_id": 1e400, "has_more": false}']),
    st.binary(max_size=200),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=FRAMES, status=st.sampled_from([200, 200, 200, 404, 409]))
def test_point2b_any_orders_reply_is_a_page_or_an_error_with_its_code(megapteka, body, status):
    # a 4xx body is read by the kernel's `error_text`, which (until the kernel reads any
    # undecodable body as malformed) takes only bodies the decoder can take
    if status >= 400 and body[:1] in (b"[", b"{") and body.count(body[:1]) > 900:
        return
    server, site = megapteka
    original = site.route
    site.route = lambda request: (Response(status, body, {"Content-Type": "application/json"})
                                  if request.path.endswith("/orders") else original(request))
    remote = Remote("megapteka", server.url, 5, 0, Budget(30), url_setting="MEGAPTEKA_URL")
    try:
        page = MegaptekaClient(remote, "1001", "s3cret").fetch_orders(0)
    except (TransientError, PermanentError) as exc:
        assert "\n" not in str(exc)
    except MaordersError as exc:  # a 4xx on a feed refuses the pass: 69, or 78 naming the URL
        assert exc.exit_code in (69, 78) and status >= 400
    else:
        assert isinstance(page, Page) and isinstance(page.items, list) and isinstance(page.last_id, int)
    finally:
        site.route = original
        remote.close()
