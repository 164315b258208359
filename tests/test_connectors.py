"""One connector, one package: the kernel names none, and a new one needs only its registry line."""

from __future__ import annotations

import ast
import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

import maorders
from conftest import MAORDERS, base_env
from maorders import connectors

KERNEL = Path(maorders.__file__).parent
KERNEL_MODULES = sorted(p for p in KERNEL.glob("*.py") if p.name != "connectors.py")


def connector_words() -> dict[str, set[str]]:
    """Per connector: its name, its package and every settings variable its settings module reads."""
    words = {}
    for name, connector in connectors.registered().items():
        package = connectors.package_of(name)
        settings_module = Path(__import__(connector.settings.split(":")[0], fromlist=["_"]).__file__)
        variables = {v for v in re.findall(r'"([A-Z][A-Z0-9_]+)"', settings_module.read_text(encoding="utf-8"))
                     if not v.startswith("MAORDERS_")}  # a connector may read a general setting too
        words[name] = {name, package, *variables, *connector.switched_on_by}
    return words


def names_in(module: Path) -> tuple[set[str], set[str], set[str]]:
    """(imported modules, string constants other than docstrings, attribute names) of a module."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    imports, strings, attributes = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imports |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            strings.add(node.value)
        elif isinstance(node, ast.Attribute):
            attributes.add(node.attr)
    return imports, strings, attributes


@pytest.mark.parametrize("module", KERNEL_MODULES, ids=lambda p: p.name)
def test_no_kernel_module_names_a_connector(module):
    imports, strings, attributes = names_in(module)
    for name, words in connector_words().items():
        package = connectors.package_of(name)
        assert not [m for m in imports if m == package or m.startswith(package + ".")], (module.name, name)
        named = [s for s in strings if any(re.search(rf"\b{re.escape(w)}\b", s) for w in words)]
        assert not named, f"{module.name} names connector {name}: {named}"
        assert not (attributes & words), f"{module.name} reads {attributes & words} of connector {name}"


def test_no_module_is_too_long_to_read():
    root = KERNEL.parent
    packages = [KERNEL] + [root / connectors.package_of(n).split(".")[0] for n in connectors.registered()]
    too_long = {str(p.relative_to(root)): n for package in set(packages) for p in package.rglob("*.py")
                if (n := len(p.read_text(encoding="utf-8").splitlines())) > 650}
    assert not too_long


# -- a throwaway connector, added with nothing but its registry line ------------------------------------
THROWAWAY = {
    "__init__.py": '"""A connector made by a test."""\n',
    "connector.py": '''
from maorders.connector import Connector, Pass

CONNECTOR = Connector(
    name="throwaway",
    purpose="a test's connector: counts greetings",
    switched_on_by=("THROWAWAY_GREETING",),
    settings="throwaway.settings:read",
    migrations="throwaway.migrations:migrations",
    passes={"greet": Pass("throwaway.passes:greet", "write one greeting to the journal.",
                          example="--only throwaway")},
    status="throwaway.passes:status_view",
)
''',
    "settings.py": '''
from dataclasses import dataclass


@dataclass(frozen=True)
class ThrowawaySettings:
    greeting: str
    times: int


def read(env):
    return ThrowawaySettings(env.text("THROWAWAY_GREETING"), env.integer("THROWAWAY_TIMES", 1, 1, 5))
''',
    "migrations.py": '''
from sqlite_utils.migrations import Migrations

migrations = Migrations("throwaway")


@migrations()
def m001_greetings(db):
    db.execute("CREATE TABLE tw_greetings (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
''',
    "passes.py": '''
def greet(ctx):
    with ctx.journal.write() as db:
        for _ in range(ctx.config.times):
            db.execute("INSERT INTO tw_greetings (text) VALUES (?)", (ctx.config.greeting,))
    ctx.counts["greeted"] += ctx.config.times


def status_view(journal):
    return {"counts": {"greetings": journal.value("SELECT COUNT(*) FROM tw_greetings")}, "attention": []}
''',
}


@pytest.fixture
def with_throwaway(tmp_path: Path) -> dict[str, str]:
    """A copy of the kernel with one more registry line, and the throwaway package beside it."""
    source = tmp_path / "src"
    shutil.copytree(KERNEL, source / "maorders", ignore=shutil.ignore_patterns("__pycache__"))
    registry = source / "maorders" / "connectors.py"
    text = registry.read_text(encoding="utf-8")
    registry.write_text(text.replace("REGISTRY = (\n", 'REGISTRY = (\n    "throwaway.connector",\n', 1),
                        encoding="utf-8")
    (source / "throwaway").mkdir()
    for name, code in THROWAWAY.items():
        (source / "throwaway" / name).write_text(code, encoding="utf-8")
    changed = [p.relative_to(source) for p in (source / "maorders").rglob("*.py")
               if p.read_bytes() != (KERNEL / p.relative_to(source / "maorders")).read_bytes()]
    assert changed == [Path("maorders/connectors.py")]
    (tmp_path / "none.env").write_text("", encoding="utf-8")
    return base_env(tmp_path) | {"PYTHONPATH": str(source)}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MAORDERS, *args], env=env, capture_output=True, text=True, encoding="utf-8",
                          timeout=60, stdin=subprocess.DEVNULL)


def test_a_new_connector_needs_only_its_registry_line(with_throwaway):
    env = with_throwaway | {"THROWAWAY_GREETING": "привет", "THROWAWAY_TIMES": "2"}

    assert "greet" in run(env, "--help").stdout
    assert "Write one greeting to the journal." in run(env, "greet", "--help").stdout
    done = run(env, "--json", "greet")
    status = run(env, "--json", "status")

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["connectors"] == {"throwaway": {"ok": True, "counts": {"greeted": 2}, "errors": [],
                                                  "exit_code": 0}}
    with sqlite3.connect(env["MAORDERS_JOURNAL"]) as db:
        assert db.execute("SELECT text FROM tw_greetings").fetchall() == [("привет",), ("привет",)]
        assert db.execute("SELECT command, exit_code FROM runs").fetchall() == [("greet", 0)]
    assert json.loads(status.stdout)["connectors"]["throwaway"]["counts"] == {"greetings": 2}


def test_a_new_connector_s_bad_setting_exits_78_naming_it(with_throwaway):
    done = run(with_throwaway | {"THROWAWAY_GREETING": "hi", "THROWAWAY_TIMES": "9"}, "greet")

    assert done.returncode == 78
    assert "THROWAWAY_TIMES" in done.stderr
    assert not Path(with_throwaway["MAORDERS_JOURNAL"]).exists()


def test_a_new_connector_not_configured_is_named_by_its_switch(with_throwaway):
    done = run(with_throwaway, "greet")

    assert done.returncode == 78
    assert "THROWAWAY_GREETING" in done.stderr
