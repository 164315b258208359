#!/usr/bin/env python
"""The message catalog: extract every `_()`, `ngettext()`, `N_()` text of the product into
maorders/locale/maorders.pot, merge it into each language's .po, and report what has no
translation.

    python scripts/catalog.py            # extract + merge (writes the .pot and the .po files)
    python scripts/catalog.py --check    # write nothing; exit 1 when a text is untranslated,
                                         # its placeholders differ, or the .po is out of date

The texts come from Babel's Python extractor over the product's packages and Jinja's extractor
over the desk's templates, plus the connectors'
descriptions that the CLI passes through `_()` when it builds the help (a connector's purpose,
each pass's help, its options' help). New ids land in the .po with an empty translation (shown
in English until a translator fills them in); ids no longer used become obsolete (`#~`).
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from pathlib import Path
from typing import Iterable, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PACKAGES = ("maorders", "courier", "loyalty", "misbridge")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
LOCALE = ROOT / "maorders" / "locale"
TEMPLATE = LOCALE / "maorders.pot"
LANGUAGES = ("ru",)
PLACEHOLDER = re.compile(r"\{[^{}]*\}|%\(\w+\)[sdfr]|%[sdfr]")


def extracted() -> Iterator[tuple[str | tuple[str, str], str, int]]:
    """(message id or (singular, plural), file, line) for every marked text of the product."""
    from babel.messages.extract import extract_from_file

    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for line, message, _comments, _context in extract_from_file(
                    "python", str(path), keywords=KEYWORDS, comment_tags=("Translators:",)):
                if isinstance(message, tuple):
                    if message[0]:
                        yield (message[0], message[1]), relative, line
                elif message:
                    yield message, relative, line
    yield from templated()


TEMPLATES = ("maorders/desk/templates",)


def templated() -> Iterator[tuple[str | tuple[str, str], str, int]]:
    """The texts of the desk's Jinja templates (`{{ _('Sign in') }}`), read by Jinja's own extractor."""
    from babel.messages.extract import extract_from_file
    from jinja2.ext import babel_extract

    for folder in TEMPLATES:
        for path in sorted((ROOT / folder).rglob("*.html")):
            relative = path.relative_to(ROOT).as_posix()
            for line, message, _comments, _context in extract_from_file(
                    babel_extract, str(path), keywords=KEYWORDS, options={"trimmed": "false"}):
                if isinstance(message, tuple):
                    if message[0]:
                        yield (message[0], message[1]), relative, line
                elif message:
                    yield message, relative, line


def described() -> Iterator[tuple[str, str, int]]:
    """The connectors' own words the CLI shows through `_()` (maorders.cli: help texts)."""
    from maorders import connectors

    for name, connector in connectors.registered().items():
        where = f"{connectors.package_of(name).replace('.', '/')}/connector.py"
        yield connector.purpose, where, 0
        for part in connector.passes.values():
            yield part.help, where, 0
            for option in part.options:
                if getattr(option.default, "help", None):
                    yield option.default.help, where, 0


def template() -> "object":
    from babel.messages.catalog import Catalog

    catalog = Catalog(project="maorders", domain="maorders", charset="utf-8", fuzzy=False)
    for message, where, line in [*extracted(), *described()]:
        catalog.add(message, locations=[(where, line)] if line else [(where, None)],
                    flags=("python-brace-format",) if isinstance(message, str) and "{" in message else ())
    return catalog


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def problems(catalog: Iterable) -> list[str]:
    """Each id with no translation, or whose translation's placeholders differ."""
    found = []
    for message in catalog:
        if not message.id or message.fuzzy:
            if message.id and message.fuzzy:
                found.append(f"fuzzy (needs review): {message.id!r}")
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            found.append(f"untranslated: {ids[0]!r}")
            continue
        wanted = placeholders(ids[-1])
        for string in strings:
            if placeholders(string) != wanted:
                found.append(f"placeholders differ: {ids[0]!r} -> {string!r}")
    return found


def render(catalog: object) -> bytes:
    from babel.messages.pofile import write_po

    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, omit_header=False, sort_output=True, include_lineno=False,
             ignore_obsolete=False)
    return _without_dates(buffer.getvalue())


def _without_dates(text: bytes) -> bytes:
    """Creation dates in the header would make every run a change."""
    return re.sub(rb'"(POT-Creation-Date|PO-Revision-Date): [^"]*"\n', b"", text)


def po_path(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / "maorders.po"


def merged(language: str, pot: object) -> object:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po

    path = po_path(language)
    if path.is_file():
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=language, domain="maorders")
    else:
        catalog = Catalog(locale=language, domain="maorders", project="maorders", charset="utf-8", fuzzy=False)
    for key, message in list(catalog.obsolete.items()):  # a text that is back keeps its translation
        if pot.get(message.id) is not None:
            del catalog.obsolete[key]
            catalog[message.id] = message
    catalog.update(pot, no_fuzzy_matching=True)
    return catalog


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on any problem")
    args = parser.parse_args(argv)
    pot = template()
    failed = False
    outputs = {TEMPLATE: render(pot)}
    for language in LANGUAGES:
        catalog = merged(language, pot)
        outputs[po_path(language)] = render(catalog)
        for problem in problems(catalog):
            print(f"{language}: {problem}")
            failed = True
    for path, content in outputs.items():
        if args.check:
            if not path.is_file() or path.read_bytes() != content:
                print(f"{path.relative_to(ROOT)} is out of date: run python scripts/catalog.py")
                failed = True
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    count = sum(1 for message in pot if message.id)
    print(f"{count} messages; " + ("problems above" if failed else "every one translated"), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
