"""export-stock: the pharmacy's stock file to the site, as one full snapshot.

The order of work, and why:
1. The file is read, checked and encoded with no lock on the journal: the site's parts
   go to a temporary file (`PartSpool`), the rows the booking rules need to another
   (`RecordSpool`). A file unusable as a whole, or with no exportable row of
   MEGAPTEKA_DEPARTMENT, stops here (65): the journal and the site stay as they were.
2. The snapshot id is chosen and written down before any part goes out (intent before
   effect): the id of the last attempt when the content is the same (a rerun after a
   kill or a lost reply completes or replays it), else a new random id, one the site
   has never completed (it ignores parts PUT again under a completed id).
3. The journal takes the new stock (one short write, in a thread) while every part but
   the last is uploaded; the last part, which makes the site show the snapshot, goes
   only after that write is committed: the site never shows stock the journal lacks.
4. The snapshot's cursors move once the site says it is complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import marshal
import tempfile
import threading
import time
import uuid
from collections import Counter
from json.encoder import encode_basestring_ascii as _text  # C: JSON text, non-ASCII as \u escapes
from pathlib import Path
from typing import Any, Iterator

from maorders.errors import ConfigError, InputError, TransientError
from maorders.i18n import N_, _, ngettext
from maorders.journal import Journal, stamp
from maorders.megapteka import store
from maorders.megapteka.client import PART_SIZE, MegaptekaClient
from maorders.megapteka.stock import BadRow, StockFile, StockRow
from maorders.runner import PassContext

NAME = store.CONNECTOR
log = logging.getLogger("maorders.megapteka")
SHOWN_BAD_ROWS = 100  # every bad row goes to the log; this many are shown to a person
SHOWN_DEPARTMENTS = 8


def export_stock(ctx: PassContext) -> None:
    settings = ctx.settings.megapteka
    path = ctx.options.get("stock_file") or settings.stock_file
    if path is None:
        raise ConfigError(_("{setting} is not set (or give {option})").format(setting="MEGAPTEKA_STOCK_FILE",
                                                                              option="--stock-file"))
    held = store.reserved(ctx.journal.db)  # a read: bookings made meanwhile show at the next export
    pharmacy, started = _pharmacy(settings), time.perf_counter()
    with PartSpool(pharmacy) as spool, RecordSpool() as records:
        read_stock_file(ctx, Path(path), settings.department, held, spool, records)
        content = spool.content_id()
        snapshot_id = begin_snapshot(ctx.journal, content)
        read_at = time.perf_counter()
        writer = StockWriter(ctx.journal.path, records)
        upload(ctx, snapshot_id, spool, pharmacy, writer)
    log.info("stock: %d rows read in %.2f s; the journal's write took %.2f s, the upload %.2f s",
             ctx.counts["rows_read"], read_at - started, writer.seconds, time.perf_counter() - read_at)
    with ctx.journal.write() as db:
        ctx.journal.set_cursor(db, NAME, "stock_snapshot", snapshot_id)
        ctx.journal.set_cursor(db, NAME, "stock_content", content)


# -- 1. reading the file (no lock held) ---------------------------------------------------------
def read_stock_file(ctx: PassContext, path: Path, department: str, held: dict[str, int],
                    spool: "PartSpool", records: "RecordSpool") -> None:
    """The default department's good rows into both spools; bad and duplicated rows
    reported by line. (One loop: it runs 200,000 times a file.)"""
    seen: set[str] = set()
    others: Counter[str] = Counter()  # rows of other departments, good or bad, by department
    record, remember = store.stock_record, seen.add
    items, batch = spool.items, records.batch  # appended to here: no call per row
    read = other_department = 0
    for read, row in enumerate(StockFile(path).rows(), 1):
        if type(row) is BadRow:
            _bad_row(ctx, row)
            if row.department and row.department != department:
                others[row.department] += 1
            continue
        sku, row_department = row[1], row[4]
        if row_department and row_department != department:
            other_department += 1
            others[row_department] += 1
        elif sku in seen:
            _bad_row(ctx, BadRow(row.line, sku, N_("duplicated sku; the first row is exported")))
        else:
            remember(sku)
            items.append(item_json(row, held))
            batch.append(record(row))
            if len(items) == PART_SIZE:
                spool.close_part()
                records.flush()
                items, batch = spool.items, records.batch
    ctx.counts["rows_read"] += read
    if other_department:
        ctx.counts["other_department"] += other_department
    spool.close_part()
    records.flush()
    if not records.count:
        raise InputError(nothing_to_export(path, department, read, others))


def stock_file_check(path: Path, department: str) -> dict[str, Any]:
    """`doctor`'s row for the stock file, read as export-stock reads it: its encoding and how
    many rows of the default department it would export; 65 naming the line or the department
    when export-stock would refuse it."""
    source = StockFile(path)
    try:
        encoding = source.encoding()
        rows = exportable = 0
        others: Counter[str] = Counter()
        for rows, row in enumerate(source.rows(), 1):
            if row.department and row.department != department:
                others[row.department] += 1
            elif type(row) is not BadRow:
                exportable += 1
    except InputError as exc:
        return {"check": "megapteka stock file", "ok": False, "exit_code": 65, "detail": str(exc)}
    if not exportable:
        return {"check": "megapteka stock file", "ok": False, "exit_code": 65,
                "detail": nothing_to_export(path, department, rows, others)}
    return {"check": "megapteka stock file", "ok": True,
            "detail": _("{path}: {encoding}; {count} row(s) of «{department}» to export, of {rows}").format(
                path=path, encoding="Windows-1251" if encoding == "cp1251" else "UTF-8", count=exportable,
                department=department, rows=rows)}


def nothing_to_export(path: Path, department: str, rows: int, others: Counter) -> str:
    """Why a file would empty the site's stock: it is refused instead (65)."""
    unchanged = _("nothing exported; the site's stock and the journal are unchanged")
    if not rows:
        return _("{path}: the stock file has a header but no rows; {unchanged}").format(path=path, unchanged=unchanged)
    in_department = rows - sum(others.values())
    if in_department:
        return _("{path}: none of the {count} row(s) of the department «{department}» can be exported "
                 "(see the bad rows); {unchanged}").format(path=path, count=in_department, department=department,
                                                           unchanged=unchanged)
    shown = ", ".join(ngettext("«{name}» ({count} row)", "«{name}» ({count} rows)", n).format(name=name, count=n)
                      for name, n in others.most_common(SHOWN_DEPARTMENTS))
    more = (_(" and {count} more").format(count=len(others) - SHOWN_DEPARTMENTS)
            if len(others) > SHOWN_DEPARTMENTS else "")
    alike = [name for name in others if name.strip().casefold() == department.strip().casefold()]
    hint = _("; did you mean «{name}»?").format(name=alike[0]) if alike else ""
    return _("{path}: no row belongs to the department «{department}» (MEGAPTEKA_DEPARTMENT); the file has "
             "{departments}{more}{hint}; {unchanged}").format(path=path, department=department, departments=shown,
                                                             more=more, hint=hint, unchanged=unchanged)


def _bad_row(ctx: PassContext, row: BadRow) -> None:
    ctx.counts["skipped_rows"] += 1
    log.warning("stock file: %s", row)  # the log's English; people read the row in their words
    if ctx.counts["skipped_rows"] <= SHOWN_BAD_ROWS:
        ctx.problems.append(_("stock file {row}").format(row=row.shown()))


# A stock row as the site gets it, written the way json.dumps writes that object (the same
# keys, order, separators and escapes): half the cost of a dict and json.dumps, 200,000 times.
ITEM_JSON = ('{"sku": %s, "name": %s, "manufacturer": %s, "price": %r, "quantity": %d, "barcode": %s, '
             '"protek_code": %s, "katren_code": %s, "egk_code": %s, "expires_at": %s}')


def item_json(row: StockRow, held: dict[str, int]) -> str:
    """One item of a part: what is free of the row's stock, after active bookings."""
    _id, sku, name, manufacturer, _maker, quantity, price, barcode, protek, katren, egk, expires_at = row
    if held:
        quantity = max(0, quantity - held.get(sku, 0))
    return ITEM_JSON % (_text(sku), _text(name), _text(manufacturer), price, quantity, _text(barcode),
                        _text(protek), _text(katren), _text(egk), _text(expires_at))


def _pharmacy(settings: Any) -> dict[str, str]:
    company = settings.company
    return {"region": company.region, "city": company.city, "brand": company.brand}


class PartSpool:
    """The upload, encoded part by part while the file is read, kept in a temporary file.

    Memory stays flat whatever the file's size, the stock is read once, and the
    snapshot's content id is the hash of exactly the bytes the site will get.
    """

    def __init__(self, pharmacy: dict[str, str]):
        self.file = tempfile.TemporaryFile()
        self.parts: list[tuple[int, int, int]] = []  # (offset, length, items)
        self.items: list[str] = []  # the part being made, each item as JSON (the reader appends)
        self.digest = hashlib.sha256(json.dumps(pharmacy, ensure_ascii=False).encode())

    def close_part(self) -> None:
        if not self.items and self.parts:
            return
        data = ("[" + ", ".join(self.items) + "]").encode("ascii")  # as json.dumps writes a list
        self.digest.update(data)
        self.parts.append((self.file.tell(), len(data), len(self.items)))
        self.file.write(data)
        self.items = []

    def content_id(self) -> str:
        return self.digest.hexdigest()[:32]

    def read(self) -> Iterator[tuple[bytes, int]]:
        """The parts' items, each a JSON array, and how many items each has."""
        for offset, length, count in self.parts:
            self.file.seek(offset)
            yield self.file.read(length), count

    def __enter__(self) -> "PartSpool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


class RecordSpool:
    """The journal's rows of the stock (`store.stock_record`s), marshalled in batches to a
    temporary file until the journal takes them: compact, and read back in C. The reader
    appends to `batch` and calls `flush()` every part."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()
        self.batches: list[tuple[int, int]] = []
        self.batch: list[tuple] = []
        self.count = 0

    def flush(self) -> None:
        if self.batch:
            data = marshal.dumps(self.batch)
            self.batches.append((self.file.tell(), len(data)))
            self.file.write(data)
            self.count += len(self.batch)
            self.batch = []

    def records(self) -> Iterator[tuple]:
        self.flush()
        for offset, length in self.batches:
            self.file.seek(offset)
            yield from marshal.loads(self.file.read(length))

    def __enter__(self) -> "RecordSpool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


# -- 2. the snapshot id: written down before any part goes out -----------------------------------
def begin_snapshot(journal: Journal, content: str) -> str:
    """The last attempt's id when its content is this one (the site completes it, or replays
    it when its last reply was lost), else a new id the site has never completed: stock
    that comes back to an earlier state (A, B, A) is shown again, even when B's last reply
    was lost and the journal never learnt that the site had completed B."""
    with journal.write() as db:
        attempt = _attempt(journal.cursor(NAME, "stock_attempt", ""))
        if attempt.get("content") == content and attempt.get("id"):
            return attempt["id"]
        snapshot_id = uuid.uuid4().hex
        journal.set_cursor(db, NAME, "stock_attempt", json.dumps({"id": snapshot_id, "content": content}))
    return snapshot_id


def _attempt(value: str) -> dict[str, str]:
    try:
        attempt = json.loads(value) if value else {}
    except ValueError:
        return {}
    return attempt if isinstance(attempt, dict) else {}


# -- 3. the journal's write beside the upload ----------------------------------------------------
class StockWriter(threading.Thread):
    """Replaces the journal's stock on its own connection (sqlite3 lets the other thread
    run while SQLite works), so the upload of the first parts goes on meanwhile."""

    def __init__(self, journal_path: Path, records: RecordSpool):
        super().__init__(name="stock-writer", daemon=True)
        self.journal_path = journal_path
        self.spool = records
        self.error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        started = time.perf_counter()
        try:
            journal = Journal.open(self.journal_path)
            try:
                with journal.write() as db:
                    store.replace_stock(db, self.spool.records())
            finally:
                journal.close()
        except BaseException as exc:  # handed to the pass by `committed()`
            self.error = exc
        self.seconds = time.perf_counter() - started

    def committed(self) -> None:
        """Wait for the write; its failure is the pass's (75 when the journal is locked)."""
        if self.ident is not None:
            self.join()
        if self.error is not None:
            raise self.error


def upload(ctx: PassContext, snapshot_id: str, spool: PartSpool, pharmacy: dict[str, str],
           writer: StockWriter) -> None:
    """PUT every part; the same snapshot id makes a rerun after a kill replace, not add."""
    client, generated_at, parts = client_for(ctx), stamp(), len(spool.parts)
    writer.start()
    reply: dict[str, Any] = {}
    try:
        with ctx.out.progress(_("uploading stock"), total=parts, every=1) as progress:
            for part, (items, count) in enumerate(spool.read(), 1):
                if part == parts:
                    writer.committed()  # the last part makes the site show it: the journal first
                reply = client.put_stock_part(snapshot_id, part, parts, generated_at, pharmacy, items)
                for rejected in reply["rejected"]:
                    ctx.problem(_("the site rejected {item}").format(item=_rejected(rejected)))
                ctx.counts["exported"] += max(0, count - len(reply["rejected"]))
                ctx.counts["parts"] += 1
                progress.advance(1)
    finally:
        writer.join()
    if reply.get("complete") is not True:
        raise TransientError(_("megapteka: the site has not completed the stock upload {snapshot} after its last "
                               "part ({received} of {parts} parts received); run again").format(
            snapshot=snapshot_id, received=reply.get("received_parts"), parts=parts))


def _rejected(entry: Any) -> str:
    """An entry of a part's `rejected` list, as the site's words (whatever their shape)."""
    if isinstance(entry, dict):
        return f"sku {str(entry.get('sku'))[:100]}: {str(entry.get('reason'))[:200]}"
    return repr(entry)[:200]


def client_for(ctx: PassContext) -> MegaptekaClient:
    settings = ctx.settings.megapteka
    return MegaptekaClient(ctx.remote("megapteka", settings.url), settings.pharmacy_code, settings.secret)
