"""THE registry: the one list of connector packages, in the order their passes run.

Adding a connector is one new package with a `connector.py` (see `maorders.connector`)
and one line here. Nothing else in the kernel names a connector.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from maorders.connector import Connector

REGISTRY = (
    "maorders.megapteka.connector",
    "courier.connector",
    "loyalty.connector",
    "misbridge.connector",
)


@lru_cache(maxsize=1)
def registered() -> dict[str, Connector]:
    """name -> Connector, importing only the light description modules."""
    found: dict[str, Connector] = {}
    for module_name in REGISTRY:
        connector = importlib.import_module(module_name).CONNECTOR
        if connector.name in found:
            raise RuntimeError(f"two connectors are named {connector.name!r}")
        found[connector.name] = connector
    return found


def get(name: str) -> Connector:
    return registered()[name]


def package_of(name: str) -> str:
    """The connector's package: the registry module without its last part."""
    module_name = next(m for m in REGISTRY if importlib.import_module(m).CONNECTOR.name == name)
    return module_name.rpartition(".")[0]


def commands() -> list[str]:
    """Every pass command, in the order the registry first names it."""
    seen: dict[str, None] = {}
    for connector in registered().values():
        seen.update(dict.fromkeys(connector.passes))
    return list(seen)


def taking_part(command: str) -> list[str]:
    """Connectors that have a part in `command`, in registry order."""
    return [name for name, connector in registered().items() if command in connector.passes]


def migrations(names: list[str] | None = None) -> list[str]:
    """The connectors' journal migration sets ("module:attr"): all, or those of `names`."""
    return [c.migrations for name, c in registered().items()
            if c.migrations and (names is None or name in names)]


def loggers() -> list[str]:
    """Loggers whose records go to a pass's log file."""
    names = ["maorders"]
    for name, connector in registered().items():
        names += connector.loggers or [package_of(name).split(".")[0]]
    return list(dict.fromkeys(names))
