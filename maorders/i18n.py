"""The one message catalog for people: every human-facing text goes through `_()`.

English is the source language (the message id); the catalog (`MAORDERS_LANG`, Russian by
default) is loaded lazily on the first call, so `--help` and the till's `scan-qr` pay nothing
until they print. Machine forms (`--json`, journal values, log fields) never go through it.

    from maorders.i18n import _, ngettext
    out.info(_("{count} bookings expired").format(count=n))

`N_()` marks a text for the catalog where it must stay untranslated until shown
(module-level constants); pass it through `_()` when it is printed.
"""

from __future__ import annotations


def _(message: str) -> str:
    """The message in the people's language (the English id until the catalog is built)."""
    return message


def ngettext(singular: str, plural: str, count: int) -> str:
    """The plural form for `count` in the people's language."""
    return singular if count == 1 else plural


def N_(message: str) -> str:
    """Marks a text for the catalog without translating it now."""
    return message
