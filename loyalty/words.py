"""The loyalty connector's machine words for people, as the station's staff say them.

The journal, `--json` and the logs keep the machine words (`sales_confirmed`, `orphan_refunded`,
`cash`); the summary line, `status`, the tables, the till's lines and the desk show these,
through the catalog (`maorders.i18n.word`: a word a table does not know is shown as it is).
Imported by the till's summary line: nothing heavy here.
"""

from __future__ import annotations

import re

from maorders.i18n import N_, _, word
from maorders.words import outbox_state

# A sale's and a refund's journal state (loyalty.store) as `status` counts them: "sales confirmed"
SALE_COUNTS = {
    "intent": N_("sales not sent yet"), "sent": N_("sales sent, no answer yet"), "confirmed": N_("sales confirmed"),
    "failed": N_("sales refused by the service"), "settling": N_("sales being settled by the reconcile"),
    "abandoned": N_("sales made without loyalty"), "orphan_refunded": N_("sales refunded as never finished"),
}
REFUND_COUNTS = {
    "intent": N_("refunds not sent yet"), "sent": N_("refunds sent, no answer yet"), "done": N_("refunds done"),
    "failed": N_("refunds refused by the service"), "abandoned": N_("refunds never applied"),
}

# Connector.words: scan-qr's counters (ctx.counts), the outbox kinds and the `status` counts
WORDS: dict[str, str] = {
    "identified": N_("clients identified"), "declined": N_("not confirmed by the cashier"),
    "sales_confirmed": N_("sales confirmed"), "sales_already_confirmed": N_("sales already confirmed"),
    "sales_found_applied": N_("sales found applied by the service"),
    "sales_abandoned": SALE_COUNTS["abandoned"], "sales_left_to_the_till": N_("sales left to the till"),
    "refunds": N_("refunds done"), "refunds_already_done": N_("refunds already done"),
    "refunds_found_applied": N_("refunds found applied by the service"),
    "refunds_abandoned": REFUND_COUNTS["abandoned"], "orphans_refunded": SALE_COUNTS["orphan_refunded"],
    "confirm": N_("sale confirmation"), "refund": N_("refund"),
    "scanner": N_("QR scanner"),  # doctor's row (`megainsight`, the service's name, stays as it is)
    **{f"sales {state}": said for state, said in SALE_COUNTS.items()},
    **{f"refunds {state}": said for state, said in REFUND_COUNTS.items()},
}

# One sale's or refund's state in a table (neuter: «подтверждено», as a column of states reads)
SALE_STATES = {
    "intent": N_("not sent yet"), "sent": N_("sent, no answer yet"), "confirmed": N_("confirmed by the service"),
    "failed": N_("refused by the service"), "settling": N_("being settled by the reconcile"),
    "abandoned": N_("sold without loyalty"), "orphan_refunded": N_("refunded: never finished at the till"),
}
REFUND_STATES = {
    "intent": N_("not sent yet"), "sent": N_("sent, no answer yet"), "done": N_("refund made"),
    "failed": N_("refused by the service"), "abandoned": N_("never applied"),
}
PAYMENT_TYPES = {"cash": N_("cash"), "card": N_("by card")}
REFUND_REASONS = {"till": N_("at the till"), "orphan": N_("never finished at the till")}
# a send closed as not applied (loyalty.store.close_unapplied): not a kernel outbox state
CLOSED_SENDS = {"cancelled": N_("closed, nothing applied")}
LINE_CODES = {"AMOUNT": N_("purchase")}  # the one line of `--amount SUM` (loyalty.checkout.amount_line)
# the journal's own notes on a send or a sale (loyalty.store, loyalty.settle)
NOTES = {
    "never applied; the till sold without loyalty": N_("never applied: the till sold without loyalty"),
    "never applied; the till did not run it again": N_("never applied: the till did not run it again"),
}
EMULATOR_COUNTERS = {  # what the demo's Megainsight emulator counts (loyalty.emulator)
    "requests": N_("requests"), "confirm": N_("sales confirmed"), "refund": N_("refunds done"),
    "replayed": N_("requests answered again"),
}
_NOTE = re.compile(r"(operation|refund) (\S+)( \(found\))?")


def sale_state(state: str | None) -> str:
    return word(SALE_STATES, state)


def refund_state(state: str | None) -> str:
    return word(REFUND_STATES, state)


def payment_type(kind: str | None) -> str:
    return word(PAYMENT_TYPES, kind)


def refund_reason(reason: str | None) -> str:
    return word(REFUND_REASONS, reason)


def send_state(state: str | None) -> str:
    """An outbox state or an attempt's result: the kernel's words, and loyalty's `cancelled`."""
    return word(CLOSED_SENDS, state) if state in CLOSED_SENDS else outbox_state(state)


def send_kind(kind: str | None) -> str:
    return word(WORDS, kind)


def line_code(code: str | None) -> str:
    return word(LINE_CODES, code)


def note(text: str | None) -> str:
    """A note the journal keeps in English (`operation op-1`, `never applied; …`) for people;
    any other text (a refusal as the run wrote it) is shown as it is."""
    found = _NOTE.fullmatch(text or "")
    if found is None:
        return word(NOTES, text)
    what, ref, again = found.groups()
    if what == "refund":
        return _("refund {refund}").format(refund=ref)
    return (_("operation {operation} (found in the service)") if again else _("operation {operation}")).format(
        operation=ref)
