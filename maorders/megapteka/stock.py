"""The pharmacy's stock export file (CONTRACT.md, "The stock export file").

Streamed row by row, so memory does not grow with the file. UTF-8 (with or
without BOM) or Windows-1251; `;` or `,`; decimal comma or point. A file that is
unusable as a whole is an `InputError` (65); a bad row is yielded as a
`BadRow` with its line number and never stops the pass.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from maorders.errors import InputError

CODE_COLUMNS = ("barcode", "protek_code", "katren_code", "egk_code")
COLUMNS = ("sku", "name", "manufacturer", "department", "quantity", "price", *CODE_COLUMNS, "expires_at")
REQUIRED = ("sku", "name", "quantity", "price")
SNIFF_BYTES = 64 * 1024
NOT_TEXT = re.compile("[\udc80-\udcff]")  # bytes the encoding could not decode (surrogateescape)


@dataclass(frozen=True)
class StockRow:
    line: int
    sku: str
    name: str
    manufacturer: str
    department: str
    quantity: int
    price: float
    barcode: str
    protek_code: str
    katren_code: str
    egk_code: str
    expires_at: str

    def codes(self) -> dict[str, str]:
        return {column: getattr(self, column) for column in CODE_COLUMNS}


@dataclass(frozen=True)
class BadRow:
    line: int
    sku: str
    reason: str

    def __str__(self) -> str:
        sku = f" (sku {self.sku})" if self.sku else ""
        return f"line {self.line}{sku}: {self.reason}"


def detect_encoding(head: bytes, path: Path) -> str:
    if not head.strip():
        raise InputError(f"{path}: the stock file is empty")
    if b"\x00" in head:
        raise InputError(f"{path}: not a text file (binary data at the start)")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        # A cut in the middle of a multi-byte character at the end of the sample is fine.
        head.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:
            return "utf-8-sig"
    return "cp1251"


def detect_delimiter(header_line: str) -> str:
    return ";" if header_line.count(";") >= header_line.count(",") else ","


def parse_number(text: str) -> float:
    value = float(text.strip().replace("\u00a0", "").replace(" ", "").replace(",", "."))
    if math.isnan(value) or math.isinf(value):
        raise ValueError(text)
    return value


class StockFile:
    """Iterate rows of one stock file; `header` problems raise before any row."""

    def __init__(self, path: Path):
        self.path = path

    def _open(self) -> io.TextIOWrapper:
        try:
            raw = self.path.open("rb")
        except FileNotFoundError:
            raise InputError(f"{self.path}: the stock file does not exist") from None
        except OSError as exc:
            raise InputError(f"{self.path}: the stock file cannot be read: {exc.strerror}") from None
        head = raw.read(SNIFF_BYTES)
        raw.seek(0)
        encoding = detect_encoding(head, self.path)
        # Undecodable bytes become lone surrogates, found row by row: the error names its own line.
        return io.TextIOWrapper(raw, encoding=encoding, newline="", errors="surrogateescape")

    def rows(self) -> Iterator[StockRow | BadRow]:
        with self._open() as text:
            line = 0
            try:
                header_line = text.readline()
                reader = csv.reader(text, delimiter=detect_delimiter(header_line))
                columns = self._columns(next(csv.reader([header_line], delimiter=reader.dialect.delimiter), []))
                for record in reader:
                    line = reader.line_num + 1
                    if NOT_TEXT.search("".join(record)):
                        raise InputError(f"{self.path}: line {line}: not valid text in the file's encoding "
                                         f"({text.encoding})")
                    if not any(cell.strip() for cell in record):
                        continue
                    yield self._row(line, record, columns)
            except UnicodeDecodeError:
                raise InputError(f"{self.path}: line {line + 1}: not valid text in the file's encoding "
                                 f"({text.encoding})") from None
            except csv.Error as exc:
                raise InputError(f"{self.path}: line {line + 1}: {exc}") from None

    def _columns(self, header: list[str]) -> dict[str, int]:
        names = [cell.strip().lower() for cell in header]
        columns = {name: names.index(name) for name in COLUMNS if name in names}
        missing = [name for name in REQUIRED if name not in columns]
        if missing:
            raise InputError(f"{self.path}: line 1: no header with the columns {', '.join(REQUIRED)} "
                             f"(missing: {', '.join(missing)})")
        if not any(code in columns for code in CODE_COLUMNS):
            raise InputError(f"{self.path}: line 1: the header has none of the columns "
                             f"{', '.join(CODE_COLUMNS)}")
        return columns

    @staticmethod
    def _row(line: int, record: list[str], columns: dict[str, int]) -> StockRow | BadRow:
        def cell(name: str) -> str:
            index = columns.get(name)
            return record[index].strip() if index is not None and index < len(record) else ""

        sku = cell("sku")
        if not sku:
            return BadRow(line, "", "no sku")
        try:
            quantity = parse_number(cell("quantity"))
        except ValueError:
            return BadRow(line, sku, f"quantity {cell('quantity')!r} is not a number")
        try:
            price = parse_number(cell("price"))
        except ValueError:
            return BadRow(line, sku, f"price {cell('price')!r} is not a number")
        if quantity < 0:
            return BadRow(line, sku, f"quantity {cell('quantity')} is negative")
        if price < 0:
            return BadRow(line, sku, f"price {cell('price')} is negative")
        row = StockRow(line, sku, cell("name"), cell("manufacturer"), cell("department"),
                       int(quantity),  # whole packs: a broken pack is not sold on the site
                       round(price, 2), *(cell(c) for c in CODE_COLUMNS), cell("expires_at"))
        if not any(row.codes().values()):
            return BadRow(line, sku, "no barcode, protek_code, katren_code or egk_code; not exported")
        return row
