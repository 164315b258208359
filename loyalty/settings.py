"""The loyalty connector's settings (CONTRACT.md, "Settings": loyalty).

Read from the kernel's `Env`, so every error names the variable. The connector is
switched on by MEGAINSIGHT_URL; the scanner is needed only when no `--code` is given,
so SCANNER_PORT is optional here and checked when a pass wants to read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from maorders.errors import ConfigError
from maorders.i18n import _

DEFAULT_BAUD = 9600
DEFAULT_SCANNER_TIMEOUT_S = 60.0
DEFAULT_BUDGET_S = 15.0
DEFAULT_ORPHAN_MINUTES = 15.0
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
# the seed's «Идентификатор АЗС (PlaceId)»: an opaque id; printable, no spaces
PLACE_ID = re.compile(r"[\x21-\x7e]{1,64}")


@dataclass(frozen=True)
class LoyaltySettings:
    url: str
    token: str = field(repr=False)  # «Токен сети АЗС» (UserId): a secret
    place_id: str
    scanner_port: str | None
    scanner_baud: int
    scanner_timeout: float  # the wait for the customer's code, and nothing else
    budget: float  # the most the cashier waits for the service once the code is read
    orphan_minutes: float  # an applied sale the till never completed is refunded after this


def read(env) -> LoyaltySettings:
    """LoyaltySettings from `maorders.settings.Env`; a bad value is a ConfigError naming it."""
    place_id = env.text("MEGAINSIGHT_PLACE_ID")
    if not PLACE_ID.fullmatch(place_id):
        raise ConfigError(_("MEGAINSIGHT_PLACE_ID must be 1-64 printable characters without spaces"))
    token = env.text("MEGAINSIGHT_TOKEN")
    if any(c.isspace() or not c.isprintable() for c in token) or len(token) > 512:
        raise ConfigError(_("MEGAINSIGHT_TOKEN must be printable characters without spaces"))
    baud = env.integer("SCANNER_BAUD", DEFAULT_BAUD, 50, 4_000_000)
    if baud not in BAUD_RATES:
        raise ConfigError(_("SCANNER_BAUD must be one of {rates}, got {baud}").format(
            rates=", ".join(map(str, BAUD_RATES)), baud=baud))
    return LoyaltySettings(
        url=env.url("MEGAINSIGHT_URL"),
        token=token,
        place_id=place_id,
        scanner_port=env.optional("SCANNER_PORT"),
        scanner_baud=baud,
        scanner_timeout=_bounded(env, "SCANNER_TIMEOUT", DEFAULT_SCANNER_TIMEOUT_S, 0.1, 3600),
        budget=_bounded(env, "MEGAINSIGHT_BUDGET", DEFAULT_BUDGET_S, 0.5, 600),
        orphan_minutes=_bounded(env, "MEGAINSIGHT_ORPHAN_MINUTES", DEFAULT_ORPHAN_MINUTES, 0, 7 * 24 * 60),
    )


def _bounded(env, name: str, default: float, minimum: float, maximum: float) -> float:
    value = env.number(name, default, minimum=minimum)
    if value > maximum:
        raise ConfigError(_("{name} must be at most {most}, got {value}").format(
            name=name, most=f"{maximum:g}", value=f"{value:g}"))
    return value
