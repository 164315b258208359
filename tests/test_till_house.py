"""Issue 16, "The house": the till service's module imports neither the CLI nor `health` (they
import it), so `maorders.cli` ↔ `health` ↔ `resident` is no longer a circle through it; and the
entry point imports only the standard library until it knows a worker runs the command."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import maorders

KERNEL = Path(maorders.__file__).parent


def imported(path: Path) -> set[str]:
    """Every module a file imports, at any depth of it (functions and TYPE_CHECKING included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_house_tillservice_imports_neither_cli_nor_health_nor_resident():
    found = imported(KERNEL / "tillservice.py")
    assert not {"maorders.cli", "maorders.health", "maorders.resident"} & found, found


def test_house_the_entry_point_starts_on_the_standard_library_only():
    probe = ("import sys; import maorders.resident as r; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('typer', 'requests', 'rich', 'maorders', 'click', 'platformdirs')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['maorders', 'maorders.resident', 'maorders.tillservice']", done.stdout
