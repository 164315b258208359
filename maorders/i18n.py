"""The one message catalog for people: every human-facing text goes through `_()`.

English is the source language (the message id); `maorders/locale/ru/LC_MESSAGES/maorders.po`
is the Russian translation, a standard gettext catalog (`scripts/catalog.py` extracts the ids and
reports what is untranslated). `MAORDERS_LANG` (`ru` default, `en`) chooses, from the environment
or the settings file. The catalog is read on the first `_()` call only (a few milliseconds), so
commands that print nothing pay nothing. Machine forms (`--json`, journal values, log fields)
never go through it.

    from maorders.i18n import _, ngettext
    out.info(_("{count} bookings expired").format(count=n))

`N_()` marks a text for the catalog where it must stay untranslated until shown
(module-level constants); pass it through `_()` when it is printed.

People's forms of numbers, money and times (Babel and zoneinfo, imported when first used):
`money()`, `number()`, `quantity()`, `points()`, `local_time()`, `local_date()`; the
pharmacy site's booking statuses by name: `booking_status()`.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # imported where used: `decimal` alone costs a till's scan-qr ~6 ms
    from datetime import date, datetime, tzinfo
    from decimal import Decimal

LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"
DOMAIN = "maorders"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
BABEL_LOCALES = {"ru": "ru_RU", "en": "en_GB"}  # en_GB: day-first dates and a 24-hour clock, as in Russia

_state: dict[str, Any] = {}  # the language chosen and its plural rule
_catalogs: dict[str, dict[Any, Any]] = {}  # read once per process and language (a warm worker reuses them)


# -- the language ---------------------------------------------------------------------------------
def language() -> str:
    """`ru` or `en`: MAORDERS_LANG from the environment, else from the settings file, else Russian."""
    if "language" not in _state:
        _state["language"] = _normal(os.environ.get("MAORDERS_LANG") or _from_settings_file())
    return _state["language"]


def set_language(value: str | None) -> None:
    """Choose the language now (None: choose again from the environment and settings file)."""
    _state.clear()
    if value is not None:
        _state["language"] = _normal(value)


def _normal(value: str | None) -> str:
    """`ru_RU.UTF-8`, `RU`, `en-GB` … -> ru / en; anything else is the default."""
    code = re.split(r"[_.\-@]", (value or "").strip().lower())[0]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


_LANG_LINE = re.compile(rb"^(?:\xef\xbb\xbf)?[ \t]*(?:export[ \t]+)?MAORDERS_LANG[ \t]*=[ \t]*[\"']?([A-Za-z_.\-@]*)", re.M)


def _from_settings_file() -> str | None:
    """MAORDERS_LANG in the settings file the command will read (--env-file, MAORDERS_ENV_FILE,
    else the site's), read before typer builds the help texts. Unreadable: the default; the
    settings reader reports the file itself."""
    path = _env_file_argument(sys.argv[1:]) or os.environ.get("MAORDERS_ENV_FILE")
    if not path:
        from maorders.places import site_config_dir

        path = str(site_config_dir() / "maorders.env")
    try:
        found = _LANG_LINE.findall(Path(path).read_bytes()[:1 << 20])
    except OSError:
        return None
    return found[-1].decode("ascii") if found else None


def _env_file_argument(argv: list[str]) -> str | None:
    for at, arg in enumerate(argv):
        if arg == "--env-file" and at + 1 < len(argv):
            return argv[at + 1]
        if arg.startswith("--env-file="):
            return arg.partition("=")[2]
    return None


# -- the catalog ----------------------------------------------------------------------------------
def _(message: str) -> str:
    """The message in the people's language (the English id when it has no translation)."""
    return _catalog().get(message) or message


def ngettext(singular: str, plural: str, count: int) -> str:
    """The plural form for `count` in the people's language (Russian has three)."""
    catalog = _catalog()
    forms = catalog.get((singular, plural))
    if forms:
        form = forms[min(_plural_rule()(abs(int(count))), len(forms) - 1)]
        if form:
            return form
    return singular if count == 1 else plural


def N_(message: str) -> str:
    """Marks a text for the catalog without translating it now."""
    return message


def word(words: Mapping[Any, str], key: Any) -> str:
    """A machine word (a journal state, a counter's name) for people, from a table of `N_()` words;
    a word the table does not know is shown as it is."""
    if key is None or key == "":
        return ""
    name = words.get(key)
    return _(name) if name is not None else str(key)


def _catalog() -> dict[Any, Any]:
    lang = _state.get("language") or language()
    if lang not in _catalogs:
        path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        _catalogs[lang] = read_po(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return _catalogs[lang]


def _plural_rule() -> Callable[[int], int]:
    if "plural" not in _state:
        import gettext

        header = _catalog().get("", "")
        match = re.search(r"plural=([^;\n]+)", header)
        _state["plural"] = gettext.c2py(match.group(1)) if match else (lambda n: int(n != 1))
    return _state["plural"]


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unquote(text: str) -> str:
    text = text.strip()[1:-1]
    if "\\" not in text:
        return text
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


def read_po(text: str) -> dict[Any, Any]:
    """A gettext .po file -> {msgid: msgstr, (msgid, msgid_plural): [forms], "": header}.

    Fuzzy and obsolete entries are left out, as msgfmt leaves them out; so are empty
    translations (the English id is shown). ~1 ms for a thousand messages."""
    catalog: dict[Any, Any] = {}
    entry: dict[str, Any] = {}
    key = ""
    fuzzy = False

    def finish() -> None:
        if "msgid" in entry and not fuzzy:
            if "msgid_plural" in entry:
                forms = [entry[k] for k in sorted(k for k in entry if k.startswith("msgstr["))]
                if any(forms):
                    catalog[(entry["msgid"], entry["msgid_plural"])] = forms
            elif entry.get("msgstr") or entry["msgid"] == "":
                catalog[entry["msgid"]] = entry.get("msgstr", "")

    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            if "msgid" in entry:  # a comment starts the next entry
                finish()
                entry, fuzzy = {}, False
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            continue
        if line.startswith('"'):
            entry[key] += _unquote(line)
            continue
        key, _space, value = line.partition(" ")
        if key == "msgid" and "msgid" in entry:
            finish()
            entry, fuzzy = {}, False
        entry[key] = _unquote(value)
    finish()
    return catalog


# -- people's forms of numbers, money and times (Babel) --------------------------------------------
def babel_locale() -> str:
    return BABEL_LOCALES[language()]


def money(amount: float | Decimal | int | str | None, currency: str = "RUB") -> str:
    """`1 816,00 ₽` (ru), `RUB 1,816.00` (en); empty for no amount."""
    if amount is None or amount == "":
        return ""
    from decimal import Decimal

    from babel.numbers import format_currency

    return format_currency(Decimal(str(amount)), currency, locale=babel_locale())


def number(value: float | Decimal | int | str | None, decimals: int | None = None) -> str:
    """`1 234 567,5` (ru), `1,234,567.5` (en); `decimals` fixes the digits after the point."""
    if value is None or value == "":
        return ""
    from decimal import Decimal

    from babel.numbers import format_decimal

    value = Decimal(str(value))
    if decimals is None:
        return format_decimal(value, locale=babel_locale(), decimal_quantization=False)
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=babel_locale())


def quantity(value: float | Decimal | int | str | None) -> str:
    """Packs, litres, items: as many decimals as the value has (`2`, `12,5`)."""
    return number(value)


def points(value: float | Decimal | int | str | None) -> str:
    """Loyalty points: whole ones as `1 520`, fractions to two digits (`12,35`)."""
    if value is None or value == "":
        return ""
    from decimal import Decimal

    value = Decimal(str(value))
    return number(value, 0 if value == value.to_integral_value() else 2)


def time_zone() -> tzinfo:
    """MAORDERS_TZ (an IANA name, `Europe/Moscow`), else the machine's local zone (TZ on POSIX).
    An unknown name is the machine's zone too: a time shown is never worth a failed pass."""
    from datetime import datetime, timezone

    name = os.environ.get("MAORDERS_TZ", "").strip()
    if name:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    local = datetime.now().astimezone().tzinfo
    return local or timezone.utc


def _as_datetime(value: datetime | str) -> datetime:
    from datetime import datetime, timezone

    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    if moment.tzinfo is None:  # the journal's times are UTC; naive ones are read as UTC too
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def local_time(value: datetime | str | None, seconds: bool = False) -> str:
    """A journal time (ISO 8601 UTC or a datetime) as people read it in their zone:
    `06.12.2026 11:41` (ru), `06/12/2026 11:41` (en). Empty for none; text that is not a
    time is shown as it is."""
    if not value:
        return ""
    try:
        moment = _as_datetime(value)
    except ValueError:
        return str(value)
    return _date_and_clock(moment, seconds, time_zone())


def _date_and_clock(moment: datetime, seconds: bool, zone: tzinfo | None) -> str:
    """`06.12.2026 11:41` in the people's locale; in `zone`, or as it is written when None."""
    from babel.dates import format_datetime, get_date_format, get_time_format

    locale = babel_locale()
    clock = get_time_format("medium" if seconds else "short", locale=locale).pattern
    return format_datetime(moment, f"{get_date_format('short', locale=locale).pattern} {clock}", tzinfo=zone,
                           locale=locale)


def wall_time(value: datetime | str | None, seconds: bool = False) -> str:
    """A time a remote wrote as its own wall clock, with no offset (the MIS's bill dates, already
    local), as people read it and not moved to another zone: `06.12.2026 11:41`. A time with its
    offset is shown in the people's zone (`local_time`)."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return str(value)
    if not moment or moment.tzinfo is not None:
        return local_time(value, seconds)
    return _date_and_clock(moment, seconds, None)


def local_date(value: date | datetime | str | None) -> str:
    """`06.12.2026` (ru), `06/12/2026` (en); a datetime is taken in the people's zone first."""
    if not value:
        return ""
    from datetime import date, datetime

    try:
        if isinstance(value, datetime) or (isinstance(value, str) and "T" in value):
            value = _as_datetime(value).astimezone(time_zone()).date()
        elif isinstance(value, str):
            value = date.fromisoformat(value)
    except ValueError:
        return str(value)
    from babel.dates import format_date, get_date_format

    locale = babel_locale()
    return format_date(value, get_date_format("short", locale=locale).pattern, locale=locale)
