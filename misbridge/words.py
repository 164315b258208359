"""The clinic cash desk's machine words for people, as the cashier says them.

The journal, `--json` and the logs keep the machine words (`partially_paid`, `retry`, `receive_sent`);
tables, pages, `status` and the pass's summary line show these, through the catalog. ТМ:МИС's
methods are «Получение» (Receive) and «Оплата» (Pay), the seed's own names for them.
"""

from __future__ import annotations

from maorders.i18n import N_, _, word
from maorders.words import OUTBOX_STATES
from maorders.words import counts_in_words as kernel_counts_in_words

RECEIVE = N_("Receive (invoice taken)")
PAY = N_("Pay (payment reported)")

# Connector.words: the pass's counters, the outbox kinds and the keys of status_view()["counts"]
COUNTERS = {
    "invoices_fetched": N_("invoices fetched"), "invoices_new": N_("new invoices"),
    "invoices_seen_again": N_("invoices seen again"), "child_invoices": N_("child invoices"),
    "invoices_rejected": N_("invoices rejected (bad data)"),
    "invoices_for_another_desk": N_("invoices for another cash desk"),
    "invoices_annulled": N_("invoices annulled in the MIS"), "invoices_annulled_before": N_("invoices known annulled already"),
    "receive_queued": N_("Receive queued"), "receive_sent": N_("Receive sent"),
    "receive_already_recorded": N_("Receive already in the MIS"), "receive_refused": N_("Receive refused by the MIS"),
    "pay_sent": N_("Pay sent"), "pay_already_recorded": N_("Pay already in the MIS"),
    "pay_refused": N_("Pay refused by the MIS"), "pays_waiting_for_receive": N_("Pay waiting for its Receive"),
    "email_sent": N_("e-receipts sent by e-mail"), "email_retry": N_("e-receipts by e-mail to send again"),
    "email_failed": N_("e-receipts by e-mail not sent"), "email_unknown": N_("e-receipts by e-mail, outcome unknown"),
    "sms_sent": N_("e-receipts sent by SMS"), "sms_retry": N_("e-receipts by SMS to send again"),
    "sms_held": N_("e-receipts by SMS held"), "sms_failed": N_("e-receipts by SMS not sent"),
    "sms_unknown": N_("e-receipts by SMS, outcome unknown"),
    "emails_waiting_for_smtp_settings": N_("e-receipts by e-mail waiting for the SMTP settings"),
    "sms_waiting_for_settings": N_("e-receipts by SMS waiting for the sms.ru settings"),
    "smtp_connections": N_("connections to the mail server"),
    "history_removed": N_("old send history rows removed"), "register_removed": N_("old MIS history rows removed"),
}
KINDS = {"receive": RECEIVE, "pay": PAY, "email": N_("e-receipt by e-mail"), "sms": N_("e-receipt by SMS"),
         "cashdesks": N_("cash desk sent to the MIS")}
STATUS_COUNTS = {
    "invoices new": N_("invoices waiting for payment, Receive not sent yet"),
    "invoices received": N_("invoices waiting for payment"), "invoices paid": N_("invoices paid"),
    "invoices partially_paid": N_("invoices paid in part"), "invoices refunded": N_("invoices refunded"),
    "invoices annulled": N_("invoices annulled"),
    "receive pending": N_("Receive: queued"), "receive retry": N_("Receive: to be sent again"),
    "receive failed": N_("Receive: not sent"), "receive unknown": N_("Receive: outcome unknown"),
    "pay pending": N_("Pay: queued"), "pay retry": N_("Pay: to be sent again"),
    "pay failed": N_("Pay: not sent"), "pay unknown": N_("Pay: outcome unknown"),
    "email pending": N_("e-receipts by e-mail: queued"), "email retry": N_("e-receipts by e-mail: to be sent again"),
    "email failed": N_("e-receipts by e-mail: not sent"), "email unknown": N_("e-receipts by e-mail: outcome unknown"),
    "sms pending": N_("e-receipts by SMS: queued"), "sms retry": N_("e-receipts by SMS: to be sent again"),
    "sms failed": N_("e-receipts by SMS: not sent"), "sms unknown": N_("e-receipts by SMS: outcome unknown"),
    "cashdesks pending": N_("cash desk to the MIS: queued"),
    "cashdesks retry": N_("cash desk to the MIS: to be sent again"),
    "cashdesks failed": N_("cash desk to the MIS: not sent"),
    "cashdesks unknown": N_("cash desk to the MIS: outcome unknown"),
    "e-receipts queued": N_("e-receipts queued"), "e-receipts sent": N_("e-receipts sent"),
    "e-receipts retry": N_("e-receipts to be sent again"), "e-receipts held": N_("e-receipts held"),
    "e-receipts failed": N_("e-receipts not sent"), "e-receipts unknown": N_("e-receipts, outcome unknown"),
    "e-receipts deleted": N_("e-receipts deleted"),
}
WORDS = {**COUNTERS, **KINDS, **STATUS_COUNTS}

# the journal's states in the cash desk's tables: an invoice's, an outbox item's (the kernel's words), an e-receipt's
STATES = {
    **OUTBOX_STATES,
    "new": N_("waiting for payment"), "received": N_("waiting for payment"), "paid": N_("paid"),
    "partially_paid": N_("paid in part"), "refunded": N_("payment refunded"), "annulled": N_("annulled"),
    "queued": N_("queued"), "held": N_("held"), "deleted": N_("deleted"),
}
RECEIPT_TYPES = {"sale": N_("sale"), "refund": N_("refund")}
CHANNELS = {"email": N_("e-mail"), "sms": N_("SMS")}
METHODS = {"Receive": RECEIVE, "Pay": PAY}
# an invoice's flag (desk.summary; its two red ones are the seed's own words) and our own notes in the journal
NOTES = {
    "e-receipt not sent": N_("e-receipt not sent"), "for another cash desk": N_("for another cash desk"),
    "deleted by a person": N_("deleted by a person"), "resend asked by a person": N_("resend asked by a person"),
    "the pass stopped during the send: it may have gone out; resend by hand (receipts ereceipt-resend)":
        N_("the pass stopped during the send: it may have gone out; resend by hand (receipts ereceipt-resend)"),
}
# what the demo's ТМ:МИС emulator counts (maorders.emulation: requests, faults; misbridge.emulator: effects)
EMULATOR_COUNTS = {**KINDS, "requests": N_("requests"), "fault_500": N_("failures on purpose (HTTP 500)"),
                   "fault_dropped": N_("connections dropped on purpose")}


def in_words(state: str | None) -> str:
    """A journal state for people; a word this list does not know is shown as it is."""
    return word(STATES, state)


def list_in_words(states: str) -> str:
    """"sent, retry" (a joined list of states) for people."""
    return ", ".join(in_words(s.strip()) for s in states.split(",")) if states else ""


def counts_in_words(counts: dict[str, int], words: dict[str, str] = WORDS) -> str:
    """{"pay_sent": 2} as "Pay sent 2" for people ("" for none)."""
    return kernel_counts_in_words(counts, words)


def notes_in_words(notes: list[str]) -> str:
    return "; ".join(word(NOTES, n) for n in notes)


def ereceipts_in_words(ereceipts: list[dict[str, str]]) -> str:
    """An e-receipt list as "2 (SMS): sent, 3 (e-mail): queued"."""
    return ", ".join(_("{id} ({channel}): {state}").format(id=e["id"], channel=word(CHANNELS, e["channel"]),
                                                          state=in_words(e["state"])) for e in ereceipts)
