"""One pass: settings, lock, log, journal, run record, exit code, summary.

The CLI names a pass; this module runs it for every configured connector that
takes part, and turns whatever happens into one exit code (CONTRACT.md) and one
summary (a table for people, one JSON object with --json, its `reason` when it failed), and
one last log line with both. A failure, even one before the journal, becomes a notification that
needs a person (`maorders.failures`).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import socket
import tempfile
from collections import Counter
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from maorders import errors, words
from maorders.clock import stamp
from maorders.errors import ConfigError, JournalError, MaordersError, TransientError, UsageError
from maorders.i18n import _
from maorders.output import Output
from maorders.redact import RedactingFormatter, register_secret
from maorders.settings import Settings

if TYPE_CHECKING:
    from maorders.journal import Journal

log = logging.getLogger("maorders")

# When several connectors fail, the code that most needs a person wins.
SEVERITY = [errors.EXIT_BUG, errors.EXIT_USAGE, errors.EXIT_CANTCREAT, errors.EXIT_UNAVAILABLE, errors.EXIT_CONFIG,
            errors.EXIT_DATAERR, errors.EXIT_TEMPFAIL, errors.EXIT_OK]


@dataclass
class AppState:
    """What the global options say; settings are read once, on first use."""

    output: Output
    env_file: Path | None = None
    journal_path: Path | None = None
    _settings: Settings | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            from maorders import settings

            self._settings = settings.load(self.env_file, self.journal_path)
            for secret in self._settings.secrets():
                register_secret(secret)
        return self._settings

    def raw_values(self) -> dict[str, str]:
        """The settings as written (the file under the real environment): what must work even when
        they cannot be read as a whole (a failure's alert, `status`). Never raises."""
        from maorders import settings

        try:
            return settings.read_values(self.env_file)
        except MaordersError:
            return dict(os.environ)

    def basics(self) -> "Basics":
        """Journal, log folder and alert URLs: from the settings, or as written when a connector's
        setting is missing (a settings file that cannot be read at all still fails)."""
        try:
            return Basics.of_settings(self.settings())
        except ConfigError:
            from maorders import settings

            values = settings.read_values(self.env_file)  # raises when the file itself is unusable
            return Basics.of(values, self.journal_path)

    def open_journal(self, connector_names: list[str] | None = None, create: bool = True) -> "Journal":
        """The journal with every connector's tables, or only those of the connectors named.
        `create=False`: with nothing configured, a missing journal is not made (nor its folders)."""
        from maorders import connectors, failures
        from maorders.journal import Journal

        basics = self.basics()
        if not create and not basics.configured and not basics.journal.is_file():
            raise ConfigError(_("no settings found and no journal at {path}: nothing is configured (set "
                                "MAORDERS_ENV_FILE or a connector's settings; see README)").format(path=basics.journal))
        journal = Journal.open(basics.journal, [failures.MIGRATIONS, *connectors.migrations(connector_names)],
                               basics.busy_timeout)
        journal.alert_level = basics.alert_level if basics.alert_urls else None
        journal.configured = basics.connectors  # type: ignore[attr-defined] - status shows only these
        return journal


@dataclass(frozen=True)
class Basics:
    """What every command needs even when a connector's settings are incomplete."""

    journal: Path
    log_dir: Path
    alert_urls: tuple[str, ...]
    alert_level: str
    busy_timeout: float
    connectors: tuple[str, ...]  # the connectors configured (switched on, whole or not)

    @property
    def configured(self) -> bool:
        return bool(self.connectors)

    @classmethod
    def of_settings(cls, settings: Settings) -> "Basics":
        general = settings.general
        return cls(general.journal, general.log_dir, general.alert_urls, general.alert_level,
                   general.busy_timeout, tuple(settings.configured()))

    @classmethod
    def of(cls, values: dict[str, str], journal: Path | None = None) -> "Basics":
        from maorders import connectors
        from maorders.places import default_log_dir, site_data_dir

        path = journal or Path((values.get("MAORDERS_JOURNAL") or "").strip() or site_data_dir() / "journal.db")
        urls = tuple((values.get("MAORDERS_ALERT_URLS") or "").replace(",", " ").split())
        level = (values.get("MAORDERS_ALERT_LEVEL") or "all").strip().lower()
        return cls(path, Path((values.get("MAORDERS_LOG_DIR") or "").strip() or default_log_dir(path)), urls,
                   level if level in ("all", "problems") else "all", 10.0,
                   tuple(name for name, c in connectors.registered().items()
                         if any((values.get(switch) or "").strip() for switch in c.switched_on_by)))


@dataclass
class PassContext:
    """Everything a connector's pass function needs, and what it reports back."""

    command: str
    connector: str
    settings: Settings
    journal: "Journal"
    out: Output
    options: dict[str, Any]
    budget: Any
    counts: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)  # items rejected for good: shown, not fatal
    result: dict[str, Any] | None = None  # a pass's answer for scripts: connectors.NAME.result in --json
    _remotes: list[Any] = field(default_factory=list)

    @property
    def config(self) -> Any:
        """This connector's own settings."""
        return self.settings.of(self.connector)

    def remote(self, name: str, base_url: str, budget: Any = None, **kwargs: Any):
        """A wire session; `budget` replaces the pass's own (e.g. a till's short wait)."""
        from maorders.http import Remote

        general = self.settings.general
        kwargs.setdefault("url_setting", self.settings.url_names.get(base_url.rstrip("/")))
        remote = Remote(name, base_url, general.http_timeout, general.http_retries, budget or self.budget,
                        **kwargs)
        self._remotes.append(remote)
        return remote

    def problem(self, message: str) -> None:
        self.problems.append(message)
        log.warning("%s: %s", self.connector, message)

    def close(self) -> None:
        for remote in self._remotes:
            remote.close()


def run_pass(app: AppState, command: str, only: list[str] | None = None,
             options: dict[str, Any] | None = None) -> int:
    summary: dict[str, Any] = {"command": command, "exit_code": 0, "started_at": stamp(),
                               "finished_at": None, "connectors": {}}
    try:
        code = _run(app, command, only, options or {}, summary)
    except MaordersError as exc:
        code = exc.exit_code
        summary["error"] = str(exc)
        app.output.error(str(exc))
    except Exception as exc:  # a bug: one line here, the traceback in the log (redacted)
        code = _stray_code(exc)
        summary["error"] = _stray_message(exc)
        if code == errors.EXIT_BUG:
            log_bug(app, command)
        app.output.error(summary["error"])
    summary["exit_code"] = code
    summary["finished_at"] = stamp()
    if code and not summary.pop("_recorded", False):  # stopped before or outside its journal
        _record_early(app, command, code, summary)
    summary.pop("_recorded", None)
    if not summary.pop("_ended", False) and app._settings is not None:
        from maorders import operations  # a pass that never reached its lock still pings its exit

        operations.pass_ended(app._settings, None, command, code, summary)
    if code:
        from maorders.operations import reason_of

        summary["reason"] = reason_of(summary, code)
    if app.output.json_mode:
        app.output.emit_json(summary)
    return code


def _stray_code(exc: Exception) -> int:
    """A retryable wire error that escaped the retry (a shape check after the call) is 75, not a bug."""
    from maorders.http import Retryable

    return errors.EXIT_TEMPFAIL if isinstance(exc, Retryable) else errors.EXIT_BUG


def _stray_message(exc: Exception) -> str:
    if _stray_code(exc) == errors.EXIT_TEMPFAIL:
        return _("temporary failure: {detail}; the next run tries again").format(detail=exc)
    return _internal(exc)


def _internal(exc: Exception) -> str:
    return _("internal error: {kind}: {error} (traceback in the log)").format(kind=type(exc).__name__, error=exc)


def _run(app: AppState, command: str, only: list[str] | None, options: dict[str, Any],
         summary: dict[str, Any]) -> int:
    from maorders import connectors, operations
    from maorders.http import Budget

    settings = app.settings()
    names = _connectors_for(settings, command, only, connectors.taking_part(command))
    general = settings.general
    run_name = _lock_name(command, names, options)
    with pass_lock(general.journal, run_name), pass_log(general.log_dir, run_name) as ending:
        budget = Budget(general.pass_budget)  # one for the whole pass, shared by its connectors
        operations.pass_started(settings, command)
        journal = app.open_journal(names)
        journal.budget = budget
        try:
            run_id = journal.start_run(run_name, attended := any(_says(names, command, "attended", options)))
            codes = [_run_connector(app, journal, command, name, options, summary, budget,
                                    general.log_dir / f"{run_name}.log") for name in names]
            code = min(codes, key=SEVERITY.index) if codes else 0
            journal.finish_run(run_id, code, summary["connectors"])
            summary["_recorded"] = _record_failures(app, journal, run_name, code, summary, attended,
                                                    command)
            if all(_says(names, command, "alerts", options)):
                operations.deliver_alerts(settings, journal, summary)
            summary["exit_code"], summary["finished_at"] = code, stamp()
            _pass_ended(app, journal, command, code, summary)
            ending.update(code=code, line=operations.last_line(command, code, summary))
        finally:
            journal.close()
    _print_summary(app.output, command, summary)
    return code


def _record_early(app: AppState, command: str, code: int, summary: dict[str, Any]) -> None:
    """A pass stopped before or outside its journal: an ERROR line in errors.log (always, unless
    it is a 75: the same pass running, the journal busy), and a notification (`maorders.failures`)."""
    if code == errors.EXIT_TEMPFAIL:
        return
    from maorders import failures

    reason = str(summary.get("error") or f"exit {code}")
    try:
        written = write_errors_log(app, "%s exit %d; reason: %s", command, code, reason)
        values = app.raw_values()
        try:
            basics = app.basics()
        except MaordersError:  # the settings file itself is unusable: the environment alone
            basics = Basics.of(values, app.journal_path)
        failures.record_early(basics, failures.policy(values), command, code, reason, written)
    except Exception:  # noqa: BLE001 - the pass's own exit code and line stand
        log.debug("early failure not recorded", exc_info=True)


def _record_failures(app: AppState, journal: "Journal", command: str, code: int, summary: dict[str, Any],
                     attended: bool, cli_command: str) -> bool:
    """The run's failures become notifications (issue 17); this never fails the pass."""
    from maorders import failures

    try:
        rules = failures.policy(app.raw_values()) if code else failures.Policy()
        failures.record(journal, command, code, summary, rules, attended)
        if cli_command != command:  # a failure before the run had its own name was recorded under the command's
            failures.record(journal, cli_command, 0, {"connectors": {}, "reached": True}, rules)
        return True
    except Exception:  # noqa: BLE001 - the run's own outcome stands
        log.warning("failures of %s not recorded", command, exc_info=True)
        return False


def _pass_ended(app: AppState, journal: "Journal | None", command: str, code: int,
                summary: dict[str, Any]) -> None:
    """Health ping and metrics; they never fail or change the pass."""
    from maorders import operations

    summary["_ended"] = True
    operations.pass_ended(app.settings(), journal, command, code, summary)


def log_bug(app: AppState, where: str) -> None:
    """The traceback of a bug to a log file, redacted, whether or not a pass log is open."""
    if log.handlers:
        log.error("bug in %s", where, exc_info=True)
        return
    write_errors_log(app, "bug in %s", where, exc_info=True)


def write_errors_log(app: AppState, message: str, *args: Any, exc_info: bool = False) -> Path | None:
    """One ERROR line in `errors.log` of the log folder (or the default one, or the temporary
    folder): for what happens before or outside a pass's own log. Returns the file written."""
    from maorders.places import default_log_dir, site_data_dir

    try:
        basics = app.basics()
    except MaordersError:  # the settings file itself is unusable: the real environment says
        basics = Basics.of(app.raw_values(), app.journal_path)
    folders = [basics.log_dir, default_log_dir(basics.journal)]
    for folder in [*folders, site_data_dir() / "logs", Path(tempfile.gettempdir())]:
        try:
            with pass_log(folder, "errors", quiet=True):
                log.error(message, *args, exc_info=exc_info)
            return folder / "errors.log"
        except MaordersError:
            continue
    return None


def _connectors_for(settings: Settings, command: str, only: list[str] | None,
                    taking_part: list[str]) -> list[str]:
    if only:
        unknown = [name for name in only if name not in taking_part]
        if unknown:
            raise UsageError(_("--only {names}: no such connector for {command} (choose from {choices})").format(
                names=",".join(unknown), command=command, choices=", ".join(taking_part)))
        missing = [name for name in only if name not in settings.configured()]
        if missing:
            raise ConfigError(_("--only {name}: that connector is not configured").format(name=missing[0]))
        return only
    names = [name for name in taking_part if name in settings.configured()]
    if not names:
        from maorders import connectors

        wanted = _(" or ").join(connectors.get(n).switched_on_by[0] for n in taking_part) or _("a connector")
        raise ConfigError(_("no connector is configured for {command}: set {wanted}").format(command=command,
                                                                                               wanted=wanted))
    return names


def _says(names: list[str], command: str, what: str, options: dict[str, Any]) -> list[bool]:
    """Each connector's `Pass.<what>` for this run: a bool, or a function of the options."""
    from maorders import connectors
    from maorders.connector import load

    values = (getattr(connectors.get(name).passes[command], what) for name in names)
    return [bool(load(v)(options)) if isinstance(v, str) else v for v in values]


def _lock_name(command: str, names: list[str], options: dict[str, Any]) -> str:
    """One lock per pass; a connector may name its own (a till's sale apart from its reconciling)."""
    from maorders import connectors
    from maorders.connector import load

    for name in names:
        reference = connectors.get(name).passes[command].lock
        if reference:
            return load(reference)(options)
    return command


def _run_connector(app: AppState, journal: "Journal", command: str, name: str,
                   options: dict[str, Any], summary: dict[str, Any], budget: Any, log_file: Path) -> int:
    from maorders import connectors

    ctx = PassContext(command, name, app.settings(), journal, app.output, options, budget)
    code, fatal = 0, []
    try:
        connectors.get(name).pass_function(command)(ctx)
    except MaordersError as exc:
        code = exc.exit_code
        fatal.append(str(exc))
        log.warning("%s %s: %s", name, command, exc)
    except Exception as exc:
        code = _stray_code(exc)
        fatal.append(_stray_message(exc))
        if code == errors.EXIT_BUG:
            log.error("bug in %s %s", name, command, exc_info=True)
        else:
            log.warning("%s %s: %s", name, command, fatal[-1])
    finally:
        ctx.close()
    for message in fatal:  # wire messages already start with the remote's name
        app.output.error(message if message.startswith(f"{name}") else f"{name}: {message}")
    summary["connectors"][name] = {"ok": code == 0, "counts": dict(ctx.counts),
                                   "errors": fatal + ctx.problems, "exit_code": code}
    if ctx.result is not None:
        summary["connectors"][name]["result"] = ctx.result
    for problem in ctx.problems[:20]:
        app.output.warn(f"  {name}: {problem}")
    if len(ctx.problems) > 20:
        app.output.warn("  " + _("… and {count} more (see the log {file})").format(count=len(ctx.problems) - 20,
                                                                                   file=log_file))
    return code


def _print_summary(out: Output, command: str, summary: dict[str, Any]) -> None:
    for name, result in summary["connectors"].items():
        if not result["ok"] and not result["counts"]:
            continue  # its error line says it all: not "nothing to do"
        said = words.of_connector(name)  # the log's last line keeps the machine names (k=v)
        counts = words.counts_in_words(words.in_table_order(result["counts"], said), said) or _("nothing to do")
        out.info(_("{command} {connector}: {counts}").format(command=command, connector=name, counts=counts))


# -- the lock: one pass of a kind at a time ---------------------------------------
@contextmanager
def pass_lock(journal: Path, command: str) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock_dir = journal.parent / "locks"
    try:
        lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise JournalError(_("lock directory {folder} cannot be created: {why}").format(folder=lock_dir,
                                                                                       why=exc.strerror)) from None
    lock_path = lock_dir / f"{journal.stem}.{command}.lock"
    owner_path = lock_path.with_suffix(".owner")
    lock = FileLock(str(lock_path), timeout=0, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise TransientError(_("{command} is already running ({owner}); this run exits, the next one will go "
                               "on").format(command=command, owner=_owner(owner_path))) from None
    except OSError as exc:
        raise JournalError(_("lock {file} cannot be written: {why}").format(file=lock_path, why=exc.strerror)) from None
    try:
        with suppress(OSError):
            owner_path.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                              "since": stamp()}))
        yield
    finally:
        with suppress(OSError):
            owner_path.unlink()
        lock.release()


def _owner(owner_path: Path) -> str:
    try:
        owner = json.loads(owner_path.read_text())
        return _("pid {pid} on {host} since {since}").format(pid=owner["pid"], host=owner["host"],
                                                              since=owner["since"])
    except (OSError, ValueError, KeyError):
        return _("held by another process")


# -- the log: one file per pass, written only while its lock is held -----------
@contextmanager
def pass_log(log_dir: Path, command: str, quiet: bool = False) -> Iterator[dict[str, Any]]:
    """The run's log file; its last line carries the exit code, counts and reason (issue 17):
    the caller puts them in the dict it yields (`code`, `line`), else an error leaving says them.
    65, 69, 78 and any other failure end at ERROR, 75 at WARNING."""
    try:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = logging.handlers.RotatingFileHandler(log_dir / f"{command}.log", maxBytes=5_000_000,
                                                       backupCount=5, encoding="utf-8")
    except OSError as exc:
        raise JournalError(_("log directory {folder} cannot be written: {why}").format(folder=log_dir,
                                                                                      why=exc.strerror)) from None
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    from maorders import connectors

    roots = [logging.getLogger(name) for name in connectors.loggers()]
    for logger in roots:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    ending: dict[str, Any] = {"code": None, "line": ""}
    if not quiet:
        log.info("%s started (pid %d)", command, os.getpid())
    try:
        yield ending
    except MaordersError as exc:
        ending.update(code=exc.exit_code, line=f"{command} exit {exc.exit_code}; reason: {exc}")
        raise
    except Exception as exc:
        code = _stray_code(exc)
        ending.update(code=code, line=f"{command} exit {code}; reason: {_stray_message(exc)}")
        raise
    except BaseException:  # Ctrl+C, a signal
        ending.update(code=130, line=f"{command} exit 130; reason: interrupted")
        raise
    finally:
        if not quiet:
            code = ending["code"] if ending["code"] is not None else 0
            level = logging.INFO if code == 0 else logging.WARNING if code == errors.EXIT_TEMPFAIL else logging.ERROR
            log.log(level, "%s", ending["line"] or f"{command} exit {code}")
        for logger in roots:
            logger.removeHandler(handler)
        handler.close()


def guarded(app: AppState, action: Callable[[], int]) -> int:
    """Run an operator command with the same error handling as a pass (one line, exit code)."""
    try:
        with ExitStack() as stack:
            ending = _operator_log(app, stack)
            try:
                code = action()
            except MaordersError:
                raise
            except Exception:
                log.error("bug in an operator command", exc_info=True)
                raise
            ending.update(code=code, line=f"operator command exit {code}")
            return code
    except MaordersError as exc:
        code, message = exc.exit_code, str(exc)
    except Exception as exc:
        code, message = errors.EXIT_BUG, _internal(exc)
    app.output.error(message)
    if app.output.json_mode:
        app.output.emit_json({"exit_code": code, "error": message, "reason": message})
    return code


def _operator_log(app: AppState, stack: ExitStack) -> dict[str, Any]:
    """The operator log; a log folder that cannot be written does not stop a person's command
    (the journal keeps its audit row; `doctor` shows the folder as a row), nor does a settings
    file that cannot be read (the command itself says so; `doctor` lists its every bad line)."""
    try:
        basics = app.basics()
    except ConfigError:
        return {}
    if not basics.configured and not basics.journal.is_file():
        return {}  # nothing is configured: no folder is made just to say so
    folder = basics.log_dir
    try:
        return stack.enter_context(pass_log(folder, "operator"))
    except JournalError as exc:
        app.output.warn(_("{problem}: going on without the operator log").format(problem=exc))
        return {}
