"""`maorders demo` and `maorders sandbox`: the real passes against the built-in emulators.

The demo needs no settings: it writes its own env file and journal in a work
folder, ignores the process environment, and runs every connector's part in turn
(`DemoPart`), each pass as Task Scheduler would, printing what each one did.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from maorders.errors import InputError
from maorders.i18n import _, ngettext
from maorders.runner import AppState, run_pass

MARK = "# maorders demo: its own settings for its emulators; a rerun in this folder starts afresh\n"
DEMO_MADE = ("journal.db", "journal.db-wal", "journal.db-shm", "journal.db-journal", "maorders.env", "logs", "locks")


class DemoPart:
    """A connector's part of the demo: its emulators, its settings for them, its steps."""

    def __init__(self, demo: "Demo") -> None:
        self.demo = demo  # start the emulators here; files go in demo.workdir

    def environment(self) -> dict[str, str]:
        """The connector's settings for its running emulators."""
        return {}

    def run(self) -> list[int]:
        """The steps, each through `self.demo.step(...)`; their exit codes."""
        return []

    def summary(self) -> dict[str, Any]:
        """What `demo --json` shows of this part."""
        return {}

    def close(self) -> None:
        """Stop the emulators."""


@dataclass
class SandboxPart:
    """A connector's emulators for `maorders sandbox` and the settings that reach them."""

    servers: list[Any]
    env: dict[str, str]
    notes: list[str] = field(default_factory=list)
    # test data a person adds by typing its name while the sandbox runs: name -> (what it adds,
    # a catalog text; a function that adds it to the running emulators and says what it added)
    actions: dict[str, tuple[str, Callable[[], str]]] = field(default_factory=dict)


def general_environment(workdir: Path) -> dict[str, str]:
    return {
        "MAORDERS_JOURNAL": str(workdir / "journal.db"),
        "MAORDERS_LOG_DIR": str(workdir / "logs"),
        "MAORDERS_HTTP_TIMEOUT": "5",
        "MAORDERS_HTTP_RETRIES": "3",
    }


def write_env_file(path: Path, values: dict[str, str], header: str = "") -> None:
    path.write_text(header + "".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")


def start_afresh(workdir: Path) -> None:
    """A folder an earlier demo used (its settings file carries MARK): its journal, logs and
    settings are of emulators long gone, so they go. A folder with a journal that is not a
    demo's is refused (65): it may be someone's real one."""
    import shutil

    settings = workdir / "maorders.env"
    ours = settings.is_file() and settings.read_text(encoding="utf-8", errors="replace").startswith(MARK)
    if not ours:
        if (workdir / "journal.db").exists() or settings.exists():
            raise InputError(_("{folder} holds a journal or settings that no demo made: give the demo "
                               "another folder").format(folder=workdir))
        return
    for name in DEMO_MADE:
        path = workdir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _parts(demo: "Demo") -> dict[str, DemoPart]:
    from maorders import connectors
    from maorders.connector import load

    return {name: load(c.demo)(demo) for name, c in connectors.registered().items() if c.demo}


class Demo:
    def __init__(self, parent: AppState, workdir: Path):
        self.out = parent.output
        self.workdir = workdir
        self.results: list[dict[str, Any]] = []
        self.parts: dict[str, DemoPart] = {}
        try:
            self.parts = _parts(self)
        except BaseException:
            self.close()
            raise
        self.env = general_environment(workdir)
        for part in self.parts.values():
            self.env.update(part.environment())
        write_env_file(workdir / "maorders.env", self.env, MARK)

    def app(self, **overrides: str) -> AppState:
        from maorders import settings

        state = AppState(self.out, self.workdir / "maorders.env")
        state._settings = settings.load(state.env_file, environ=overrides)  # the real environment stays out
        return state

    def step(self, title: str, command: str, only: list[str] | None = None,
             options: dict[str, Any] | None = None, **overrides: str) -> int:
        """Run one pass as the scheduler would; `overrides` are settings for this step alone."""
        self.out.info("\n" + _("== {title}: maorders {command}").format(title=_(title), command=command))
        code = run_pass(self.app(**overrides), command, only, options)
        self.record(title, command, code)
        return code

    def record(self, title: str, command: str, code: int) -> None:
        self.results.append({"step": title, "command": command, "exit_code": code})

    def run(self) -> int:
        codes: list[int] = []
        for part in self.parts.values():
            codes += part.run()
        code = max(codes) if any(codes) else 0
        # the closing summary is the demo's result: stdout (stderr with --json)
        self.out.result("\n" + ngettext("Demo finished: {steps} step (exit code {code}).",
                                         "Demo finished: {steps} steps (exit code {code}).",
                                         len(self.results)).format(steps=len(self.results), code=code))
        self.out.result(_("Journal, logs and settings of this demo: {folder}").format(folder=self.workdir))
        return code

    def summary(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for part in self.parts.values():
            merged.update(part.summary())
        return merged

    def close(self) -> None:
        for part in self.parts.values():
            part.close()


def run(parent: AppState, workdir: Path | None) -> int:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="maorders-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    json_mode = parent.output.json_mode
    start_afresh(workdir)
    parent.output.json_mode = False  # the demo's passes print for people; one object at the end
    parent.output.results_on_stderr = json_mode
    try:
        demo = Demo(parent, workdir)
        try:
            code = demo.run()
        finally:
            demo.close()
    finally:
        parent.output.json_mode = json_mode
        parent.output.results_on_stderr = False
    if json_mode:
        parent.output.emit_json({"command": "demo", "exit_code": code, "workdir": str(workdir),
                                 "steps": demo.results, **demo.summary()})
    return code


def _ports(first: int) -> Iterator[int]:
    return itertools.count(first) if first else itertools.repeat(0)


def sandbox(parent: AppState, port: int) -> int:
    """The emulators, and on stdout the settings that reach them, as they are: the emulators'
    own fake secrets, not masked (the same lines are in the printed env file)."""
    from maorders import connectors
    from maorders.connector import load

    ports = _ports(port)
    parts: list[SandboxPart] = []
    out = parent.output
    try:
        for connector in connectors.registered().values():
            if connector.sandbox:
                parts.append(load(connector.sandbox)(ports))
        folder = Path(tempfile.mkdtemp(prefix="maorders-sandbox-"))
        env = general_environment(folder)
        for part in parts:
            env.update(part.env)
        write_env_file(folder / "maorders.env", env)
        out.info(_("Emulators running (Ctrl+C stops them). Settings to try them with (also in {file}):").format(
            file=folder / "maorders.env"))
        _print_unmasked("".join(f"{k}={v}\n" for k, v in env.items()))
        out.info(_("Example: {command}").format(command=f"maorders --env-file {folder / 'maorders.env'} doctor"))
        for note in (n for part in parts for n in part.notes):
            out.info(note)
        for server in (s for part in parts for s in part.servers):
            root = f"http://127.0.0.1:{server.port}"
            out.info(_("Fault knobs: POST {faults}  counters: GET {counters}").format(
                faults=f"{root}/_emulator/faults", counters=f"{root}/_emulator/counters"))
        actions = {name: action for part in parts for name, action in part.actions.items()}
        if actions:
            out.info(_("Type a name and Enter to add test data: {actions}").format(
                actions="; ".join(f"{name} ({_(text)})" for name, (text, _add) in actions.items())))
        for line in _typed_lines():
            out.result(run_action(actions, line))
        while True:  # no one types (stdin closed or not given): serve until Ctrl+C
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        for server in (s for part in parts for s in part.servers):
            server.stop()


def _typed_lines() -> Iterator[str]:
    import sys

    if sys.stdin is None:
        return
    for line in sys.stdin:
        if line.strip():
            yield line.strip()


def run_action(actions: dict[str, tuple[str, Callable[[], str]]], name: str) -> str:
    """What the action `name` added, or which actions there are."""
    if name in actions:
        return actions[name][1]()
    if not actions:
        return _("No test data can be added to these emulators by hand.")
    return _("No action {name!r}; the actions: {actions}").format(name=name, actions=", ".join(actions))


def _print_unmasked(text: str) -> None:
    """The sandbox's settings hold only the emulators' fake secrets: they are printed as they
    are, so that they work as printed (the one output that does not pass redact())."""
    import sys

    from maorders.output import reader_gone

    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        reader_gone(sys.stdout)
