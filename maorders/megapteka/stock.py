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
from dataclasses import dataclass
from pathlib import Path
from operator import itemgetter
from typing import Iterator, NamedTuple

from maorders.errors import InputError
from maorders.i18n import N_, _
from maorders.megapteka.limits import MAX_PACKS, MAX_PRICE

CODE_COLUMNS = ("barcode", "protek_code", "katren_code", "egk_code")
COLUMNS = ("sku", "name", "manufacturer", "department", "quantity", "price", *CODE_COLUMNS, "expires_at")
REQUIRED = ("sku", "name", "quantity", "price")
SNIFF_BYTES = 64 * 1024


class StockRow(NamedTuple):  # a tuple: 200,000 of them are made per export
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
    text: str  # why, an N_() text: the log gets it in English, people in their language
    department: str = ""  # as the row says: a refusal names the departments the file has
    values: tuple[tuple[str, object], ...] = ()  # the text's placeholders

    @property
    def reason(self) -> str:
        return self.text.format(**dict(self.values))

    def __str__(self) -> str:  # for the log
        sku = f" (sku {self.sku})" if self.sku else ""
        return f"line {self.line}{sku}: {self.reason}"

    def shown(self) -> str:
        """For people: the file's line, its sku and why, in their language."""
        reason = _(self.text).format(**dict(self.values))
        if self.sku:
            return _("line {line} (sku {sku}): {reason}").format(line=self.line, sku=self.sku, reason=reason)
        return _("line {line}: {reason}").format(line=self.line, reason=reason)


def detect_encoding(head: bytes, path: Path) -> str:
    if not head.strip():
        raise InputError(_("{path}: the stock file is empty").format(path=path))
    if b"\x00" in head:
        raise InputError(_("{path}: not a text file (binary data at the start)").format(path=path))
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
    try:
        value = float(text.replace(",", "."))  # the common case, fast
    except ValueError:
        value = float(text.replace("\u00a0", "").replace(" ", "").replace(",", "."))
    if value - value != 0.0:  # NaN and ±inf, in one comparison
        raise ValueError(text)
    return value


class StockFile:
    """Iterate rows of one stock file; `header` problems raise before any row."""

    def __init__(self, path: Path):
        self.path = path

    def _open(self) -> tuple[io.BufferedReader, str]:
        try:
            # peek, not read and seek: a pipe (a file written while it is read) works too
            raw = self.path.open("rb", buffering=SNIFF_BYTES)
        except FileNotFoundError:
            raise InputError(_("{path}: the stock file does not exist").format(path=self.path)) from None
        except OSError as exc:
            raise InputError(_("{path}: the stock file cannot be read: {strerror}")
                .format(path=self.path, strerror=exc.strerror)) from None
        try:
            head = raw.peek(SNIFF_BYTES)[:SNIFF_BYTES]
        except OSError as exc:  # a folder opens on some systems and fails on the first read
            raw.close()
            raise InputError(_("{path}: the stock file cannot be read: {strerror}")
                .format(path=self.path, strerror=exc.strerror)) from None
        try:
            return raw, detect_encoding(head, self.path)
        except InputError:
            raw.close()
            raise

    def encoding(self) -> str:
        """The encoding the file is read in (`utf-8-sig` or `cp1251`); InputError when unreadable."""
        raw, encoding = self._open()
        raw.close()
        return encoding

    def rows(self) -> Iterator[StockRow | BadRow]:
        raw, encoding = self._open()
        with io.TextIOWrapper(raw, encoding=encoding, newline="") as text:
            reader = None
            try:
                header_line = text.readline()  # decodes the first chunk: a bad byte may be there
                reader = csv.reader(text, delimiter=detect_delimiter(header_line))
                header = next(csv.reader([header_line], delimiter=reader.dialect.delimiter), [])
                width, cells, make, strip = len(header), self._cells(header), self._row, str.strip
                for record in reader:
                    if len(record) <= width:  # short rows padded; a missing column reads cell `width`
                        record.extend([""] * (width + 1 - len(record)))
                    row = make(reader.line_num + 1, *map(strip, cells(record)))
                    if row is not None:
                        yield row
            except csv.Error as exc:
                raise InputError(_("{path}: line {line}: {exc}")
                    .format(path=self.path, line=reader.line_num + 1 if reader else 1, exc=exc)) from None
            except UnicodeDecodeError:
                # decoded in chunks ahead of the rows: find the line and the byte. A byte the
                # encoding leaves undefined (0x98 in cp1251) means the file is not what it
                # seems: the whole file is refused by line and byte, never half exported
                line, byte = self._undecodable(encoding)
                raise InputError(_("{path}: line {line}: byte 0x{byte:02X} is not text in the file's encoding "
                                   "({encoding}); save the file as UTF-8 or Windows-1251")
                                 .format(path=self.path, line=line, byte=byte, encoding=encoding)) from None

    def _undecodable(self, encoding: str) -> tuple[int, int]:
        """The first line (from 1) that does not decode, and its first bad byte."""
        decoder = codecs.getincrementaldecoder(encoding)()
        with self.path.open("rb") as raw:
            for number, line in enumerate(raw, 1):
                try:
                    decoder.decode(line)  # incremental: a character split across lines still reads
                except UnicodeDecodeError as exc:
                    return number, line[min(exc.start, len(line) - 1)] if line else 0
        return 0, 0

    def _cells(self, header: list[str]) -> itemgetter:
        """A getter of the COLUMNS cells of a record, in COLUMNS order; checks the header."""
        names = [cell.strip().lower() for cell in header]
        columns = {name: names.index(name) for name in COLUMNS if name in names}
        missing = [name for name in REQUIRED if name not in columns]
        if missing:
            raise InputError(_("{path}: line 1: no header with the columns {columns} (missing: {missing})")
                .format(path=self.path, columns=', '.join(REQUIRED), missing=', '.join(missing)))
        if not any(code in columns for code in CODE_COLUMNS):
            raise InputError(_("{path}: line 1: the header has none of the columns {columns}")
                .format(path=self.path, columns=', '.join(CODE_COLUMNS)))
        return itemgetter(*(columns.get(name, len(header)) for name in COLUMNS))

    @staticmethod
    def _row(line: int, sku: str, name: str, manufacturer: str, department: str, quantity_text: str,
             price_text: str, barcode: str, protek: str, katren: str, egk: str,
             expires_at: str) -> StockRow | BadRow | None:
        """One record's cells (stripped, in COLUMNS order); None for a row with nothing in it."""
        if not sku:
            if not any((name, manufacturer, department, quantity_text, price_text, barcode, protek, katren,
                        egk, expires_at)):
                return None
            return BadRow(line, "", N_("no sku"), department)
        try:
            quantity = parse_number(quantity_text)
        except ValueError:
            return BadRow(line, sku, N_("quantity {value} is not a number"), department, (("value", repr(quantity_text)),))
        if not 0 <= quantity <= MAX_PACKS:
            return BadRow(line, sku, N_("quantity {value} is negative") if quantity < 0 else
                          N_("quantity {value} is out of range (at most {most} packs)"), department,
                          (("value", quantity_text), ("most", MAX_PACKS)))
        try:
            price = parse_number(price_text)
        except ValueError:
            return BadRow(line, sku, N_("price {value} is not a number"), department, (("value", repr(price_text)),))
        if not 0 <= price <= MAX_PRICE:
            return BadRow(line, sku, N_("price {value} is negative") if price < 0 else
                          N_("price {value} is out of range (at most {most})"), department,
                          (("value", price_text), ("most", f"{MAX_PRICE:.0f}")))
        if not (barcode or protek or katren or egk):
            return BadRow(line, sku, N_("no barcode, protek_code, katren_code or egk_code; not exported"), department)
        # whole packs: a broken pack is not sold on the site. (tuple.__new__: the namedtuple's
        # own __new__ is a Python function, and this runs 200,000 times a file)
        return _new_row(StockRow, (line, sku, name, manufacturer, department, int(quantity), round(price, 2),
                                   barcode, protek, katren, egk, expires_at))


_new_row = tuple.__new__
