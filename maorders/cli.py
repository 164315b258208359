"""The `maorders` command. Thin: parse, call, print. Heavy modules are imported per command."""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from maorders import connectors
from maorders.connector import Option, load
from maorders.output import Output
from maorders.operator import app_state as state, with_journal
from maorders.runner import AppState, guarded, run_pass

app = typer.Typer(
    name="maorders",
    help="Keep a retail back office in sync with the services it sells through. Each pass is "
         "idempotent: schedule it every 10 minutes.\n\n"
         + "\n\n".join(f"{c.name}: {c.purpose}" for c in connectors.registered().values())
         + "\n\nExample: maorders --env-file C:\\ProgramData\\maorders\\maorders.env pull-orders",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
ONLY = typer.Option(None, "--only", help="Limit the pass to these connectors, comma-separated "
                                         f"({', '.join(connectors.registered())}). "
                                         f"Example: --only {next(iter(connectors.registered()))}",
                    metavar="NAME[,NAME]")


@app.callback()
def main_options(
    ctx: typer.Context,
    env_file: Optional[Path] = typer.Option(None, "--env-file", help="Settings file (KEY=value lines). "
                                            "The real environment wins over it. Example: --env-file maorders.env"),
    journal: Optional[Path] = typer.Option(None, "--journal", help="The SQLite journal file "
                                           "(default MAORDERS_JOURNAL). Example: --journal ./journal.db"),
    json_mode: bool = typer.Option(False, "--json", help="Print one JSON object on stdout for scripts. "
                                   "Example: maorders --json status"),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="More progress lines on stderr."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only errors on stderr."),
) -> None:
    """Global options come before the command."""
    ctx.obj = AppState(Output(json_mode=json_mode, quiet=quiet, verbose=verbose), env_file, journal)


def _only(value: Optional[str]) -> list[str] | None:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def _exit(code: int) -> None:
    raise typer.Exit(code)


# -- the passes and operator groups, composed from the connectors ----------------------------
def _pass_help(command: str) -> str:
    """What each connector taking part does, and an example."""
    parts = [(name, connector.passes[command]) for name, connector in connectors.registered().items()
             if command in connector.passes]
    if len(parts) == 1:
        text = parts[0][1].help
        lines = [text[:1].upper() + text[1:]]
    else:
        lines = [f"{name}: {part.help}" for name, part in parts]
    example = next((part.example for _, part in parts if part.example), "")
    return "\n\n".join([*lines, f"Example: maorders {command} {example}".rstrip()])


def _pass_command(command: str) -> Callable[..., None]:
    """A typer command for one pass, with the options its connectors bring and --only."""
    options: dict[str, Option] = {}
    for name in connectors.taking_part(command):
        for option in connectors.get(name).passes[command].options:
            options.setdefault(option.name, option)

    def run(ctx: typer.Context, **values: Any) -> None:
        only = values.pop("only")
        _exit(run_pass(state(ctx), command, _only(only), values))

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    parameters += [inspect.Parameter(o.name, keyword, default=o.default, annotation=o.type)
                   for o in options.values()]
    parameters.append(inspect.Parameter("only", keyword, default=ONLY, annotation=Optional[str]))
    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run


for _command in connectors.commands():
    app.command(_command, help=_pass_help(_command))(_pass_command(_command))


# -- status, doctor, demo, sandbox ----------------------------------------------------------------
@app.command("status")
def status(
    ctx: typer.Context,
    check: bool = typer.Option(False, "--check", help="Exit 1 when something needs a person "
                               "(failed sends, unseen notifications about problems)."),
    ack: bool = typer.Option(False, "--ack", help="Mark the refused sends and the notifications as seen by "
                             "a person, so that --check stops reporting them. Example: maorders status --ack"),
) -> None:
    """The journal at a glance: pending and failed sends, notifications, last runs.

    Example: maorders status --check
    """
    def action(journal: Any) -> int:
        from maorders import health

        return health.show_status(journal, state(ctx).output, check, ack)

    with_journal(ctx, action)


@app.command("doctor")
def doctor(ctx: typer.Context) -> None:
    """Check settings, the journal, and that every configured service answers and accepts us.

    Example: maorders --env-file maorders.env doctor
    """
    from maorders import health

    app_state = state(ctx)
    _exit(guarded(app_state, lambda: health.doctor(app_state)))


def _serve_help() -> str:
    from maorders.resident import resident_commands

    waited_for = ", ".join(resident_commands()) or "none yet"
    return ("Keep warm workers for the passes a person waits for at a till (" + waited_for + "): the command "
            "hands its run to one and answers in a few hundredths of a second instead of ~0.4 s. Start it at "
            "log-on, as the user the till program runs as (scripts/schedule.py makes the task); without it the "
            "commands run as before. It needs no settings: each run uses the caller's own. Ctrl+C stops."
            "\n\nExample: maorders serve")


@app.command("serve", help=_serve_help())
def serve(ctx: typer.Context) -> None:
    from maorders import resident
    from maorders.errors import MaordersError

    out = state(ctx).output
    try:
        resident.serve(out)
    except MaordersError as exc:
        out.error(str(exc))
        _exit(exc.exit_code)


@app.command("demo")
def demo(
    ctx: typer.Context,
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Where the demo keeps its journal and "
                                           "files (default: a new temporary folder). Example: --workdir ./demo"),
) -> None:
    """A full cycle against the built-in emulators, no settings needed.

    Example: maorders demo
    """
    from maorders import demo as demo_module

    _exit(demo_module.run(state(ctx), workdir))


@app.command("sandbox")
def sandbox(
    ctx: typer.Context,
    port: int = typer.Option(8081, "--port", help="First port; each emulator takes the next one. "
                             "Example: --port 9000"),
) -> None:
    """Run the emulators alone, for trying real settings by hand (Ctrl+C stops them).

    Example: maorders sandbox --port 8081
    """
    from maorders import demo as demo_module

    _exit(demo_module.sandbox(state(ctx), port))


for _connector in connectors.registered().values():  # operator groups come after the kernel's commands
    for _group, _reference in _connector.groups.items():
        app.add_typer(load(_reference), name=_group)
from maorders.operations_cli import alerts, watch  # noqa: E402 - staff alerts and the desktop watcher (issue 9)
app.add_typer(alerts, name="alerts"), app.command("watch")(watch)
from maorders.desk.command import desk as desk_command  # noqa: E402 - the staff desk (issue 19); loads no Flask
app.command("desk")(desk_command)


def main(command: Any = None) -> None:
    """`command`: the app's click command built ahead (a warm worker's), else built now."""
    if hasattr(os, "umask"):  # journal, logs, locks hold orders and customers' data: the owner's alone
        os.umask(0o077)
    try:
        code = (command or typer.main.get_command(app))(standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        sys.stderr.write("interrupted\n")
        code = 130
    except typer.exceptions.TyperException as exc:  # click's usage errors: 2, one JSON object with --json
        exc.show()
        code = getattr(exc, "exit_code", 2)
        if "--json" in sys.argv[1:]:
            names = typer.main.get_command(app).commands  # type: ignore[attr-defined]
            command = next((arg for arg in sys.argv[1:] if arg in names), "")
            Output(json_mode=True).emit_json({"command": command, "exit_code": code,
                                              "error": exc.format_message()})
    except Exception:  # a bug outside any pass (demo, sandbox): one line, the traceback in a log file
        from maorders.runner import log_bug

        log_bug(AppState(Output()), " ".join(sys.argv[1:2]) or "maorders")
        sys.stderr.write("error: internal error (traceback in the log)\n")
        code = 1
        if "--json" in sys.argv[1:]:
            Output(json_mode=True).emit_json({"command": "", "exit_code": code, "error": "internal error"})
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
