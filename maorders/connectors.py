"""The registry of connectors: where each one's journal tables and passes live.

A connector's store module holds `migrations` (a sqlite_utils Migrations set for its
own tables); its passes module exposes `PASSES` (command -> function taking a
`PassContext`) and optionally `status_view` and `doctor_checks`. Passes modules are
imported only for the connectors a run uses, so `--help` and every pass stay quick.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Connector:
    store: str
    passes: str
    commands: tuple[str, ...]  # the passes it takes part in (must match its PASSES)


CONNECTORS: dict[str, Connector] = {
    "megapteka": Connector("maorders.megapteka.store", "maorders.megapteka.passes",
                           ("export-stock", "pull-orders", "push-statuses", "expire-bookings")),
    "courier": Connector("courier.store", "courier.passes", ("pull-orders", "push-statuses")),
}

def module(name: str) -> ModuleType:
    """The connector's passes module."""
    return importlib.import_module(CONNECTORS[name].passes)


def migration_sets() -> list:
    return [importlib.import_module(c.store).migrations for c in CONNECTORS.values()]


def taking_part(command: str) -> list[str]:
    """Connectors that have a pass for `command`, in registry order."""
    return [name for name, connector in CONNECTORS.items() if command in connector.commands]
