"""What every courier pass does with the shared outbox: send one item (in flight before the
call; a refusal recorded, a fault retried), record a refusal for a person, withdraw items a
newer change replaced, and turn a refusal of a call the whole pass stands on into exit 69.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from maorders.i18n import _

from sqlite3 import Connection

from courier import store
from maorders.errors import ConfigError, PermanentError, RefusedError, TransientError
from maorders.journal import OutboxItem
from maorders.runner import PassContext

NAME = store.CONNECTOR
log = logging.getLogger("courier")

CRM_KINDS = ("crm-status", "crm-payment-delete", "crm-payment-create", "crm-payment-edit")
OPEN = ("pending", "retry", "unknown")


# A shipment's state when MeaSoft refuses the whole request for it (not one of its results).
REFUSED_STATE = {"neworder": "rejected", "cancelorder": "sent"}


def send_item(ctx: PassContext, item: OutboxItem, action: Callable[[], None]) -> None:
    """One outbox item: in flight before the call; a refusal is recorded, a fault retried."""
    ctx.journal.begin_send(item)
    try:
        action()
    except PermanentError as exc:
        failed(ctx, item, str(exc), state=REFUSED_STATE.get(item.kind))
    except (TransientError, RefusedError, ConfigError) as exc:  # not sent: retried later
        ctx.journal.finish_send(item, "retry", message=str(exc))
        raise


def done(ctx: PassContext, item: OutboxItem, http_code: int = 200) -> None:
    """The remote accepted the item: recorded even when the pass's budget is spent, for the
    budget stops new work, never the record of work done (else the next pass repeats it)."""
    with ctx.journal.recording() as db:
        ctx.journal.finish_send(item, "sent", http_code, db=db)


def begin_all(ctx: PassContext, items: list[OutboxItem]) -> None:
    """Several items in flight at once (one request carries them), in one transaction."""
    with ctx.journal.write() as db:
        for item in items:
            db.execute("UPDATE outbox SET state = 'unknown', attempts = attempts + 1 WHERE id = ?", (item.id,))
            item.attempts += 1


@contextmanager
def whole_pass(what: str) -> Iterator[None]:
    """A refusal of a call the whole pass stands on is not one item's problem: exit 69."""
    try:
        yield
    except PermanentError as exc:
        raise RefusedError(f"{what}: {exc}") from None


def failed(ctx: PassContext, item: OutboxItem, message: str, state: str | None = None,
           counter: str | None = None) -> None:
    """Refused for good: recorded on the item and the shipment, shown, not retried."""
    number = item.payload.get("number", "?")
    prefix = _("order {number}: {what}").format(number=number, what="")
    text = message if message.startswith(("order ", prefix)) else prefix + message
    with ctx.journal.write() as db:
        ctx.journal.finish_send(item, "failed", message=text, db=db)
        shipment_id = item.payload["shipment_id"]
        if state:
            store.set_state(db, shipment_id, state, text)
        else:
            store.set_error(db, shipment_id, text)
        if item.kind.startswith("crm-payment"):  # the later steps of this payment change wait too
            drop(db, "crm-payment-%", store.by_id(db, shipment_id)["orderno"], _("an earlier payment step failed"))
        tell(ctx, db, str(number), item.kind, text)
    ctx.counts[counter or f"{item.kind.replace('-', '_')}_refused"] += 1


def tell(ctx: PassContext, db: Connection, number: str, what: str, message: str) -> None:
    """Shown now (summary, log) and kept for a person (status, notifications), once per message."""
    digest = hashlib.sha1(message.encode("utf-8")).hexdigest()[:10]
    ctx.journal.notify(db, NAME, number, f"{what}:{digest}", message)
    ctx.problem(message)


def unsent_item(db: Connection, kind: str, orderno: str) -> dict[str, Any] | None:
    """The shipment's `kind` item that was queued and never tried."""
    prefix = f"{orderno}/"
    row = db.execute("""SELECT * FROM outbox WHERE connector = ? AND kind = ? AND state = 'pending'
                        AND attempts = 0 AND substr(business_key, 1, ?) = ? ORDER BY id DESC LIMIT 1""",
                     (NAME, kind, len(prefix), prefix)).fetchone()
    return dict(row) if row else None


def drop(db: Connection, kind: str, orderno: str, why: str) -> None:
    """Withdraw a shipment's never-tried items of a kind (`crm-payment-%`: every payment step)."""
    prefix = f"{orderno}/"
    db.execute("""UPDATE outbox SET state = 'dropped', last_error = ? WHERE connector = ? AND kind LIKE ?
                  AND state = 'pending' AND attempts = 0 AND substr(business_key, 1, ?) = ?""",
               (why, NAME, kind, len(prefix), prefix))
