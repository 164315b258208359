"""The courier's tables in the journal: shipments (CRM order ↔ MeaSoft orderno) and the
MeaSoft statuses each one went through. What is sent lives in the shared outbox.

A shipment's state:
- queued      the neworder is in the outbox; MeaSoft has not confirmed it yet
- sent        MeaSoft has the order
- rejected    not sent: the CRM order is not valid, or MeaSoft refused it (see `error`)
- cancelling  the cancelorder is in the outbox
- cancelled   cancelled in MeaSoft (or withdrawn before it was ever sent)
`error` holds the last problem a person must see, whatever the state.
"""

from __future__ import annotations

from typing import Any

from sqlite3 import Connection

from maorders.journal import Journal, stamp

CONNECTOR = "courier"
STATES = ("queued", "sent", "rejected", "cancelling", "cancelled")


def _one(db: Connection, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    row = db.execute(sql, params).fetchone()
    return dict(row) if row else None


def by_crm_id(db: Connection, crm_order_id: int) -> dict[str, Any] | None:
    return _one(db, "SELECT * FROM courier_shipments WHERE crm_order_id = ?", (crm_order_id,))


def by_orderno(db: Connection, orderno: str) -> dict[str, Any] | None:
    return _one(db, "SELECT * FROM courier_shipments WHERE orderno = ?", (orderno,))


def by_id(db: Connection, shipment_id: int) -> dict[str, Any] | None:
    return _one(db, "SELECT * FROM courier_shipments WHERE id = ?", (shipment_id,))


def find(journal: Journal, ref: str) -> dict[str, Any] | None:
    """A shipment as people know it: the CRM order number, the CRM order id or the MeaSoft orderno."""
    ref = ref.strip()
    row = (journal.one("SELECT * FROM courier_shipments WHERE crm_number = ?", (ref,))
           or journal.one("SELECT * FROM courier_shipments WHERE orderno = ?", (ref,)))
    if row is None and ref.isdigit():
        row = journal.one("SELECT * FROM courier_shipments WHERE crm_order_id = ?", (int(ref),))
    return row


def queue(db: Connection, existing: dict[str, Any] | None, crm_order_id: int, crm_number: str,
          orderno: str, generation: int) -> int:
    """A shipment about to be sent (new, or again after a rejection or a cancel)."""
    now = stamp()
    if existing is None:
        return db.execute("""INSERT INTO courier_shipments (crm_order_id, crm_number, orderno, generation,
                             state, created_at, updated_at) VALUES (?, ?, ?, ?, 'queued', ?, ?)""",
                          (crm_order_id, crm_number, orderno, generation, now, now)).lastrowid
    db.execute("""UPDATE courier_shipments SET crm_number = ?, orderno = ?, generation = ?, state = 'queued',
                  error = NULL, ordercode = NULL, awb = NULL, measoft_status = NULL, measoft_title = NULL,
                  measoft_time = NULL, measoft_event = NULL, crm_status = NULL, updated_at = ?
                  WHERE id = ?""", (crm_number, orderno, generation, now, existing["id"]))
    return existing["id"]


def reject(db: Connection, existing: dict[str, Any] | None, crm_order_id: int, crm_number: str,
           orderno: str, generation: int, error: str) -> None:
    """An order that cannot be sent as it is: recorded with the reason and the number it will
    be sent under once fixed (a new one after a cancel: MeaSoft keeps cancelled numbers)."""
    now = stamp()
    if existing is None:
        db.execute("""INSERT INTO courier_shipments (crm_order_id, crm_number, orderno, generation, state, error,
                      created_at, updated_at) VALUES (?, ?, ?, ?, 'rejected', ?, ?, ?)""",
                   (crm_order_id, crm_number, orderno, generation, error, now, now))
    else:
        db.execute("""UPDATE courier_shipments SET crm_number = ?, orderno = ?, generation = ?, state = 'rejected',
                      error = ?, updated_at = ? WHERE id = ?""",
                   (crm_number, orderno, generation, error, now, existing["id"]))


def set_state(db: Connection, shipment_id: int, state: str, error: str | None = None) -> None:
    db.execute("UPDATE courier_shipments SET state = ?, error = ?, updated_at = ? WHERE id = ?",
               (state, error, stamp(), shipment_id))


def set_error(db: Connection, shipment_id: int, error: str | None) -> None:
    db.execute("UPDATE courier_shipments SET error = ?, updated_at = ? WHERE id = ?", (error, stamp(), shipment_id))


def accepted(db: Connection, shipment_id: int, ordercode: str = "", awb: str = "") -> None:
    """MeaSoft has the order: it is sent, whatever was wrong before is over."""
    db.execute("""UPDATE courier_shipments SET state = 'sent', error = NULL,
                  ordercode = COALESCE(NULLIF(?, ''), ordercode), awb = COALESCE(NULLIF(?, ''), awb),
                  updated_at = ? WHERE id = ?""", (ordercode, awb, stamp(), shipment_id))


def record_status(db: Connection, shipment: dict[str, Any], parcel: Any, crm_status: str | None,
                  returns: str, held: bool = False) -> None:
    """The latest MeaSoft status of a shipment, and the CRM status queued for it (if any);
    `held`: it came while our cancel was pending, and waits for the cancel's outcome."""
    now = stamp()
    db.execute("""INSERT OR IGNORE INTO courier_statuses (shipment_id, orderno, status, title, event_time,
                  paytype, price, returns, crm_status, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
               (shipment["id"], parcel.orderno, parcel.status, parcel.title, parcel.eventtime, parcel.paytype,
                parcel.price, returns, crm_status, now))
    # MeaSoft shows it, so it has it: queued becomes sent (decided here, in the transaction,
    # since pull-orders may change the state meanwhile)
    db.execute("""UPDATE courier_shipments SET state = CASE WHEN state = 'queued' THEN 'sent' ELSE state END,
                  measoft_status = ?, measoft_title = ?, measoft_time = ?,
                  measoft_event = ?, crm_status = COALESCE(?, crm_status),
                  ordercode = COALESCE(NULLIF(?, ''), ordercode), awb = COALESCE(NULLIF(?, ''), awb),
                  held_event = ?, updated_at = ? WHERE id = ?""",
               (parcel.status, parcel.title, parcel.eventtime, parcel.event_key, crm_status,
                parcel.ordercode, parcel.awb, parcel.event_key if held else None, now, shipment["id"]))


def held(journal: Journal) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(shipment, its held status row) for shipments whose cancel failed after a status was held."""
    pairs = []
    for shipment in journal.rows("""SELECT * FROM courier_shipments WHERE held_event IS NOT NULL
                                    AND state IN ('queued', 'sent')"""):
        row = journal.one("""SELECT * FROM courier_statuses WHERE shipment_id = ? AND status || '@' || event_time = ?
                             ORDER BY id DESC LIMIT 1""", (shipment["id"], shipment["held_event"]))
        if row is not None:
            pairs.append((shipment, row))
    return pairs


def statuses_of(journal: Journal, shipment_id: int) -> list[dict[str, Any]]:
    return journal.rows("""SELECT orderno, status, title, event_time, paytype, price, returns, crm_status,
                           received_at FROM courier_statuses WHERE shipment_id = ? ORDER BY id""", (shipment_id,))


def list_shipments(journal: Journal, state: str | None = None, problems: bool = False,
                   limit: int = 200) -> list[dict[str, Any]]:
    sql, params = "SELECT * FROM courier_shipments WHERE 1 = 1", []
    if state:
        sql += " AND (state = ? OR measoft_status = ? OR crm_status = ?)"
        params += [state, state, state]
    if problems:
        sql += " AND error IS NOT NULL"
    return journal.rows(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))


def state_counts(journal: Journal) -> dict[str, int]:
    return {row["state"]: row["n"] for row in journal.rows(
        "SELECT state, COUNT(*) AS n FROM courier_shipments GROUP BY state")}


def with_problems(journal: Journal, unseen_only: bool = False) -> int:
    """Shipments with a problem; `unseen_only`: those whose notification no person has seen
    yet (every problem is written with one; `maorders status --ack` marks them seen)."""
    sql = "SELECT COUNT(*) FROM courier_shipments s WHERE s.error IS NOT NULL"
    if unseen_only:
        sql += """ AND EXISTS (SELECT 1 FROM notifications n WHERE n.connector = ? AND n.subject = s.crm_number
                   AND n.seen_at IS NULL)"""
        return journal.value(sql, (CONNECTOR,))
    return journal.value(sql)
