"""The loyalty tables in the journal: the till's sales and refunds. Sends live in the outbox.

A sale's state (one row per receipt number):
- intent           its request id is made and written; confirm not sent yet
- sent             confirm was sent (or is in flight); the outcome is not known yet
- confirmed        the service applied it: operation id, points and balance recorded
- failed           the service refused it (nothing applied); the receipt may be run again
- settling         claimed by `--reconcile` (its till's time is over): the till no longer touches it
- abandoned        found never applied by `--reconcile` (the till sold without loyalty)
- orphan_refunded  applied, but the till never finished it: `--reconcile` refunded it

Who may finish an unfinished sale is decided by compare-and-set in one transaction: a till
run takes it with a lease (`updated_at` set to the end of its budget) before it asks or sends;
`--reconcile` claims only a sale whose lease is over. Whichever commits first wins.
A rerun of a failed, abandoned or orphan-refunded receipt starts a new generation with a
new request id. A refund's state: intent, sent, done, failed, abandoned.

Only what the till needs is kept: the service's client id, never a name, card or code.
Money is stored as decimal text, exactly as the service sent it.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from sqlite3 import Connection
from typing import Any, Iterator

from maorders.clock import now, stamp
from maorders.journal import Journal, OutboxItem

CONNECTOR = "loyalty"
UNFINISHED = ("intent", "sent")
SETTLING = "settling"
RETRYABLE = ("failed", "abandoned", "orphan_refunded")


@contextmanager
def recording(journal: Journal) -> Iterator[Any]:
    """A write of what the service already did: made even when the wait's budget is spent
    (as the kernel writes a run's record), else a rerun would have to ask again."""
    with journal.recording() as db:
        yield db


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# -- sales -----------------------------------------------------------------------------------------
def sale_by_receipt(journal: Journal, number: str) -> dict[str, Any] | None:
    return journal.one("SELECT * FROM loyalty_sales WHERE receipt_number = ?", (number,))


def sale_by_operation(journal: Journal, operation_id: str) -> dict[str, Any] | None:
    return journal.one("SELECT * FROM loyalty_sales WHERE operation_id = ?", (operation_id,))


def outbox_item(journal: Journal, kind: str, business_key: str) -> OutboxItem | None:
    row = journal.one("SELECT * FROM outbox WHERE connector = ? AND kind = ? AND business_key = ?",
                      (CONNECTOR, kind, business_key))
    return OutboxItem.from_row(row) if row else None


def sale_key(sale: dict[str, Any]) -> str:
    return f"sale/{sale['receipt_number']}/{sale['generation']}"


def write_sale_intent(journal: Journal, receipt: str, existing: dict[str, Any] | None, request_id: str,
                      fingerprint: str, payment_type: str, client_id: str, calculation: dict[str, Any],
                      payload: dict[str, Any]) -> tuple[dict[str, Any], OutboxItem]:
    """The request id and what is about to be confirmed, written before confirm is sent.

    `request_id` is made by the caller once per generation: the same one again when an
    earlier run of this receipt never reached the service.
    """
    now = stamp()
    with journal.write() as db:
        if existing is None:
            db.execute("""INSERT INTO loyalty_sales (receipt_number, request_id, fingerprint, state, client_id,
                          payment_type, calculation, total_to_pay, created_at, updated_at)
                          VALUES (?, ?, ?, 'intent', ?, ?, ?, ?, ?, ?)""",
                       (receipt, request_id, fingerprint, client_id, payment_type, json.dumps(calculation),
                        calculation["total_to_pay"], now, now))
            generation = 1
        else:
            generation = existing["generation"] + (1 if existing["request_id"] != request_id else 0)
            db.execute("""UPDATE loyalty_sales SET generation = ?, request_id = ?, fingerprint = ?, state = 'intent',
                          client_id = ?, payment_type = ?, calculation = ?, total_to_pay = ?, operation_id = NULL,
                          error = NULL, updated_at = ? WHERE id = ?""",
                       (generation, request_id, fingerprint, client_id, payment_type, json.dumps(calculation),
                        calculation["total_to_pay"], now, existing["id"]))
        key = f"sale/{receipt}/{generation}"
        if not journal.enqueue(db, CONNECTOR, "confirm", key, payload, request_id):
            db.execute("""UPDATE outbox SET payload = ?, state = 'pending' WHERE connector = ? AND kind = 'confirm'
                          AND business_key = ?""", (json.dumps(payload, ensure_ascii=False), CONNECTOR, key))
    sale = sale_by_receipt(journal, receipt)
    item = outbox_item(journal, "confirm", key)
    assert sale is not None and item is not None
    return sale, item


def mark_sent(journal: Journal, table: str, row_id: int, item: OutboxItem, lease_s: float = 0) -> bool:
    """Confirm (or refund) is about to go out: a kill from here on leaves it to be asked about.
    False (nothing marked) when `--reconcile` has claimed the row meanwhile."""
    with journal.write() as db:
        if db.execute(f"""UPDATE {_table(table)} SET state = 'sent', updated_at = ? WHERE id = ?
                          AND state IN ('intent', 'sent')""", (_lease(lease_s), row_id)).rowcount != 1:
            return False
    journal.begin_send(item)
    return True


def _lease(seconds: float) -> str:
    return stamp(now() + timedelta(seconds=seconds + 1))  # stamps have whole seconds: never shorter


def take(journal: Journal, table: str, row_id: int, lease_s: float) -> bool:
    """A till run takes an unfinished row for its budget; False when `--reconcile` has it."""
    with journal.write() as db:
        return db.execute(f"""UPDATE {_table(table)} SET updated_at = ? WHERE id = ?
                              AND state IN ('intent', 'sent')""", (_lease(lease_s), row_id)).rowcount == 1


def claim_for_reconcile(journal: Journal, sale: dict[str, Any], cutoff: str) -> bool:
    """`--reconcile` takes a sale whose till's time is over (or that it took before)."""
    with journal.write() as db:
        return db.execute("""UPDATE loyalty_sales SET state = 'settling' WHERE id = ? AND request_id = ?
                             AND (state = 'settling' OR (state IN ('intent', 'sent') AND updated_at <= ?))""",
                          (sale["id"], sale["request_id"], cutoff)).rowcount == 1


def _table(name: str) -> str:
    return {"sales": "loyalty_sales", "refunds": "loyalty_refunds"}[name]


def sale_confirmed(journal: Journal, sale_id: int, item: OutboxItem | None, operation_id: str,
                   redeemed: Decimal, accrued: Decimal, balance: Decimal, http_code: int | None = 201) -> bool:
    """Claim the sale for the till (compare-and-set): False when `--reconcile` claimed it first
    (state `settling`), so the till must not hand out the discount. The send itself
    is recorded either way: the service did apply it."""
    with recording(journal) as db:
        # the service did apply it: a sale `--reconcile` holds learns its operation (it refunds it)
        db.execute("""UPDATE loyalty_sales SET operation_id = ? WHERE id = ? AND state = 'settling'
                      AND operation_id IS NULL""", (operation_id, sale_id))
        claimed = db.execute("""UPDATE loyalty_sales SET state = 'confirmed', operation_id = ?, points_redeemed = ?,
                      points_accrued = ?, balance = ?, error = NULL, confirmed_at = ?, updated_at = ?
                      WHERE id = ? AND state IN ('intent', 'sent')""",
                             (operation_id, str(redeemed), str(accrued), str(balance), stamp(), stamp(),
                              sale_id)).rowcount == 1
        if item is not None:
            journal.finish_send(item, "sent", http_code, f"operation {operation_id}", db=db)
    return claimed


def close_unapplied(journal: Journal, table: str, row_id: int, item: OutboxItem | None, state: str,
                    message: str, http_code: int | None = None) -> bool:
    """Nothing was applied (refused, or found never applied): recorded, and closed in the outbox.

    The cashier saw the refusal at the till, so it is not left as a failed send for a person.
    """
    with recording(journal) as db:
        # a sale is closed as not applied only while no operation of it is known
        if db.execute(f"""UPDATE {_table(table)} SET state = ?, error = ?, updated_at = ? WHERE id = ?
                          AND state IN ('intent', 'sent', 'settling')
                          AND (? = 'loyalty_refunds' OR operation_id IS NULL)""",
                      (state, message[:500], stamp(), row_id, _table(table))).rowcount != 1:
            return False
        if item is not None:
            if item.attempts == 0:
                item.attempts = 1
            journal.finish_send(item, "failed", http_code, message[:500], db=db)
            db.execute("UPDATE outbox SET state = 'cancelled' WHERE id = ?", (item.id,))
    return True


def outcome_unknown(journal: Journal, item: OutboxItem, message: str) -> None:
    """No answer in the budget: the row stays 'sent'; the next run asks by request id."""
    with recording(journal) as db:
        journal.finish_send(item, "retry", None, message[:500], db=db)
        db.execute("UPDATE outbox SET state = 'unknown' WHERE id = ?", (item.id,))


def unfinished_sales(journal: Journal, older_than: str) -> list[dict[str, Any]]:
    return journal.rows("""SELECT * FROM loyalty_sales WHERE state = 'settling'
                           OR (state IN ('intent', 'sent') AND updated_at <= ?) ORDER BY id""", (older_than,))


def sale_orphan_refunded(db: Connection, sale_id: int) -> None:
    db.execute("UPDATE loyalty_sales SET state = 'orphan_refunded', updated_at = ? WHERE id = ?",
               (stamp(), sale_id))


# -- refunds ---------------------------------------------------------------------------------------
def refunded_so_far(journal: Journal, operation_id: str) -> Decimal:
    rows = journal.rows("SELECT amount FROM loyalty_refunds WHERE operation_id = ? AND state = 'done'",
                        (operation_id,))
    return sum((Decimal(r["amount"]) for r in rows if r["amount"] is not None), Decimal(0))


def refund_by_key(journal: Journal, key: str) -> dict[str, Any] | None:
    return journal.one("SELECT * FROM loyalty_refunds WHERE refund_key = ?", (key,))


def latest_refund(journal: Journal, key: str) -> dict[str, Any] | None:
    """The newest refund of this key: the key itself or a later try of it (`KEY/again-…`)."""
    return journal.one("""SELECT * FROM loyalty_refunds WHERE refund_key = ? OR refund_key LIKE ? ESCAPE '\\'
                          ORDER BY id DESC LIMIT 1""", (key, _like(key) + "/again-%"))


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def refunds_without_receipt(journal: Journal, operation_id: str) -> list[dict[str, Any]]:
    """The till's refunds of an operation given without a return receipt, done or in flight."""
    return journal.rows("""SELECT * FROM loyalty_refunds WHERE operation_id = ? AND reason = 'till'
                           AND return_receipt IS NULL AND state IN ('intent', 'sent', 'done') ORDER BY id""",
                        (operation_id,))


def write_refund_intent(journal: Journal, key: str, request_id: str, operation_id: str, sale_id: int | None,
                        amount: Decimal | None, return_receipt: str | None, reason: str,
                        orphan_of: int | None = None) -> tuple[dict[str, Any], OutboxItem] | None:
    """The refund's request id, made once for its key, written before the refund is sent.

    `orphan_of`: the sale the service applied but the till never finished. It is claimed here
    (compare-and-set on its state, one transaction with the refund row): None when the till
    finished it first. Its operation id is recorded; it stays unfinished until the refund is done.
    """
    now = stamp()
    payload = {"operation_id": operation_id, "amount": _text(amount), "return_receipt": return_receipt,
               "reason": reason}
    with journal.write() as db:
        if orphan_of is not None:  # the claim: only a sale still unfinished, in this same transaction
            if db.execute("""UPDATE loyalty_sales SET operation_id = ?, updated_at = ?
                             WHERE id = ? AND state = 'settling'""", (operation_id, now, orphan_of)).rowcount != 1:
                return None
            _confirm_found_applied(journal, db, orphan_of, operation_id)
        if refund_by_key(journal, key) is None:
            db.execute("""INSERT INTO loyalty_refunds (refund_key, request_id, operation_id, sale_id, amount,
                          return_receipt, reason, state, created_at, updated_at)
                          VALUES (?, ?, ?, ?, ?, ?, ?, 'intent', ?, ?)""",
                       (key, request_id, operation_id, sale_id, _text(amount), return_receipt, reason, now, now))
        journal.enqueue(db, CONNECTOR, "refund", f"refund/{key}", payload, request_id)
    refund = refund_by_key(journal, key)
    item = outbox_item(journal, "refund", f"refund/{key}")
    assert refund is not None and item is not None
    return refund, item


def refund_done(journal: Journal, refund_id: int, item: OutboxItem | None, refund_operation_id: str,
                returned: Decimal | None, revoked: Decimal | None, balance: Decimal | None,
                sale_id_orphan: int | None = None, notice: tuple[str, str] | None = None,
                http_code: int | None = 201) -> None:
    with recording(journal) as db:
        db.execute("""UPDATE loyalty_refunds SET state = 'done', refund_operation_id = ?, points_returned = ?,
                      points_revoked = ?, balance = ?, error = NULL, updated_at = ? WHERE id = ?""",
                   (refund_operation_id, _text(returned), _text(revoked), _text(balance), stamp(), refund_id))
        if item is not None:
            journal.finish_send(item, "sent", http_code, f"refund {refund_operation_id}", db=db)
        if sale_id_orphan is not None:
            sale_orphan_refunded(db, sale_id_orphan)
        if notice is not None:
            journal.notify(db, CONNECTOR, notice[0], "orphan_refunded", notice[1])


def _confirm_found_applied(journal: Journal, db: Connection, sale_id: int, operation_id: str) -> None:
    """The sale's confirm did reach the service: its outbox row is sent, whatever happens next."""
    row = db.execute("""SELECT o.* FROM outbox o JOIN loyalty_sales s ON o.idempotency_key = s.request_id
                        WHERE s.id = ? AND o.connector = ? AND o.kind = 'confirm'""", (sale_id, CONNECTOR)).fetchone()
    if row is not None and row["state"] != "sent":
        journal.finish_send(OutboxItem.from_row(dict(row)), "sent", 200, f"operation {operation_id} (found)", db=db)


def unfinished_refunds(journal: Journal, older_than: str) -> list[dict[str, Any]]:
    return journal.rows("""SELECT * FROM loyalty_refunds WHERE state IN ('intent', 'sent') AND updated_at <= ?
                           ORDER BY id""", (older_than,))


def refunds_of(journal: Journal, operation_id: str) -> list[dict[str, Any]]:
    return journal.rows("SELECT * FROM loyalty_refunds WHERE operation_id = ? ORDER BY id", (operation_id,))


# -- views -----------------------------------------------------------------------------------------
def list_sales(journal: Journal, unfinished: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    where = "WHERE state IN ('intent', 'sent', 'settling')" if unfinished else ""
    return journal.rows(f"SELECT * FROM loyalty_sales {where} ORDER BY id DESC LIMIT ?", (limit,))


def counts(journal: Journal) -> dict[str, int]:
    sales = journal.rows("SELECT state, COUNT(*) AS n FROM loyalty_sales GROUP BY state")
    refunds = journal.rows("SELECT state, COUNT(*) AS n FROM loyalty_refunds GROUP BY state")
    return {**{f"sales {r['state']}": r["n"] for r in sales}, **{f"refunds {r['state']}": r["n"] for r in refunds}}
