"""Reading the pharmacy's stock export: encodings, delimiters, bad rows by line."""

import pytest
from hypothesis import given, strategies as st

from maorders.errors import InputError
from maorders.megapteka.stock import BadRow, StockFile, StockRow, parse_number

HEADER = "sku;name;manufacturer;department;quantity;price;barcode;protek_code;katren_code;egk_code;expires_at\n"


def rows_of(tmp_path, text: str, encoding: str = "cp1251"):
    path = tmp_path / "stock.csv"
    path.write_bytes(text.encode(encoding))
    return list(StockFile(path).rows())


def test_cp1251_semicolon_decimal_comma(tmp_path):
    rows = rows_of(tmp_path, HEADER + "A-1;Нурофен;Reckitt;Основной;7;189,50;4601;;;;2027-05-01\n")
    assert rows == [StockRow(2, "A-1", "Нурофен", "Reckitt", "Основной", 7, 189.5, "4601", "", "", "",
                             "2027-05-01")]


def test_utf8_bom_comma_decimal_point_and_case_insensitive_header(tmp_path):
    text = "SKU,Name,Quantity,Price,Barcode,Extra\nA-1,Аспирин,3,10.5,4601,ignored\n"
    rows = rows_of(tmp_path, text, "utf-8-sig")
    assert [(r.sku, r.name, r.quantity, r.price) for r in rows] == [("A-1", "Аспирин", 3, 10.5)]


def test_bad_rows_are_reported_with_the_files_own_line_numbers(tmp_path):
    text = HEADER + "\n".join([
        "A-1;Ok;;;1;1,0;4601;;;;",
        "A-2;No codes;;;1;1,0;;;;;",
        "A-3;Bad qty;;;много;1,0;4602;;;;",
        "A-4;Negative;;;-2;1,0;4603;;;;",
        ";No sku;;;1;1,0;4604;;;;",
        "A-6;Bad price;;;1;abc;4605;;;;",
    ]) + "\n"
    rows = rows_of(tmp_path, text)
    assert isinstance(rows[0], StockRow)
    assert [(r.line, r.reason.split()[0]) for r in rows[1:]] == [
        (3, "no"), (4, "quantity"), (5, "quantity"), (6, "no"), (7, "price")]
    assert all(isinstance(r, BadRow) for r in rows[1:])


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"\x00\x01\x02binary\x00", "not a text file"),
    ("A-1;Нурофен;7;189,50\n".encode("cp1251"), "line 1"),
])
def test_files_unusable_as_a_whole(tmp_path, content, words):
    path = tmp_path / "stock.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=words):
        list(StockFile(path).rows())


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        list(StockFile(tmp_path / "nope.csv").rows())


@given(st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False))
def test_decimal_comma_and_point_read_the_same(value):
    assert parse_number(str(value).replace(".", ",")) == parse_number(str(value)) == float(value)


def test_numbers_past_any_sane_range_are_bad_rows_by_line(tmp_path):
    text = HEADER + "\n".join([
        "A-1;Ok;;Основной;1000000;10000000,00;4601;;;;",
        "A-2;Too many;;Основной;99999999999999999999;1,0;4602;;;;",
        "A-3;Too dear;;Склад;1;1e300;4603;;;;",
        "A-4;Infinite;;;1;inf;4604;;;;",
    ]) + "\n"
    rows = rows_of(tmp_path, text)
    assert isinstance(rows[0], StockRow) and (rows[0].quantity, rows[0].price) == (1_000_000, 10_000_000.0)
    assert [(r.line, r.reason, r.department) for r in rows[1:]] == [
        (3, "quantity 99999999999999999999 is out of range (at most 1000000 packs)", "Основной"),
        (4, "price 1e300 is out of range (at most 10000000)", "Склад"),
        (5, "price 'inf' is not a number", ""),
    ]


def test_a_pipe_is_read_like_a_file(tmp_path):
    import os
    import threading

    if not hasattr(os, "mkfifo"):
        return
    fifo = tmp_path / "stock.fifo"
    os.mkfifo(fifo)
    text = (HEADER + "A-1;Нурофен;Reckitt;Основной;7;189,50;4601;;;;\n").encode("cp1251")
    writer = threading.Thread(target=fifo.write_bytes, args=(text,), daemon=True)
    writer.start()
    assert [r.sku for r in StockFile(fifo).rows()] == ["A-1"]
    writer.join(timeout=10)
