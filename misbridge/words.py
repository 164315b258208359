"""The journal's words for an invoice, a send and an e-receipt, as the clinic's cashier says them.

The journal, `--json` and the logs keep the machine words (`partially_paid`, `retry`); tables and
pages for people show these, through the catalog.
"""

from __future__ import annotations

from maorders.i18n import N_, _

WORDS = {
    # an invoice (receipts.invoice_state)
    "new": N_("waiting for payment"), "paid": N_("paid"), "partially_paid": N_("paid in part"),
    "refunded": N_("refunded"), "annulled": N_("annulled"),
    # a Receive, a Pay or an e-receipt (the outbox's states)
    "pending": N_("queued"), "queued": N_("queued"), "retry": N_("to be sent again"), "sent": N_("sent"),
    "failed": N_("not sent"), "unknown": N_("outcome unknown"), "held": N_("held"), "dismissed": N_("dismissed"),
    "deleted": N_("deleted"),
}


def in_words(state: str | None) -> str:
    """A state for people; a word this list does not know is shown as it is."""
    if not state:
        return ""
    return _(WORDS[state]) if state in WORDS else state


def list_in_words(states: str) -> str:
    """"sent, retry" (a joined list of states) for people."""
    return ", ".join(in_words(s.strip()) for s in states.split(",")) if states else ""
