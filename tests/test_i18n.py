"""The message catalog (issue 18, points 1-2): Russian by default, every text translated with
its placeholders, nothing for people outside the catalog, Babel's money and local times."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MAORDERS, base_env
from maorders import i18n

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import catalog  # noqa: E402  (scripts/catalog.py, the lead's tool)

PO = ROOT / "maorders" / "locale" / "ru" / "LC_MESSAGES" / "maorders.po"


@pytest.fixture
def language():
    """Sets the language for one test and puts the process's own back afterwards."""
    yield i18n.set_language
    i18n.set_language(None)


# -- the catalog is complete -----------------------------------------------------------------------
def test_every_message_in_the_source_has_a_russian_translation_with_the_same_placeholders():
    from babel.messages.pofile import read_po

    with PO.open("rb") as handle:
        po = read_po(handle, locale="ru")
    translated = {m.id: m.string for m in po if m.id}
    missing, differ = [], []
    for message, where, _line in [*catalog.extracted(), *catalog.described()]:
        strings = translated.get(message)
        if strings is None or not all(strings if isinstance(strings, tuple) else (strings,)):
            missing.append(f"{where}: {message!r}")
            continue
        wanted = catalog.placeholders(message[-1] if isinstance(message, tuple) else message)
        for string in strings if isinstance(strings, tuple) else (strings,):
            if catalog.placeholders(string) != wanted:
                differ.append(f"{where}: {message!r} -> {string!r}")
    assert not missing, "no Russian translation (run python scripts/catalog.py, translate the .po):\n" + \
        "\n".join(missing)
    assert not differ, "placeholders differ:\n" + "\n".join(differ)


def test_the_catalog_tool_finds_nothing_to_do_on_a_clean_checkout():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "catalog.py"), "--check"], capture_output=True,
                          text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every one translated" in done.stderr


def test_the_catalog_is_read_as_babel_reads_it():
    """maorders reads the .po itself (no Babel at start-up): the same translations as Babel's reader."""
    from babel.messages.pofile import read_po

    with PO.open("rb") as handle:
        babel = {m.id: m.string for m in read_po(handle) if m.id and not m.fuzzy}
    ours = i18n.read_po(PO.read_text(encoding="utf-8"))
    assert {k: (tuple(v) if isinstance(v, list) else v) for k, v in ours.items() if k} == \
        {k: v for k, v in babel.items() if (all(v) if isinstance(v, tuple) else v)}


def test_a_fuzzy_or_empty_translation_shows_the_english_text():
    text = ('msgid ""\nmsgstr "Plural-Forms: nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : 1);\\n"\n\n'
            '#, fuzzy\nmsgid "Old"\nmsgstr "Старый"\n\nmsgid "Empty"\nmsgstr ""\n\n'
            'msgid "Two\\n"\n"lines \\"quoted\\""\nmsgstr "Две\\n"\n"строки"\n')
    assert i18n.read_po(text) == {"": "Plural-Forms: nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : 1);\n",
                                  'Two\nlines "quoted"': "Две\nстроки"}


# -- the language ------------------------------------------------------------------------------------
def test_russian_is_the_default_and_english_is_chosen_by_maorders_lang(language, monkeypatch):
    monkeypatch.delenv("MAORDERS_LANG", raising=False)
    monkeypatch.setenv("MAORDERS_ENV_FILE", str(ROOT / "no-such.env"))
    language(None)
    assert i18n.language() == "ru" and i18n._("Usage:") == "Использование:"
    monkeypatch.setenv("MAORDERS_LANG", "en")
    language(None)
    assert i18n.language() == "en" and i18n._("Usage:") == "Usage:"
    monkeypatch.setenv("MAORDERS_LANG", "ru_RU.UTF-8")
    language(None)
    assert i18n._("Usage:") == "Использование:"


def test_russian_plurals_take_three_forms(language):
    language("ru")
    forms = [i18n.ngettext("Demo finished: {steps} step (exit code {code}).",
                           "Demo finished: {steps} steps (exit code {code}).", n).split(":")[1].split()[1]
             for n in (1, 2, 5, 11, 21, 22, 25)]
    assert forms == ["шаг", "шага", "шагов", "шагов", "шаг", "шага", "шагов"]
    language("en")
    assert i18n.ngettext("{n} step", "{n} steps", 1) == "{n} step"


def people_env(**env: str) -> dict[str, str]:
    """The tests' clean environment with no language chosen (the default is the point), plus `env`."""
    return {**{k: v for k, v in base_env(Path("/nonexistent")).items() if k != "MAORDERS_LANG"}, **env}


def run_help(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([MAORDERS, *args], env=people_env(**env), capture_output=True,
                          text=True, encoding="utf-8", timeout=60, stdin=subprocess.DEVNULL)


def test_help_and_scan_qr_help_read_in_russian_by_default():
    for args in (("--help",), ("scan-qr", "--help")):
        done = run_help(*args)
        assert done.returncode == 0, done.stderr
        assert "Использование: maorders" in done.stdout and "Пример: maorders" in done.stdout, done.stdout
        assert "Параметры:" in done.stdout and "Показать эту справку и выйти." in done.stdout
    assert "Прочитать QR-код или карту клиента" in run_help("scan-qr", "--help").stdout


EVERY_HELP = """
import json, re, typer
from maorders.cli import app
from maorders.i18n import _

def walk(command, path):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, [*path, name])

english = []
for path, command in walk(typer.main.get_command(app), ["maorders"]):
    texts = [("help", command.help or "")] + [(p.name, p.help or "") for p in command.params
                                                if getattr(p, "help", None) is not None]
    # click's own options (--install-completion) are translated where the help is written: as shown
    english += [" ".join(path) + " " + what for what, text in texts if not re.search("[а-яё]", _(text), re.I)]
print(json.dumps(english))
"""


def test_every_commands_and_options_help_reads_in_russian_by_default():
    """Every command of the tree, its own help and each option's: a docstring is not in the catalog."""
    done = subprocess.run([sys.executable, "-c", EVERY_HELP], env=people_env(), capture_output=True, text=True,
                          encoding="utf-8", timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_the_language_in_the_env_file_is_chosen_before_the_help_is_built(tmp_path):
    settings = tmp_path / "maorders.env"
    settings.write_text("MAORDERS_LANG=en\n#MAORDERS_LANG=ru\n", encoding="utf-8-sig")  # Notepad's UTF-8 has a BOM
    done = run_help("--env-file", str(settings), "--help")
    assert done.returncode == 0 and "Usage: maorders" in done.stdout and "Example: maorders" in done.stdout
    done = run_help("--help", MAORDERS_ENV_FILE=str(settings))
    assert "Usage: maorders" in done.stdout
    done = run_help("--env-file", str(settings), "--help", MAORDERS_LANG="ru")  # the environment wins
    assert "Использование: maorders" in done.stdout


# -- people's forms: Babel and zoneinfo --------------------------------------------------------------
FORMS = """
import sys
from maorders import i18n
print(i18n.money(1816), i18n.local_time("2026-12-06T08:41:06+00:00"), i18n.local_date("2026-12-06T22:30:00Z"),
      i18n.number(1234567.5), i18n.quantity(12.5), i18n.points(1520), i18n.points("12.346"),
      i18n.wall_time("2026-12-06T13:05:21"), sep="|")  # a remote's wall clock (the MIS's bill date): not moved
"""


@pytest.mark.parametrize("lang, tz, expected", [
    ("ru", {"TZ": "Europe/Moscow"}, "1\xa0816,00\xa0₽|06.12.2026 11:41|07.12.2026|1\xa0234\xa0567,5|12,5|1\xa0520|12,35|06.12.2026 13:05"),
    ("ru", {"TZ": "UTC", "MAORDERS_TZ": "Asia/Yekaterinburg"}, "1\xa0816,00\xa0₽|06.12.2026 13:41|07.12.2026"),
    ("en", {"TZ": "Europe/Moscow"}, "RUB1,816.00|06/12/2026 11:41|07/12/2026|1,234,567.5|12.5|1,520|12.35|06/12/2026 13:05"),
])
def test_money_numbers_and_local_times_as_people_read_them(lang, tz, expected):
    """A journal time in ISO UTC shows in the machine's zone (TZ) or MAORDERS_TZ; roubles as ₽."""
    done = subprocess.run([sys.executable, "-c", FORMS], env={**base_env(Path("/nonexistent")), "MAORDERS_LANG": lang,
                                                              **tz}, capture_output=True, text=True,
                          encoding="utf-8", timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(expected), done.stdout


def test_booking_statuses_by_the_names_the_staff_use(language):
    from maorders.megapteka.words import booking_status

    language("ru")
    names = [booking_status(n) for n in (1, 7, 5, 2, 3)] + [booking_status("cancelled_by_client")]
    assert names == ["Новый", "Ожидает подтверждения", "Готов к выдаче", "Выдан", "Отменен", "Аннулирован клиентом"]
    assert booking_status("5", with_number=True) == "Готов к выдаче (5)"
    assert booking_status(99) == "99"
    language("en")
    assert booking_status(5) == "Ready for pickup"


# -- nothing for people bypasses the catalog (the files of the CLI, output and demo) ----------------
OWN_FILES = tuple(sorted(  # every module of the product; emulators speak as the remotes they stand for
    path.relative_to(ROOT).as_posix() for package in ("maorders", "courier", "loyalty", "misbridge")
    for path in (ROOT / package).rglob("*.py") if "emulat" not in path.as_posix()
    # a connector's purpose, pass and option help are texts the CLI passes through _() where it
    # builds its commands (scripts/catalog.py extracts them from each connector.py)
    and not (path.name == "connector.py" and path.parent != ROOT / "maorders")))
LOGGERS = {"log", "logger", "LOG", "_log"}  # log lines are for a technician's tools: English, as the fields
PEOPLE_METHODS = {"info", "warn", "error", "result", "table", "ask", "progress"}
CATALOG_CALLS = {"_", "N_", "ngettext", "_example"}  # cli._example(command) is _("Example: {command}")


def bare_texts(node: ast.AST) -> list[ast.AST]:
    """String literals with letters in `node` that no catalog call wraps."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) in CATALOG_CALLS:
        return []
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format" \
            and isinstance(node.func.value, ast.Call) and getattr(node.func.value.func, "id", None) in CATALOG_CALLS:
        return []  # `_("… {command}").format(command="maorders demo")`: the values are commands, paths, numbers
    if isinstance(node, ast.Subscript):  # row["error"]: the key is the program's, the value is shown
        return bare_texts(node.value)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node] if any(c.isalpha() for c in node.value) else []
    if isinstance(node, ast.JoinedStr):
        return [node] if any(isinstance(v, ast.Constant) and any(c.isalpha() for c in v.value)
                             for v in node.values) else []
    if isinstance(node, ast.Call):
        return bare_texts(node.func) + [t for a in [*node.args, *(k.value for k in node.keywords)]
                                        for t in bare_texts(a)]
    return [t for child in ast.iter_child_nodes(node) for t in bare_texts(child)]


def human_arguments(tree: ast.AST) -> list[ast.AST]:
    """What goes to people: out.info/warn/error/result/table/Prompt.ask arguments and every help=."""
    found: list[ast.AST] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr in PEOPLE_METHODS \
                and getattr(node.func.value, "id", None) not in LOGGERS:
            found += node.args[:2]
        found += [k.value for k in node.keywords if k.arg == "help"]
    return found


@pytest.mark.parametrize("path", OWN_FILES)
def test_no_text_for_people_bypasses_the_catalog(path):
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    bare = [(t.lineno, ast.unparse(t)) for arg in human_arguments(tree) for t in bare_texts(arg)]
    assert not bare, f"{path}: texts for people outside _(): {bare}"


def test_the_check_sees_a_bare_text():
    tree = ast.parse('out.info(f"Journal at {x}")\nout.table(_("T"), [_("a")], rows)\nout.warn(_("ok {x}").format(x=1))\n'
                     'out.warn(row["error"])\nlog.info("pass %s", name)\nout.result("Invoice " + row["number"])')
    assert [ast.unparse(t) for arg in human_arguments(tree) for t in bare_texts(arg)] == ["f'Journal at {x}'", "'Invoice '"]


def test_status_shows_the_last_run_in_the_machines_local_time(cli):
    """A time shown in `status` under TZ=Europe/Moscow reads as Moscow's clock; --json stays UTC."""
    from datetime import datetime, timedelta

    code, result, _ = cli.json("expire-bookings")
    started = datetime.fromisoformat(result["started_at"])
    assert code == 0 and started.utcoffset() == timedelta(0)
    moscow = (started + timedelta(hours=3)).strftime("%d.%m.%Y %H:%M")
    done = cli.run("status", TZ="Europe/Moscow", MAORDERS_LANG="ru")
    assert done.returncode == 0 and moscow in done.stdout, (moscow, done.stdout)
    assert result["started_at"] not in done.stdout
    done = cli.run("status", TZ="UTC", MAORDERS_TZ="Asia/Vladivostok", MAORDERS_LANG="ru")
    assert (started + timedelta(hours=10)).strftime("%d.%m.%Y %H:%M") in done.stdout


def test_a_translation_made_ahead_comes_back_when_its_text_is_used():
    """Texts of other branches are translated ahead as obsolete (#~) entries: once the merged source
    uses them, the tool makes them active with their translation, not empty."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po

    with PO.open("rb") as handle:
        ahead = [m for m in read_po(handle, locale="ru").obsolete.values() if isinstance(m.id, str)]
    assert ahead, "no translation waits in the catalog"
    pot = Catalog(domain="maorders", fuzzy=False)
    pot.add(ahead[0].id)
    merged = catalog.merged("ru", pot)
    assert merged.get(ahead[0].id).string == ahead[0].string
    assert not catalog.problems(merged)


def test_the_desk_templates_texts_are_in_the_catalog():
    """The catalog tool reads the desk's Jinja templates too: their words have Russian translations."""
    found = {message: where for message, where, _line in catalog.templated()}
    assert found.get("Sign in") == "maorders/desk/templates/signin.html"
    assert found.get("Nothing needs a person.") == "maorders/desk/templates/_needs_rows.html"
    assert i18n.read_po(PO.read_text(encoding="utf-8"))["Nothing needs a person."]
