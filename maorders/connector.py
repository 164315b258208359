"""What a connector package says about itself. The kernel reads nothing else.

A connector is one package whose `connector.py` holds `CONNECTOR = Connector(...)`;
`maorders/connectors.py` lists those modules, and that is the only place the kernel
learns a connector's name. Everything heavy is named by a "module:attribute"
reference and imported only when used, so `maorders --help` imports just these
descriptions and a pass imports only the connectors that take part in it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Mapping


def load(reference: str) -> Any:
    """Import "package.module:attribute" (the attribute may be dotted)."""
    module_name, _, attribute = reference.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        target = getattr(target, part)
    return target


@dataclass(frozen=True)
class Option:
    """An option a connector adds to a pass command: a typer parameter.

    `name` is the keyword it arrives under in `PassContext.options`; `type` the
    annotation typer reads (`Optional[Path]`, `list[str]`, `bool`, …); `default`
    the `typer.Option(...)` with its flags and help (an example in the help).
    """

    name: str
    type: Any
    default: Any


@dataclass(frozen=True)
class Pass:
    """One connector's part of a pass command."""

    run: str  # "module:function", called with a PassContext
    help: str  # what this connector does in the pass, one sentence
    example: str = ""  # the arguments after the command in the help's example
    options: tuple[Option, ...] = ()
    # "module:function(options) -> name": the run's own name for its lock, log and run record, so
    # that e.g. a till's sale and the scheduled reconciling never lock each other out; default: the command
    lock: str | None = None
    # False (or "module:function(options) -> bool"): a person waits for this run (a till); staff
    # alerts go with the next scheduled pass
    alerts: bool | str = True
    # True (or "module:function(options) -> bool"): a person runs it and reads its answer at once;
    # its 65 (the person's own input) needs nobody later in `status --check`
    attended: bool | str = False
    # a person waits for its answer at once (a till's sale): `maorders serve` keeps warm workers
    # for it, so that the command hands the run over instead of starting Python (maorders.resident)
    resident: bool = False


@dataclass(frozen=True)
class Connector:
    name: str
    purpose: str  # one line: the business and the service it keeps in sync
    switched_on_by: tuple[str, ...]  # the connector is configured when any of these is set
    settings: str  # "module:function(env: maorders.settings.Env) -> a frozen dataclass"
    secrets: tuple[str, ...] = ()  # names of the settings' attributes that hold secrets
    migrations: str | None = None  # "module:attr": a sqlite_utils Migrations set for its own tables
    passes: Mapping[str, Pass] = field(default_factory=dict)
    groups: Mapping[str, str] = field(default_factory=dict)  # operator group name -> "module:typer app"
    status: str | None = None  # "module:function(journal) -> {'counts': {...}, 'attention': [...]}"
    doctor: str | None = None  # "module:function(settings, budget) -> [{'check', 'ok', 'detail', 'exit_code'}]"
    demo: str | None = None  # "module:class": a maorders.demo.DemoPart
    sandbox: str | None = None  # "module:function(ports) -> maorders.demo.SandboxPart"
    loggers: tuple[str, ...] = ()  # loggers whose records go to the pass log (default: its package)
    desk: str | None = None  # "module:attr": a maorders.desk.Pages, its pages on the staff desk (`maorders desk`)
    # "module:attr": {machine word: N_() word for people} for what the kernel shows of this connector:
    # its pass counters, outbox kinds and `status` counts (the journal, --json and logs keep the machine word)
    words: str | None = None

    def words_for_people(self) -> Mapping[str, str]:
        return load(self.words) if self.words else {}

    def pass_function(self, command: str) -> Any:
        return load(self.passes[command].run)

    def read_settings(self, env: Any) -> Any | None:
        """Its settings when any switching variable is set, else None (not configured)."""
        if not any(env.optional(name) for name in self.switched_on_by):
            return None
        return load(self.settings)(env)

    def secret_values(self, settings: Any) -> list[str]:
        return [value for value in (getattr(settings, name, None) for name in self.secrets) if value]
