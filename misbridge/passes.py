"""The cash desk's passes: invoices in (pull-orders), Receive/Pay and e-receipts out (resend-receipts).

Every effect goes through the shared outbox (connector "misbridge"): the intent is written with
the invoice or the receipt that caused it (made once, in its own transaction), then the call,
then the result with its history row in another transaction. A pass killed at any instant is
finished by the next one: a Receive or Pay left in flight is sent again and the MIS answers
Result 2 («уже получен» / «уже зафиксирован»), a success; an e-mail left in flight is sent
again under the same Message-ID; an SMS left in flight is never sent again by itself
(sms/send has no idempotency key): it is shown, and a person resends it.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from maorders.errors import ConfigError, MaordersError, RefusedError, TransientError
from maorders.i18n import N_, _, ngettext, word
from maorders.journal import Journal, OutboxItem
from misbridge import batches, intake, store
from misbridge.mail import MailChannelDown, MailSession
from misbridge.mis import MisClient, Reply
from misbridge.settings import MisbridgeSettings
from misbridge.sms import SmsClient
from misbridge.words import CHANNELS, METHODS

NAME = store.CONNECTOR
log = logging.getLogger("misbridge")
METHOD = {"receive": "Receive", "pay": "Pay"}
HELD_FOR = timedelta(minutes=30)


def config(ctx: Any) -> MisbridgeSettings:
    """This connector's settings from a PassContext (ctx.config, or Settings.of on older kernels)."""
    found = getattr(ctx, "config", None) or ctx.settings.of(NAME)
    return found


@dataclass
class Desk:
    """What the senders need, from a pass or from an operator command."""

    journal: Journal
    config: MisbridgeSettings
    counts: Counter = field(default_factory=Counter)
    problem: Callable[[str], None] = lambda message: None
    budget: Any = None


SPENT = N_("misbridge: the pass's time budget is spent; what was sent is recorded, the rest goes next run")


def spent(desk: Desk) -> bool:
    """The budget stops new sends (never the recording of one that happened)."""
    return desk.budget is not None and desk.budget.left() <= 0


def desk_of(ctx: Any) -> Desk:
    return Desk(ctx.journal, config(ctx), ctx.counts, ctx.problem, ctx.budget)


def mis_client(ctx: Any) -> MisClient:
    s = config(ctx)
    return MisClient(ctx.remote("tmmis", s.url), s.ogrn, s.oid, s.cashdesk_guid)


# ====================================================================== pull-orders
def pull_orders(ctx: Any) -> None:
    """Invoices waiting for this cash desk into the journal; Receive queued and sent once."""
    desk, client = desk_of(ctx), mis_client(ctx)
    send_mis(desk, client, "receive")  # what a killed run queued goes first
    raws = client.new_invoices()
    ctx.counts["invoices_fetched"] += len(raws)
    for raw in raws:
        intake.take(desk, raw)
    send_mis(desk, client, "receive")


# ====================================================================== the MIS queue
def send_mis(desk: Desk, client: MisClient, kind: str, only: set[int] | None = None) -> None:
    """Send every due item of `kind` (receive or pay); `only` limits it to some outbox ids."""
    received = received_invoices(desk.journal) if kind == "pay" else set()
    items = []
    for item in desk.journal.due(NAME, kind):
        if only is not None and item.id not in only:
            continue
        if kind == "pay" and item.payload["invoiceGuid"] not in received:
            desk.counts["pays_waiting_for_receive"] += 1  # its Receive goes first (a later pass)
            continue
        items.append(item)
    for batch in batches.chunks(items):
        send_batch(desk, client, kind, batch)


def received_invoices(journal: Journal) -> set[str]:
    return {r["guid"] for r in journal.rows(
        """SELECT substr(business_key, 9, 36) AS guid FROM outbox WHERE connector = ? AND kind = 'receive'
           AND state = 'sent'""", (NAME,))}


def send_batch(desk: Desk, client: MisClient, kind: str, batch: list[OutboxItem]) -> None:
    batches.begin(desk.journal, batch)
    outcomes = batches.Outcomes(desk.journal)
    for n, item in enumerate(batch):
        if spent(desk):  # no new send past the budget; what was sent is still written
            outcomes.flush(untried=batch[n:])
            raise TransientError(_(SPENT))
        payload = item.payload
        try:
            if kind == "receive":
                reply = client.receive(payload["invoiceGuid"], payload["invoiceNum"])
            else:
                reply = client.pay(payload["invoiceGuid"], payload["invoiceNum"], payload["Payments"])
        except (TransientError, RefusedError) as exc:
            # the attempt is kept, then the whole pass ends (75 or 69); the item goes again next run
            failed = Reply(_status_of(exc), 0, str(exc))
            outcomes.add(lambda db, item=item, failed=failed: record(desk, db, kind, item, failed, final=False))
            outcomes.flush(untried=batch[n + 1:])
            raise
        outcomes.add(lambda db, item=item, reply=reply: record(desk, db, kind, item, reply))
    outcomes.flush()


def _status_of(exc: MaordersError) -> int | None:
    return 403 if isinstance(exc, RefusedError) and " 403 " in str(exc) else None


def record(desk: Desk, db: Any, kind: str, item: OutboxItem, reply: Reply, final: bool = True) -> None:
    """The attempt's outcome and its history row (inside the batch's write)."""
    invoice = item.payload["invoiceNum"]
    store.add_history(db, METHOD[kind], item, reply.http_code, reply.result, reply.message)
    if reply.ok:
        desk.journal.finish_send(item, "sent", reply.http_code, reply.message or f"Result {reply.result}", db=db)
        desk.counts[f"{kind}_sent" if reply.result == 1 else f"{kind}_already_recorded"] += 1
        if kind == "receive" and _is_new(db, item):
            store.set_invoice_state(db, item.payload["invoiceGuid"], "received")
    elif not final:
        desk.journal.finish_send(item, "retry", reply.http_code, reply.message, db=db)
    else:
        # 409 (a check number of another invoice, not received, annulled), 400, 404: for good;
        # a person looks at it (receipts list --failed, status --check exits 1)
        desk.journal.finish_send(item, "failed", reply.http_code, reply.message, db=db)
        desk.journal.notify(db, NAME, item.business_key, f"{kind}_refused",
                            _("{method} of invoice {invoice} refused: {code} {message}").format(
                                method=word(METHODS, METHOD[kind]), invoice=invoice, code=reply.http_code,
                                message=reply.message))
        desk.counts[f"{kind}_refused"] += 1
        desk.problem(_("{method} of invoice {invoice} refused by the MIS: {code} {message}").format(
            method=word(METHODS, METHOD[kind]), invoice=invoice, code=reply.http_code, message=reply.message))


def _is_new(db: Any, item: OutboxItem) -> bool:
    row = store.invoice(db, item.payload["invoiceGuid"])
    return bool(row and row["state"] == "new")


# ====================================================================== resend-receipts
def resend_receipts(ctx: Any) -> None:
    """Receive, then Pay, then e-receipts, then retention; a channel that is down ends the pass."""
    desk, client = desk_of(ctx), mis_client(ctx)
    mis_down: MaordersError | None = None
    try:
        send_mis(desk, client, "receive")
        send_mis(desk, client, "pay")
    except (TransientError, RefusedError) as exc:
        mis_down = exc  # the buyers' e-receipts do not wait for the MIS; the pass still ends 75/69
    down = send_ereceipts(desk, ctx.settings.general.http_timeout, lambda: ctx.remote("smsru", desk.config.sms.url))
    forget_old(desk)
    if mis_down or down:
        raise mis_down or down  # type: ignore[misc]


def forget_old(desk: Desk) -> None:
    with desk.journal.write() as db:
        removed = store.forget_old(db, desk.config.retention_days)
    for name, count in removed.items():
        if count:
            desk.counts[name] += count


def send_ereceipts(desk: Desk, timeout: float, sms_remote: Callable[[], Any],
                   only: set[int] | None = None) -> MaordersError | None:
    """E-mails over one SMTP connection, then SMS; the error to end the pass with, if a channel was down."""
    down = send_emails(desk, only)
    down_sms = send_sms(desk, sms_remote, timeout, only)
    return down or down_sms


def _due(desk: Desk, kind: str, only: set[int] | None) -> list[OutboxItem]:
    return [i for i in desk.journal.due(NAME, kind) if only is None or i.id in only]


def _ereceipt_id(item: OutboxItem) -> int:
    return int(item.payload["ereceipt_id"])


def send_emails(desk: Desk, only: set[int] | None) -> MaordersError | None:
    items = _due(desk, "email", only)
    if not items:
        return None
    smtp = desk.config.smtp
    if smtp is None:
        desk.counts["emails_waiting_for_smtp_settings"] += len(items)
        return _channel_note(desk, "email", _("e-receipts by e-mail wait: SMTP_HOST and SMTP_FROM are not set"),
                             True, ConfigError)
    session = MailSession(smtp)
    try:
        for batch in batches.chunks(items):
            if spent(desk):  # not even a connection once the budget is spent
                return TransientError(_(SPENT))
            session.ensure_open()  # before the intents: a server that is down leaves the items as they were
            stopped = send_email_batch(desk, session, smtp.sender, batch)
            if stopped:
                return stopped
    except MailChannelDown as exc:
        return _channel_note(desk, "email", str(exc), exc.needs_person)
    finally:
        desk.counts["smtp_connections"] += session.connections
        session.close()
    return None


def send_email_batch(desk: Desk, session: MailSession, sender: str, batch: list[OutboxItem]) -> MaordersError | None:
    from misbridge.ereceipts import email_message

    batches.begin(desk.journal, batch)
    outcomes = batches.Outcomes(desk.journal)
    for n, item in enumerate(batch):
        if spent(desk):
            outcomes.flush(untried=batch[n:])
            return TransientError(_(SPENT))
        row = store.ereceipt(desk.journal.db, _ereceipt_id(item))
        try:
            session.ensure_open()  # again after a connection lost mid-batch
        except MailChannelDown:
            outcomes.flush(untried=batch[n:])
            raise
        outcome = session.send(email_message(row, sender, datetime.fromisoformat(row["created_at"])),
                               row["recipient"])
        outcomes.add(lambda db, item=item, o=outcome: finish_ereceipt_in(desk, db, item, o.state, o.code, o.text))
    outcomes.flush()
    return None


def send_sms(desk: Desk, sms_remote: Callable[[], Any], timeout: float, only: set[int] | None) -> MaordersError | None:
    items = _due(desk, "sms", only)
    if not items:
        return None
    if desk.config.sms is None:
        desk.counts["sms_waiting_for_settings"] += len(items)
        return _channel_note(desk, "sms", _("e-receipts by SMS wait: SMS_API_ID is not set"), True, ConfigError)
    remote = sms_remote()
    client = SmsClient(remote.session, desk.config.sms.url, desk.config.sms.api_id, desk.config.sms.sender,
                       timeout)
    for item in items:
        if item.state == "unknown":
            # killed between the send and its result: it may have gone out; never resent by itself
            finish_ereceipt(desk, item, "unknown", None, "the pass stopped during the send: it may have gone out; "
                                                         "resend by hand (receipts ereceipt-resend)")
            continue
        row = store.ereceipt(desk.journal.db, _ereceipt_id(item))
        if row is None:
            continue
        if spent(desk):
            return TransientError(_(SPENT))
        desk.journal.begin_send(item)
        outcome = client.send(row["recipient"], row["sms_text"])
        if outcome.state == "account":
            finish_ereceipt(desk, item, "held", outcome.code, outcome.text, retry_in=HELD_FOR)
            return _channel_note(desk, "sms", _("sms.ru refused the account: {code} {text}").format(
                code=outcome.code, text=outcome.text), True)
        finish_ereceipt(desk, item, outcome.state, outcome.code, outcome.text, outcome.sms_id, outcome.retry_in)
    return None


OUTBOX_RESULT = {"sent": "sent", "retry": "retry", "held": "retry", "failed": "failed", "unknown": "failed"}


def finish_ereceipt(desk: Desk, item: OutboxItem, state: str, code: int | None, text: str,
                    sms_id: str | None = None, retry_in: timedelta | None = None) -> None:
    with desk.journal.recording() as db:  # sms.ru's answer is written even past the budget
        finish_ereceipt_in(desk, db, item, state, code, text, sms_id, retry_in)


def finish_ereceipt_in(desk: Desk, db: Any, item: OutboxItem, state: str, code: int | None, text: str,
                       sms_id: str | None = None, retry_in: timedelta | None = None) -> None:
    """One e-receipt's outcome: its status for the recipient and the outbox row, together."""
    result = OUTBOX_RESULT[state]
    if item.kind == "email" and state == "unknown":
        result = "retry"  # resent next run with the same Message-ID
    desk.journal.finish_send(item, result, code, text, retry_in=retry_in, db=db)
    store.set_ereceipt(db, _ereceipt_id(item), state, code, text, sms_id)
    if result == "failed":
        desk.journal.notify(db, NAME, item.business_key, f"{item.kind}_failed",
                            _("e-receipt {id} by {channel} not sent: {code} {text}").format(
                                id=_ereceipt_id(item), channel=word(CHANNELS, item.kind), code=code or "", text=text))
    desk.counts[f"{item.kind}_{state}"] += 1
    if result == "failed":
        desk.problem(_("e-receipt {id} by {channel} not sent: {code} {text}").format(
            id=_ereceipt_id(item), channel=word(CHANNELS, item.kind), code=code or "", text=text).replace("  ", " "))


def _channel_note(desk: Desk, channel: str, message: str, needs_person: bool,
                  kind: type[MaordersError] | None = None) -> MaordersError:
    """A channel that cannot be used: a notification, a problem, and the error to end the pass with."""
    with desk.journal.write() as db:
        desk.journal.notify(db, NAME, channel, "channel_down", message)
    desk.problem(message)
    kind = kind or (RefusedError if needs_person else TransientError)
    return kind(f"misbridge: {message}")


# ====================================================================== status and doctor
def status_view(journal: Journal) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for row in journal.rows("SELECT state, COUNT(*) AS n FROM misbridge_invoices GROUP BY state"):
        counts[f"invoices {row['state']}"] = row["n"]
    for row in journal.rows("""SELECT kind, state, COUNT(*) AS n FROM outbox WHERE connector = ?
                               AND state NOT IN ('sent', 'dismissed') GROUP BY kind, state""", (NAME,)):
        counts[f"{row['kind']} {row['state']}"] = row["n"]
    for row in journal.rows("SELECT state, COUNT(*) AS n FROM misbridge_ereceipts GROUP BY state"):
        counts[f"e-receipts {row['state']}"] = row["n"]
    held = journal.value("""SELECT COUNT(*) FROM misbridge_ereceipts WHERE state = 'held'""") or 0
    attention = [ngettext("{count} e-receipt held: sms.ru refused the account (see notifications)",
                          "{count} e-receipts held: sms.ru refused the account (see notifications)", held)
                 .format(count=held)] if held else []
    return {"counts": counts, "attention": attention}


def doctor_checks(settings: Any, budget: Any) -> list[dict[str, Any]]:
    from misbridge.doctor import checks

    return checks(settings, budget)
