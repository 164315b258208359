"""The registry of connectors: where each one's passes and journal tables live.

A connector module exposes `NAME`, `MIGRATIONS` (a sqlite_utils Migrations set for
its own tables) and `PASSES` (command -> function taking a `PassContext`). Modules
are imported only when a pass runs, so `maorders --help` stays fast.
"""

from __future__ import annotations

import importlib
from types import ModuleType

CONNECTORS: dict[str, str] = {
    "megapteka": "maorders.megapteka.passes",
    "courier": "courier.passes",
}

PASS_COMMANDS = ("export-stock", "pull-orders", "push-statuses", "expire-bookings",
                 "scan-qr", "resend-receipts")


def module(name: str) -> ModuleType:
    return importlib.import_module(CONNECTORS[name])


def migration_sets() -> list:
    return [module(name).MIGRATIONS for name in CONNECTORS]


def taking_part(command: str) -> list[str]:
    """Connectors that have a pass for `command`, in registry order."""
    return [name for name in CONNECTORS if command in module(name).PASSES]
