"""The settings the courier's rules read (a subset of `courier.settings.CourierSettings`, so
the rules' tests need no URLs). Below every rules module (`sync`, `measoft_order`,
`payment_rules`), so the rules import it and never each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rules:
    """The settings the rules read (a subset of CourierSettings, so tests need no URLs)."""

    send_statuses: tuple[str, ...] = ("SentMeaSoft",)
    delivery_types: tuple[str, ...] = ("outcity", "incity")
    status_map: dict[str, str] = field(default_factory=lambda: {"COMPLETE": "complete",
                                                                 "CANCELED": "cancel-other"})
    cod_payment_types: tuple[str, ...] = ("cash",)
    paytype_map: dict[str, str] = field(default_factory=lambda: {"CASH": "cash", "CARD": "bank-card"})
    payment_status: str | None = None
    sync_payments: bool = False
    site: str | None = None

    @classmethod
    def of(cls, settings: Any) -> "Rules":
        return cls(settings.send_statuses, settings.delivery_types, dict(settings.status_map),
                   settings.cod_payment_types, dict(settings.paytype_map), settings.payment_status,
                   settings.sync_payments, settings.retailcrm_site)
