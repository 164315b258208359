"""Operator commands that send now: «Отправить повторно», an e-receipt resent, «Отправить кассы в МИС».

They go through the same senders as the passes (intent, call, result), under the
resend-receipts pass lock, so a scheduled pass and a person never send the same item at once.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager
from typing import Any, Iterator

from maorders.errors import MaordersError
from maorders.http import Budget, Remote
from maorders.journal import Journal
from misbridge import desk, passes, store
from misbridge.mis import MisClient

NAME = store.CONNECTOR


@contextmanager
def sending(app: Any, journal: Journal, config: Any) -> Iterator[tuple[passes.Desk, list[Remote], list[str]]]:
    """A Desk for an operator's send, under the resend-receipts lock; (desk, remotes, problems)."""
    from maorders.runner import pass_lock

    general = app.settings().general
    problems: list[str] = []
    with pass_lock(general.journal, "resend-receipts"):
        d = passes.Desk(journal, config, Counter(), problems.append, Budget(min(general.pass_budget, 120.0)))
        remotes: list[Remote] = []
        try:
            yield d, remotes, problems
        finally:
            for remote in remotes:
                remote.close()


def _remote(app: Any, remotes: list[Remote], name: str, url: str, budget: Budget) -> Remote:
    general = app.settings().general
    remote = Remote(name, url, general.http_timeout, general.http_retries, budget)
    remotes.append(remote)
    return remote


def resend_invoice(app: Any, journal: Journal, config: Any, ref: str) -> dict[str, Any]:
    invoice, ids = desk.requeue_invoice(journal, ref)
    with sending(app, journal, config) as (d, remotes, problems):
        client = MisClient(_remote(app, remotes, "tmmis", config.url, d.budget), config.ogrn, config.oid,
                           config.cashdesk_guid)
        passes.send_mis(d, client, "receive", ids)
        passes.send_mis(d, client, "pay", ids)
        return {"invoice": invoice["number"], "counts": dict(d.counts), "problems": problems}


def resend_ereceipt(app: Any, journal: Journal, config: Any, ereceipt_id: int) -> dict[str, Any]:
    queued = desk.requeue_ereceipt(journal, ereceipt_id)
    with sending(app, journal, config) as (d, remotes, _):
        sms_url = config.sms.url if config.sms else ""
        down = passes.send_ereceipts(d, app.settings().general.http_timeout,
                                     lambda: _remote(app, remotes, "smsru", sms_url, d.budget), {queued["outbox_id"]})
        if down:
            raise down
    row = store.ereceipt(journal.db, ereceipt_id)
    return desk._public_ereceipt(row)


def push_cashdesks(app: Any, journal: Journal, config: Any) -> dict[str, Any]:
    """Intent, call, result, like a pass; idempotent by cashdeskGuid at the MIS."""
    body = {"cashdeskGuid": config.cashdesk_guid, "name": config.cashdesk_name, "shop": config.shop,
            "kind": "ККТ с передачей в ОФД"}
    key = f"cashdesks/{config.cashdesk_guid}"
    with journal.write() as db:
        journal.enqueue(db, NAME, "cashdesks", key, body)
        db.execute("""UPDATE outbox SET state = 'pending', payload = json(?) WHERE connector = ? AND kind = 'cashdesks'
                      AND business_key = ?""", (json.dumps(body, ensure_ascii=False), NAME, key))
    with sending(app, journal, config) as (d, remotes, _):
        client = MisClient(_remote(app, remotes, "tmmis", config.url, d.budget), config.ogrn, config.oid,
                           config.cashdesk_guid)
        for item in journal.due(NAME, "cashdesks"):
            journal.begin_send(item)
            try:
                reply = client.push_cashdesks([item.payload])
            except MaordersError as exc:
                journal.finish_send(item, "retry", None, str(exc))
                raise
            journal.finish_send(item, "sent" if reply.ok else "failed", reply.http_code,
                                reply.message or f"Result {reply.result}")
    return body | {"state": journal.value("SELECT state FROM outbox WHERE connector = ? AND kind = 'cashdesks' "
                                          "AND business_key = ?", (NAME, key))}
