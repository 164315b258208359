"""Settings: environment + env file -> the general settings and one typed object per connector.

Each connector reads its own settings from `Env` (see `maorders.connector`); this
module knows only the general ones.

Precedence (CONTRACT.md): command-line option > process environment > env file
(`--env-file`, else `MAORDERS_ENV_FILE`, else `maorders.env` in the site config dir)
> defaults. A missing or invalid setting is a ConfigError naming the variable.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from maorders.errors import ConfigError
from maorders.i18n import _
from maorders.places import default_log_dir, site_config_dir, site_data_dir

YES = {"yes", "y", "true", "1", "on"}
NO = {"no", "n", "false", "0", "off", ""}


_URL_SETTINGS: dict[str, str] = {}  # every URL an Env read in this process -> its variable


def url_setting(url: str) -> str | None:
    """The variable a service's address came from (e.g. MEGAPTEKA_URL), for messages that say
    which setting to check: the longest URL read that `url` is or starts with."""
    url = url.rstrip("/")
    found = [(len(read), name) for read, name in _URL_SETTINGS.items() if url == read or url.startswith(read + "/")]
    return max(found)[1] if found else None


def _outline(url: str) -> str:
    """A wrong URL as it may be shown: its scheme and host only. Its path, query and user info
    may hold a key (a health-check ping key, a token): never echoed."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme and host and len(parts.scheme) <= 10:
        return f"'{parts.scheme}://{host}/…'" if parts.path.strip("/") or parts.query else f"'{parts.scheme}://{host}'"
    return _("a value without http:// or https:// (not shown: it may hold a key)")


class Env:
    """Reads typed values from a mapping; every error names the variable."""

    def __init__(self, values: Mapping[str, str]):
        self.values = values
        self.url_names: dict[str, str] = {}  # URL -> the variable it came from, for error messages

    def text(self, name: str, default: str | None = None) -> str:
        value = (self.values.get(name) or "").strip()
        if value:
            return value
        if default is None:
            raise ConfigError(_("{name} is not set").format(name=name))
        return default

    def optional(self, name: str) -> str | None:
        value = (self.values.get(name) or "").strip()
        return value or None

    def url(self, name: str, default: str | None = None) -> str:
        value = self.text(name, default)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(_("{name} must be an http(s) URL, got {value}").format(name=name, value=_outline(value)))
        self.url_names[value.rstrip("/")] = _URL_SETTINGS[value.rstrip("/")] = name
        return value.rstrip("/")

    def number(self, name: str, default: float, minimum: float = 0.0, maximum: float = 1e6) -> float:
        """A decimal number within bounds (an absurd value is a settings error, not an overflow later)."""
        raw = self.text(name, str(default))
        try:
            value = float(raw.replace(",", "."))
        except ValueError:
            raise ConfigError(_("{name} must be a number, got {value}").format(name=name, value=repr(raw))) from None
        if not minimum <= value <= maximum:  # NaN fails both comparisons
            raise ConfigError(_("{name} must be a number from {minimum} to {maximum}, got {value}").format(
                name=name, minimum=f"{minimum:g}", maximum=f"{maximum:g}", value=repr(raw)))
        return value

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.text(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(_("{name} must be a whole number, got {value}").format(name=name, value=repr(raw))) from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
            raise ConfigError(_("{name} must be {bounds}, got {value}").format(name=name, bounds=bounds, value=repr(raw)))
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default).lower()
        if value not in choices:
            raise ConfigError(_("{name} must be one of {choices}, got {value}").format(
                name=name, choices=", ".join(choices), value=repr(value)))
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = (self.values.get(name) or ("yes" if default else "no")).strip().lower()
        if raw in YES:
            return True
        if raw in NO:
            return False
        raise ConfigError(_("{name} must be yes or no, got {value}").format(name=name, value=repr(raw)))

    def items(self, name: str, default: str = "") -> tuple[str, ...]:
        raw = self.values.get(name)
        raw = default if raw is None else raw
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    def mapping(self, name: str, default: str = "") -> dict[str, str]:
        result = {}
        for pair in self.items(name, default):
            key, sep, value = pair.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ConfigError(_("{name} must be a list of CODE=value pairs, got {value}").format(
                    name=name, value=repr(pair)))
            result[key.strip()] = value.strip()
        return result


@dataclass(frozen=True)
class General:
    journal: Path
    log_dir: Path
    http_timeout: float
    http_retries: int
    pass_budget: float  # seconds the whole pass may spend, all its connectors together (then 75)
    busy_timeout: float = 10.0  # seconds a write waits for another program's lock on the journal
    alert_urls: tuple[str, ...] = field(default=(), repr=False)  # Apprise URLs carry tokens
    alert_level: str = "all"  # all | problems
    alert_after: float = 60.0  # minutes a pass may keep exiting 75 before a person is told (0: at once)
    alert_repeat: float = 24.0  # hours after which a failure that lasts is told again
    healthcheck_url: str | None = field(default=None, repr=False)
    metrics_file: Path | None = None


@dataclass(frozen=True)
class Settings:
    """The general settings and each configured connector's own (None when not configured)."""

    general: General
    connectors: dict[str, Any] = field(default_factory=dict)
    url_names: dict[str, str] = field(default_factory=dict)  # URL -> its variable, e.g. for "check X"

    def of(self, name: str) -> Any | None:
        return self.connectors.get(name)

    def __getattr__(self, name: str) -> Any:
        # `settings.<connector>` reads like a field; unknown names still fail loudly
        connectors = self.__dict__.get("connectors", {})
        if name in connectors:
            return connectors[name]
        raise AttributeError(name)

    def secrets(self) -> list[str]:
        """Every secret value, for the log and output redaction filters."""
        from maorders import connectors

        values: list[str] = [*self.general.alert_urls, self.general.healthcheck_url or ""]
        for name, value in self.connectors.items():
            if value is not None:
                values += connectors.get(name).secret_values(value)
        return [value for value in values if value]

    def configured(self) -> list[str]:
        return [name for name, value in self.connectors.items() if value is not None]


def read_values(env_file: Path | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Env file values overlaid by the real environment (the file never overrides it)."""
    environ = os.environ if environ is None else environ
    path = env_file or (Path(environ["MAORDERS_ENV_FILE"]) if environ.get("MAORDERS_ENV_FILE") else None)
    explicit = path is not None
    values = _env_file_values(path or site_config_dir() / "maorders.env", explicit)
    values.update(environ)
    return values


def unparsed_lines(path: Path) -> list[int]:
    """The numbers of the lines of an env file that python-dotenv cannot parse (for `doctor`);
    a file that cannot be read at all is a ConfigError naming it, as for a pass."""
    from dotenv.parser import parse_stream

    text = _env_file_text(path, explicit=True) or ""
    return [_line_of(binding) for binding in parse_stream(io.StringIO(text)) if binding.error]


def _line_of(binding: Any) -> int:
    """The line a statement's text starts on (python-dotenv counts from the blank lines before it)."""
    text = binding.original.string
    return binding.original.line + text[:len(text) - len(text.lstrip())].count("\n")


def _env_file_values(path: Path, explicit: bool) -> dict[str, str]:
    """KEY=value lines; a line python-dotenv cannot parse is a settings error naming the file and
    the line (found as soon as it is read: a wrong file of 200,000 lines fails on its first)."""
    from dotenv.main import resolve_variables
    from dotenv.parser import parse_stream

    text = _env_file_text(path, explicit)
    if text is None:
        return {}
    pairs = []
    for binding in parse_stream(io.StringIO(text)):  # what dotenv_values does, stopping at a bad line
        if binding.error:  # the line's text is not shown: it may hold a secret
            raise ConfigError(_("env file {path}, line {line}: not a KEY=value line").format(
                path=path, line=_line_of(binding)))
        if binding.key is not None:
            pairs.append((binding.key, binding.value))
    return {k: v for k, v in resolve_variables(pairs, override=True).items() if v is not None}


def _env_file_text(path: Path, explicit: bool) -> str | None:
    """The file's text in UTF-8 (with or without BOM) or, as Notepad saves «ANSI» on a Russian
    Windows, Windows-1251; None when the default file (not one given) is absent. Anything else
    is a settings error naming the file."""
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        if not explicit:
            return None
        raise ConfigError(_("env file {path} does not exist").format(path=path)) from None
    except OSError as exc:
        if path.is_dir():  # IsADirectoryError; PermissionError on Windows
            raise ConfigError(_("env file {path} is a folder, not a file of KEY=value lines").format(
                path=path)) from None
        raise ConfigError(_("env file {path} cannot be read: {reason}").format(
            path=path, reason=exc.strerror or type(exc).__name__)) from None
    if b"\0" in raw:
        raise ConfigError(_("env file {path} is not a text file (UTF-8 or Windows-1251 KEY=value lines)").format(
            path=path))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        if _is_cp1251(raw):
            return raw.decode("cp1251")
    raise ConfigError(_("env file {path} is neither UTF-8 nor Windows-1251 text").format(path=path))


def _is_cp1251(raw: bytes) -> bool:
    try:
        raw.decode("cp1251")
    except UnicodeDecodeError:  # 0x98 is the one byte cp1251 leaves undefined
        return False
    return True


def load(env_file: Path | None = None, journal: Path | None = None,
         environ: Mapping[str, str] | None = None) -> Settings:
    env = Env(read_values(env_file, environ))
    journal_path = journal or Path(env.text("MAORDERS_JOURNAL", str(site_data_dir() / "journal.db")))
    general = General(
        journal=journal_path,
        log_dir=Path(env.text("MAORDERS_LOG_DIR", str(default_log_dir(journal_path)))),
        http_timeout=env.number("MAORDERS_HTTP_TIMEOUT", 30, minimum=0.1, maximum=600),
        http_retries=env.integer("MAORDERS_HTTP_RETRIES", 5, 0, 50),
        pass_budget=env.number("MAORDERS_PASS_BUDGET", 480, minimum=1, maximum=86400),
        busy_timeout=env.number("MAORDERS_BUSY_TIMEOUT", 10, minimum=0, maximum=3600),
        alert_urls=tuple(url for url in env.text("MAORDERS_ALERT_URLS", "").replace(",", " ").split()),
        alert_level=env.choice("MAORDERS_ALERT_LEVEL", "all", ("all", "problems")),
        # checked here so that a wrong value is a settings error (78) naming it; maorders.failures reads
        # them raw, as it must when the settings cannot be read at all
        alert_after=env.number("MAORDERS_ALERT_AFTER", 60, minimum=0, maximum=1e6),
        alert_repeat=env.number("MAORDERS_ALERT_REPEAT", 24, minimum=0.01, maximum=1e6),
        healthcheck_url=env.url("MAORDERS_HEALTHCHECK_URL") if env.optional("MAORDERS_HEALTHCHECK_URL") else None,
        metrics_file=Path(metrics) if (metrics := env.optional("MAORDERS_METRICS_FILE")) else None,
    )
    from maorders import connectors

    configured = {name: connector.read_settings(env) for name, connector in connectors.registered().items()}
    return Settings(general, configured, env.url_names)
