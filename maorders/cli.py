"""The `maorders` command. Thin: parse, call, print. Heavy modules are imported per command.

Every text for people is a catalog text (`maorders.i18n`); the language is chosen on the first
`_()` call below, from MAORDERS_LANG in the environment or the settings file, before typer
builds the help. The CLI's habits: global options before or after the command, `-h`,
`--version`, shell completion, choices in any case, a closed pipe ends quietly.
"""

from __future__ import annotations

import copy
import inspect
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import typer
from typer import _click
from typer._click import _textwrap
from typer._click.exceptions import NoArgsIsHelpError

from maorders import connectors
from maorders.connector import Option, load
from maorders.i18n import N_, _
from maorders.output import Output, reader_gone
from maorders.tillservice import GLOBAL_FLAGS, GLOBAL_VALUES  # the entry point's own lists of them
from maorders.operator import app_state as state, with_journal
from maorders.runner import AppState, guarded, run_pass

# typer's and click's own words in the help, through the catalog (their code has them in English)
CLICK_WORDS = (N_("Usage:"), N_("Options"), N_("Arguments"), N_("Commands"), N_("Show this message and exit."),
               N_("Install completion for the current shell."),
               N_("Show completion for the current shell, to copy it or customize the installation."),
               N_("Try '{command} {option}' for help."), N_("Error: {message}"))


class Formatter(_click.HelpFormatter):
    """click's help formatter, its headings and its own options' help in the people's language."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, _("Usage:") + " " if prefix is None else prefix)

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        with super().section(_(name)):
            yield

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl([(term, _(text) if text else text) for term, text in rows], col_max, col_spacing)


_click.Context.formatter_class = Formatter


class _WholeWords(_textwrap.TextWrapper):
    """No word, path or command broken in the help's examples (`pull-orders` stays whole)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.break_on_hyphens = self.break_long_words = False


_textwrap.TextWrapper = _WholeWords  # type: ignore[misc]


def _example(command: str) -> str:
    return _("Example: {command}").format(command=command)


app = typer.Typer(
    name="maorders",
    help=_("Keep a retail back office in sync with the services it sells through. Each pass is "
           "idempotent: schedule it every 10 minutes.") + "\n\n"
         + "\n\n".join(f"{c.name}: {_(c.purpose)}" for c in connectors.registered().values())
         + "\n\n" + _example("maorders --env-file C:\\ProgramData\\maorders\\maorders.env pull-orders"),
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
ONLY = typer.Option(None, "--only", metavar="NAME[,NAME]")


def _only_option(command: str) -> Any:
    """--only naming just the connectors that take part in `command`."""
    names = connectors.taking_part(command)
    option = copy.copy(ONLY)
    option.help = (_("Limit the pass to these connectors, comma-separated ({names}).").format(names=", ".join(names))
                   + " " + _("Example: {command}").format(command=f"--only {names[0]}"))
    return option


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"maorders {version('maorders')}\n")
        raise typer.Exit(0)


@app.callback()
def main_options(
    ctx: typer.Context,
    env_file: Optional[Path] = typer.Option(None, "--env-file", help=_(
        "Settings file (KEY=value lines). The real environment wins over it.") + " " + _example(
        "--env-file maorders.env")),
    journal: Optional[Path] = typer.Option(None, "--journal", help=_(
        "The SQLite journal file (default MAORDERS_JOURNAL).") + " " + _example("--journal ./journal.db")),
    json_mode: bool = typer.Option(False, "--json", help=_(
        "Print one JSON object on stdout for scripts.") + " " + _example("maorders status --json")),
    verbose: bool = typer.Option(False, "-v", "--verbose", help=_("More progress lines on stderr.")),
    quiet: bool = typer.Option(False, "-q", "--quiet", help=_("Only errors on stderr.")),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                 help=_("Show the version and exit.")),
) -> None:
    """Global options go before or after the command."""
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
        text = _(parts[0][1].help)
        lines = [text[:1].upper() + text[1:]]
    else:
        lines = [f"{name}: {_(part.help)}" for name, part in parts]
    example = next((part.example for _name, part in parts if part.example), "")
    return "\n\n".join([*lines, _example(f"maorders {command} {example}".rstrip())])


def _translated(option: Any) -> Any:
    """A connector's typer.Option with its help in the people's language."""
    if not getattr(option, "help", None):
        return option
    option = copy.copy(option)
    option.help = _(option.help)
    return option


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
    parameters += [inspect.Parameter(o.name, keyword, default=_translated(o.default), annotation=o.type)
                   for o in options.values()]
    parameters.append(inspect.Parameter("only", keyword, default=_only_option(command), annotation=Optional[str]))
    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run


for _command in connectors.commands():
    app.command(_command, help=_pass_help(_command))(_pass_command(_command))


# -- status, doctor, serve, demo, sandbox -------------------------------------------------------------
@app.command("status", help=_("The journal at a glance: pending and failed sends, notifications, last runs.")
             + "\n\n" + _example("maorders status --check"))
def status(
    ctx: typer.Context,
    check: bool = typer.Option(False, "--check", help=_(
        "Exit 1 when something needs a person (failed sends, unseen notifications about problems).")),
    ack: bool = typer.Option(False, "--ack", help=_(
        "Mark the refused sends and the notifications as seen by a person, so that --check stops "
        "reporting them.") + " " + _example("maorders status --ack")),
) -> None:
    def action(journal: Any) -> int:
        from maorders import health

        return health.show_status(journal, state(ctx).output, check, ack)

    with_journal(ctx, action)


@app.command("doctor", help=_("Check settings, the journal, and that every configured service answers and "
                              "accepts us.") + "\n\n" + _example("maorders --env-file maorders.env doctor"))
def doctor(ctx: typer.Context) -> None:
    from maorders import health

    app_state = state(ctx)
    _exit(guarded(app_state, lambda: health.doctor(app_state)))


def _serve_help() -> str:
    from maorders.tillservice import resident_commands

    waited_for = ", ".join(resident_commands()) or _("none yet")
    return _("Keep warm workers for the passes a person waits for at a till ({commands}): the command hands "
             "its run to one and answers in a few hundredths of a second instead of ~0.4 s. Start it at "
             "log-on, as the user the till program runs as (scripts/schedule.py makes the task); without it "
             "the commands run as before. It needs no settings: each run uses the caller's own. Ctrl+C "
             "stops.").format(commands=waited_for) + "\n\n" + _example("maorders serve")


@app.command("serve", help=_serve_help())
def serve(ctx: typer.Context) -> None:
    from maorders import tillservice
    from maorders.errors import MaordersError

    out = state(ctx).output
    try:
        tillservice.serve(out)
    except MaordersError as exc:
        out.error(str(exc))
        _exit(exc.exit_code)


@app.command("demo", help=_("A full cycle against the built-in emulators, no settings needed.") + "\n\n"
             + _example("maorders demo"))
def demo(
    ctx: typer.Context,
    workdir: Optional[Path] = typer.Option(None, "--workdir", help=_(
        "Where the demo keeps its journal and files (default: a new temporary folder); a folder of an "
        "earlier demo is started afresh.") + " " + _example("--workdir ./demo")),
) -> None:
    from maorders import demo as demo_module
    from maorders.errors import MaordersError

    out = state(ctx).output
    try:
        _exit(demo_module.run(state(ctx), workdir))
    except MaordersError as exc:
        out.error(str(exc))
        if out.json_mode:
            out.emit_json({"command": "demo", "exit_code": exc.exit_code, "error": str(exc), "reason": str(exc)})
        _exit(exc.exit_code)


@app.command("sandbox", help=_("Run the emulators alone, for trying real settings by hand (Ctrl+C stops "
                               "them). It prints settings that work as printed: save them as an env file "
                               "and run any command with --env-file.") + "\n\n"
             + _example("maorders sandbox --port 8081"))
def sandbox(
    ctx: typer.Context,
    port: int = typer.Option(8081, "--port", help=_("First port; each emulator takes the next one.") + " "
                             + _example("--port 9000")),
) -> None:
    from maorders import demo as demo_module

    _exit(demo_module.sandbox(state(ctx), port))


for _connector in connectors.registered().values():  # operator groups come after the kernel's commands
    for _group, _reference in _connector.groups.items():
        app.add_typer(load(_reference), name=_group)
from maorders.operations_cli import WATCH_HELP, alerts, watch  # noqa: E402 - staff alerts, the desktop watcher
app.add_typer(alerts, name="alerts"), app.command("watch", help=WATCH_HELP)(watch)
from maorders.desk.command import desk as desk_command, desk_help  # noqa: E402 - the staff desk (issue 19); no Flask
app.command("desk", help=desk_help())(desk_command)


def main(command: Any = None) -> None:
    """`command`: the app's click command built ahead (a warm worker's), else built now."""
    if hasattr(os, "umask"):  # journal, logs, locks hold orders and customers' data: the owner's alone
        os.umask(0o077)
    if command is not None:  # a warm worker: the language of the caller's environment, not the service's
        from maorders import i18n

        i18n.set_language(None)
    _readable_streams()
    argv = global_options_first(sys.argv[1:])
    json_mode = "--json" in argv
    try:
        command = command or typer.main.get_command(app)
        _any_case_choices(command)
        code = command(args=argv, prog_name="maorders", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        sys.stderr.write(_("interrupted") + "\n")
        code = 130
    except BrokenPipeError:  # `maorders --help | head -1`: the reader has what it wanted
        reader_gone(sys.stdout)
        code = 0
    except typer.exceptions.TyperException as exc:  # click's usage errors: 2, one JSON object with --json
        _show_usage_error(exc)
        code = getattr(exc, "exit_code", 2)
        if json_mode:
            names = typer.main.get_command(app).commands  # type: ignore[attr-defined]
            command = next((arg for arg in argv if arg in names), "")
            Output(json_mode=True).emit_json({"command": command, "exit_code": code,  # "reason": as every exit's
                                              "error": exc.format_message(), "reason": exc.format_message()})
    except Exception:  # a bug outside any pass (demo, sandbox): one line, the traceback in a log file
        from maorders.runner import log_bug

        log_bug(AppState(Output()), " ".join(sys.argv[1:2]) or "maorders")
        Output().error(_("internal error (traceback in the log)"))
        code = 1
        if json_mode:
            Output(json_mode=True).emit_json({"command": "", "exit_code": code, "error": "internal error",
                                              "reason": "internal error"})
    sys.exit(code if isinstance(code, int) else 0)


def global_options_first(argv: list[str]) -> list[str]:
    """`export-stock --json -v` as `--json -v export-stock`: the global options may follow the
    command (clig.dev, git); click takes them only before it. After `--` nothing moves."""
    front: list[str] = []
    rest: list[str] = []
    at = 0
    while at < len(argv):
        arg = argv[at]
        if arg == "--":
            rest += argv[at:]
            break
        if arg in GLOBAL_FLAGS or arg.partition("=")[0] in GLOBAL_VALUES and "=" in arg:
            front.append(arg)
        elif arg in GLOBAL_VALUES and at + 1 < len(argv):
            front += argv[at:at + 2]
            at += 1
        else:
            rest.append(arg)
        at += 1
    return front + rest


def _any_case_choices(command: Any) -> None:
    """Every choice option takes its values in any case (`--state new` is New), as typer's own
    `case_sensitive=False` would; a value that is no choice stays refused (2)."""
    for param in getattr(command, "params", ()):
        if hasattr(getattr(param, "type", None), "case_sensitive"):  # typer._types.TyperChoice
            param.type.case_sensitive = False
    for sub in getattr(command, "commands", {}).values():
        _any_case_choices(sub)


def _readable_streams() -> None:
    """Cyrillic and ₽ under cron's LC_ALL=C or a Windows code page: an ASCII stream writes UTF-8;
    any other that cannot hold them writes a replacement mark instead of failing the command."""
    import codecs

    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None)
        if not encoding or not hasattr(stream, "reconfigure"):
            continue
        try:
            if codecs.lookup(encoding).name == "ascii":
                stream.reconfigure(encoding="utf-8")
            else:
                "Яё₽".encode(encoding)
        except (LookupError, UnicodeEncodeError):
            stream.reconfigure(errors="replace")
        except (ValueError, OSError):
            pass


# click's usage errors, as its code writes them in English -> the catalog's words; the values stay
CLICK_MESSAGES = [(re.compile(pattern), text) for pattern, text in (
    (r"^No such command '(?P<name>[^']*)'\.", N_("No such command '{name}'.")),
    (r"Did you mean (?P<names>.+)\?$", N_("Did you mean {names}?")),
    (r"^No such option: (?P<name>\S+)", N_("No such option: {name}")),
    (r"\(Possible options: (?P<names>[^)]*)\)", N_("(Possible options: {names})")),
    (r"^Missing argument (?P<name>.+)\.$", N_("Missing argument {name}.")),
    (r"^Missing option (?P<name>.+)\.$", N_("Missing option {name}.")),
    (r"^Got unexpected extra argument\(s\) \((?P<args>.*)\)$", N_("Got unexpected extra arguments ({args})")),
    (r"^Invalid value for (?P<name>.+?): ", N_("Invalid value for {name}: ")),
    (r"(?P<value>'.*') is not a valid (?P<kind>[\w ]+)\.$", N_("{value} is not a valid {kind}.")),
    (r"(?P<value>'.*') is not one of (?P<choices>.+)\.$", N_("{value} is not one of {choices}.")),
)]


def click_message(text: str) -> str:
    """A usage error's words through the catalog (typer's click writes them in English)."""
    for pattern, message in CLICK_MESSAGES:
        text = pattern.sub(lambda found: _(message).format(**found.groupdict()), text)
    return text


def _show_usage_error(exc: Any) -> None:
    """click's usage error, its words through the catalog: the usage, the hint, the error."""
    if isinstance(exc, NoArgsIsHelpError):  # `maorders` alone: the help is the answer
        exc.show()
        return
    lines = []
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        lines.append(ctx.get_usage())
        if ctx.command.get_help_option(ctx) is not None:
            lines.append(_("Try '{command} {option}' for help.").format(command=ctx.command_path,
                                                                        option=ctx.help_option_names[-1]))
        lines.append("")
    lines.append(_("Error: {message}").format(message=click_message(exc.format_message())))
    try:
        sys.stderr.write("\n".join(lines) + "\n")
    except BrokenPipeError:
        reader_gone(sys.stderr)


if __name__ == "__main__":
    main()
