"""Settings: environment + env file -> one typed, validated object per connector.

Precedence (CONTRACT.md): command-line option > process environment > env file
(`--env-file`, else `MAORDERS_ENV_FILE`, else `maorders.env` in the site config dir)
> defaults. A missing or invalid setting is a ConfigError naming the variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from maorders.errors import ConfigError

APP = "maorders"
YES = {"yes", "y", "true", "1", "on"}
NO = {"no", "n", "false", "0", "off", ""}


def site_config_dir() -> Path:
    import platformdirs

    return Path(platformdirs.site_config_dir(APP, appauthor=False))


def site_data_dir() -> Path:
    import platformdirs

    # On Windows this is C:\ProgramData\maorders, the seed's place for module data.
    return Path(platformdirs.site_data_dir(APP, appauthor=False))


class Env:
    """Reads typed values from a mapping; every error names the variable."""

    def __init__(self, values: Mapping[str, str]):
        self.values = values

    def text(self, name: str, default: str | None = None) -> str:
        value = (self.values.get(name) or "").strip()
        if value:
            return value
        if default is None:
            raise ConfigError(f"{name} is not set")
        return default

    def optional(self, name: str) -> str | None:
        value = (self.values.get(name) or "").strip()
        return value or None

    def url(self, name: str, default: str | None = None) -> str:
        value = self.text(name, default)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    def number(self, name: str, default: float, minimum: float = 0.0) -> float:
        raw = self.text(name, str(default))
        try:
            value = float(raw.replace(",", "."))
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if value < minimum or value != value or value == float("inf"):
            raise ConfigError(f"{name} must be a number >= {minimum:g}, got {raw!r}")
        return value

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.text(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
            raise ConfigError(f"{name} must be {bounds}, got {raw!r}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = (self.values.get(name) or ("yes" if default else "no")).strip().lower()
        if raw in YES:
            return True
        if raw in NO:
            return False
        raise ConfigError(f"{name} must be yes or no, got {raw!r}")

    def items(self, name: str, default: str = "") -> tuple[str, ...]:
        raw = self.values.get(name)
        raw = default if raw is None else raw
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    def mapping(self, name: str, default: str = "") -> dict[str, str]:
        result = {}
        for pair in self.items(name, default):
            key, sep, value = pair.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ConfigError(f"{name} must be a list of CODE=value pairs, got {pair!r}")
            result[key.strip()] = value.strip()
        return result


@dataclass(frozen=True)
class General:
    journal: Path
    log_dir: Path
    http_timeout: float
    http_retries: int
    pass_budget: float  # seconds a pass may spend retrying before it gives up (75)


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


@dataclass(frozen=True)
class CourierSettings:
    retailcrm_url: str
    retailcrm_api_key: str = field(repr=False)
    retailcrm_site: str
    measoft_url: str
    measoft_login: str
    measoft_password: str = field(repr=False)
    measoft_extra: str
    measoft_stream_id: int | None
    send_statuses: tuple[str, ...]
    delivery_types: tuple[str, ...]
    status_map: dict[str, str]
    cod_payment_types: tuple[str, ...]
    paytype_map: dict[str, str]
    payment_status: str | None
    sync_payments: bool


@dataclass(frozen=True)
class Settings:
    general: General
    megapteka: MegaptekaSettings | None
    courier: CourierSettings | None

    def secrets(self) -> list[str]:
        """Every secret value, for the log and output redaction filters."""
        values = []
        if self.megapteka:
            values.append(self.megapteka.secret)
        if self.courier:
            values += [self.courier.retailcrm_api_key, self.courier.measoft_password]
        return [v for v in values if v]

    def configured(self) -> list[str]:
        return [name for name in ("megapteka", "courier") if getattr(self, name) is not None]


def _company(env: Env) -> CompanyInfo:
    raw = env.text("MEGAPTEKA_COMPANY_INFO")
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) != 3 or not all(parts):
        raise ConfigError(f"MEGAPTEKA_COMPANY_INFO must be 'регион, город, бренд', got {raw!r}")
    return CompanyInfo(*parts)


def megapteka_settings(env: Env) -> MegaptekaSettings | None:
    if not env.optional("MEGAPTEKA_URL"):
        return None
    stock = env.optional("MEGAPTEKA_STOCK_FILE")
    return MegaptekaSettings(
        url=env.url("MEGAPTEKA_URL"),
        pharmacy_code=env.text("MEGAPTEKA_PHARMACY_CODE"),
        secret=env.text("MEGAPTEKA_SECRET"),
        company=_company(env),
        stock_file=Path(stock) if stock else None,
        department=env.text("MEGAPTEKA_DEPARTMENT"),
        booking_ttl_hours=env.number("MEGAPTEKA_BOOKING_TTL_HOURS", 48),
    )


def courier_settings(env: Env) -> CourierSettings | None:
    if not (env.optional("RETAILCRM_URL") or env.optional("MEASOFT_URL")):
        return None
    stream = env.optional("MEASOFT_STREAM_ID")
    return CourierSettings(
        retailcrm_url=env.url("RETAILCRM_URL"),
        retailcrm_api_key=env.text("RETAILCRM_API_KEY"),
        retailcrm_site=env.text("RETAILCRM_SITE"),
        measoft_url=env.url("MEASOFT_URL", "https://home.courierexe.ru/api/"),
        measoft_login=env.text("MEASOFT_LOGIN"),
        measoft_password=env.text("MEASOFT_PASSWORD"),
        measoft_extra=env.text("MEASOFT_EXTRA"),
        measoft_stream_id=env.integer("MEASOFT_STREAM_ID", 0, 100, 10000) if stream else None,
        send_statuses=env.items("COURIER_SEND_STATUSES", "SentMeaSoft"),
        delivery_types=env.items("COURIER_DELIVERY_TYPES", "outcity,incity"),
        status_map=env.mapping("COURIER_STATUS_MAP", "COMPLETE=complete,CANCELED=cancel-other"),
        cod_payment_types=env.items("COURIER_COD_PAYMENT_TYPES", "cash"),
        paytype_map=env.mapping("COURIER_PAYTYPE_MAP", "CASH=cash,CARD=bank-card"),
        payment_status=env.optional("COURIER_PAYMENT_STATUS"),
        sync_payments=env.flag("COURIER_SYNC_PAYMENTS", False),
    )


def read_values(env_file: Path | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Env file values overlaid by the real environment (the file never overrides it)."""
    environ = os.environ if environ is None else environ
    path = env_file or (Path(environ["MAORDERS_ENV_FILE"]) if environ.get("MAORDERS_ENV_FILE") else None)
    explicit = path is not None
    path = path or site_config_dir() / "maorders.env"
    values: dict[str, str] = {}
    if path.is_file():
        from dotenv import dotenv_values

        values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    elif explicit:
        raise ConfigError(f"env file {path} does not exist")
    values.update(environ)
    return values


def load(env_file: Path | None = None, journal: Path | None = None,
         environ: Mapping[str, str] | None = None) -> Settings:
    env = Env(read_values(env_file, environ))
    journal_path = journal or Path(env.text("MAORDERS_JOURNAL", str(site_data_dir() / "journal.db")))
    general = General(
        journal=journal_path,
        log_dir=Path(env.text("MAORDERS_LOG_DIR", str(journal_path.parent / "logs"))),
        http_timeout=env.number("MAORDERS_HTTP_TIMEOUT", 30, minimum=0.1),
        http_retries=env.integer("MAORDERS_HTTP_RETRIES", 5, 0, 50),
        pass_budget=env.number("MAORDERS_PASS_BUDGET", 480, minimum=1),
    )
    return Settings(general, megapteka_settings(env), courier_settings(env))
