"""The kernel's machine words for people: an outbox item's state, who ran something.

The journal, `--json` and the logs keep the machine word; `status`, tables and pages show these,
through the catalog. A connector's own words (its counters, outbox kinds, journal states) are in
its `words` module, named by `Connector.words`.
"""

from __future__ import annotations

from typing import Any, Mapping

from maorders.i18n import N_, word

OUTBOX_STATES = {
    "pending": N_("queued"), "retry": N_("to be sent again"), "sent": N_("sent"), "failed": N_("not sent"),
    "unknown": N_("outcome unknown"), "dismissed": N_("dismissed"),
    "dropped": N_("withdrawn"),  # a connector withdrew it (the order was cancelled, an earlier step failed)
}
DOCTOR_CHECKS = {  # the kernel's `doctor` rows (--json keeps the name)
    "settings": N_("settings"), "settings file": N_("settings file"), "log folder": N_("log folder"),
    "desktop pop-ups": N_("desktop pop-ups"), "settings file access": N_("settings file access"),
    "journal access": N_("journal access"), "staff desk": N_("staff desk"), "till service": N_("till service"),
    "journal": N_("journal"), "services": N_("services"), "metrics file": N_("metrics file"), "alerts": N_("alerts"),
}
A_PASS = N_("(pass)")  # recent activity: a pass run, beside what a person did by hand


def outbox_state(state: str | None) -> str:
    return word(OUTBOX_STATES, state)


def counts_in_words(counts: Mapping[str, int], words: Mapping[str, str]) -> str:
    """{"pay_sent": 2} as "Pay sent 2, …" for people, in the order given ("" for none)."""
    return ", ".join(f"{word(words, key)} {count}" for key, count in counts.items())


def in_table_order(counts: Mapping[str, int], words: Mapping[str, str]) -> dict[str, int]:
    """The counts in the order the connector's table names them (read first, then what came of it);
    a count the table does not name comes last, by name."""
    place = {key: n for n, key in enumerate(words)}
    return dict(sorted(counts.items(), key=lambda item: (place.get(item[0], len(place)), item[0])))


def of_connector(name: str) -> Any:
    """The connector's words for people ({} for a connector that has none, or is not known)."""
    from maorders import connectors

    found = connectors.registered().get(name)
    return found.words_for_people() if found else {}
