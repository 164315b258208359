"""MegApteka's words for people: the site's booking statuses by the names the pharmacy uses, and
the journal's words for a booking and its outcome. The journal, `--json` and the site keep the
numbers and the machine words; tables, pages and notifications show these, through the catalog.
"""

from __future__ import annotations

from typing import Any

from maorders.i18n import N_, _

BOOKING_STATUSES = {  # MegApteka's status table (shared/protocols/megapteka.md, the seed's names)
    1: N_("New"),
    2: N_("Issued"),
    3: N_("Cancelled"),
    5: N_("Ready for pickup"),
    6: N_("Being assembled"),
    7: N_("Awaiting confirmation"),
    8: N_("Confirmed"),
    "cancelled_by_client": N_("Cancelled by the customer"),
}


def booking_status(status: int | str | None, with_number: bool = False) -> str:
    """A booking's status by its name: 5 -> «Готов к выдаче»; `with_number` adds the site's
    number for a technician («Готов к выдаче (5)»). Also takes "cancelled_by_client" (the
    seed's «Аннулирован клиентом», an assembled order the customer cancelled) and the number
    as text; an unknown status is shown as it is."""
    if status is None or status == "":
        return ""
    key: int | str = int(status) if isinstance(status, str) and status.isdigit() else status
    name = BOOKING_STATUSES.get(key)
    if name is None:
        return str(status)
    return f"{_(name)} ({key})" if with_number and isinstance(key, int) else _(name)


# the journal's words for a booking and its outcome, as the pharmacist says them (SmartApteka's
# booking document states; how much of the order was booked)
BOOKING_WORDS = {"New": N_("new booking"), "Closed": N_("closed booking"), "Issued": N_("issued booking"),
                 "Deleted": N_("deleted booking"), "rejected": N_("order rejected"),
                 "full": N_("in full"), "partial": N_("in part"), "none": N_("nothing in stock")}


def in_words(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its words for people beside the journal's (the buttons read the journal's)."""
    return row | {f"{key}_shown": _(BOOKING_WORDS[row[key]]) if row.get(key) in BOOKING_WORDS else row.get(key)
                  for key in ("booking_state", "outcome")}
