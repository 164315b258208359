"""MegApteka's settings, read from the kernel's Env (every error names the variable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from maorders.i18n import _
from maorders.errors import ConfigError
from maorders.settings import Env


@dataclass(frozen=True)
class CompanyInfo:
    region: str
    city: str
    brand: str


@dataclass(frozen=True)
class MegaptekaSettings:
    url: str
    pharmacy_code: str
    secret: str = field(repr=False)
    company: CompanyInfo
    stock_file: Path | None
    department: str
    booking_ttl_hours: float


def _company(env: Env) -> CompanyInfo:
    raw = env.text("MEGAPTEKA_COMPANY_INFO")
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) != 3 or not all(parts):
        raise ConfigError(_("MEGAPTEKA_COMPANY_INFO must be 'регион, город, бренд', got {raw}").format(raw=repr(raw)))
    return CompanyInfo(*parts)


def read(env: Env) -> MegaptekaSettings:
    stock = env.optional("MEGAPTEKA_STOCK_FILE")
    return MegaptekaSettings(
        url=env.url("MEGAPTEKA_URL"),
        pharmacy_code=env.text("MEGAPTEKA_PHARMACY_CODE"),
        secret=env.text("MEGAPTEKA_SECRET"),
        company=_company(env),
        stock_file=Path(stock) if stock else None,
        department=env.text("MEGAPTEKA_DEPARTMENT"),
        booking_ttl_hours=env.number("MEGAPTEKA_BOOKING_TTL_HOURS", 48, maximum=24 * 366),  # a year at most
    )
