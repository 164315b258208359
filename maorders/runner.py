"""One pass: settings, lock, log, journal, run record, exit code, summary.

The CLI names a pass; this module runs it for every configured connector that
takes part, and turns whatever happens into one exit code (CONTRACT.md) and one
summary (a table for people, one JSON object with --json).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import socket
import tempfile
from collections import Counter
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from maorders import errors
from maorders.clock import stamp
from maorders.errors import ConfigError, JournalError, MaordersError, TransientError, UsageError
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

    def open_journal(self, connector_names: list[str] | None = None) -> "Journal":
        """The journal with every connector's tables, or only those of the connectors named."""
        from maorders import connectors
        from maorders.journal import Journal

        general = self.settings().general
        journal = Journal.open(general.journal, connectors.migrations(connector_names), general.busy_timeout)
        journal.alert_level = general.alert_level if general.alert_urls else None
        return journal


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
        code = errors.EXIT_BUG
        summary["error"] = f"internal error: {type(exc).__name__}: {exc}"
        log_bug(app, command)
        app.output.error(summary["error"] + " (traceback in the log)")
    summary["exit_code"] = code
    summary["finished_at"] = stamp()
    if not summary.pop("_ended", False) and app._settings is not None:
        from maorders import operations  # a pass that never reached its lock still pings its exit

        operations.pass_ended(app._settings, None, command, code, summary)
    if app.output.json_mode:
        app.output.emit_json(summary)
    return code


def _run(app: AppState, command: str, only: list[str] | None, options: dict[str, Any],
         summary: dict[str, Any]) -> int:
    from maorders import connectors, operations
    from maorders.http import Budget

    settings = app.settings()
    names = _connectors_for(settings, command, only, connectors.taking_part(command))
    general = settings.general
    run_name = _lock_name(command, names, options)
    with pass_lock(general.journal, run_name), pass_log(general.log_dir, run_name):
        budget = Budget(general.pass_budget)  # one for the whole pass, shared by its connectors
        operations.pass_started(settings, command)
        journal = app.open_journal(names)
        journal.budget = budget
        try:
            run_id = journal.start_run(run_name, any(_says(names, command, "attended", options)))
            codes = [_run_connector(app, journal, command, name, options, summary, budget) for name in names]
            code = min(codes, key=SEVERITY.index) if codes else 0
            journal.finish_run(run_id, code, summary["connectors"])
            if all(_says(names, command, "alerts", options)):
                operations.deliver_alerts(settings, journal, summary)
            summary["exit_code"], summary["finished_at"] = code, stamp()
            _pass_ended(app, journal, command, code, summary)
        finally:
            journal.close()
    _print_summary(app.output, command, summary)
    return code


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
    from maorders.settings import site_data_dir

    general = app._settings.general if app._settings is not None else None
    for folder in ([general.log_dir] if general else []) + [site_data_dir() / "logs", Path(tempfile.gettempdir())]:
        try:
            with pass_log(folder, "errors"):
                log.error("bug in %s", where, exc_info=True)
            return
        except MaordersError:
            continue


def _connectors_for(settings: Settings, command: str, only: list[str] | None,
                    taking_part: list[str]) -> list[str]:
    if only:
        unknown = [name for name in only if name not in taking_part]
        if unknown:
            raise UsageError(f"--only {','.join(unknown)}: no such connector for {command} "
                              f"(choose from {', '.join(taking_part)})")
        missing = [name for name in only if name not in settings.configured()]
        if missing:
            raise ConfigError(f"--only {missing[0]}: that connector is not configured")
        return only
    names = [name for name in taking_part if name in settings.configured()]
    if not names:
        from maorders import connectors

        wanted = " or ".join(connectors.get(n).switched_on_by[0] for n in taking_part) or "a connector"
        raise ConfigError(f"no connector is configured for {command}: set {wanted}")
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
                   options: dict[str, Any], summary: dict[str, Any], budget: Any) -> int:
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
        code = errors.EXIT_BUG
        fatal.append(f"internal error: {type(exc).__name__}: {exc} (traceback in the log)")
        log.error("bug in %s %s", name, command, exc_info=True)
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
        app.output.warn(f"  … and {len(ctx.problems) - 20} more (see the log)")
    return code


def _print_summary(out: Output, command: str, summary: dict[str, Any]) -> None:
    for name, result in summary["connectors"].items():
        counts = " ".join(f"{k}={v}" for k, v in sorted(result["counts"].items())) or "nothing to do"
        out.info(f"{command} {name}: {counts}")


# -- the lock: one pass of a kind at a time ---------------------------------------
@contextmanager
def pass_lock(journal: Path, command: str) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock_dir = journal.parent / "locks"
    try:
        lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise JournalError(f"lock directory {lock_dir} cannot be created: {exc.strerror}") from None
    lock_path = lock_dir / f"{journal.stem}.{command}.lock"
    owner_path = lock_path.with_suffix(".owner")
    lock = FileLock(str(lock_path), timeout=0, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise TransientError(f"{command} is already running ({_owner(owner_path)}); "
                             "this run exits, the next one will go on") from None
    except OSError as exc:
        raise JournalError(f"lock {lock_path} cannot be written: {exc.strerror}") from None
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
        return f"pid {owner['pid']} on {owner['host']} since {owner['since']}"
    except (OSError, ValueError, KeyError):
        return "held by another process"


# -- the log: one file per pass, written only while its lock is held -----------
@contextmanager
def pass_log(log_dir: Path, command: str) -> Iterator[None]:
    try:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = logging.handlers.RotatingFileHandler(log_dir / f"{command}.log", maxBytes=5_000_000,
                                                       backupCount=5, encoding="utf-8")
    except OSError as exc:
        raise JournalError(f"log directory {log_dir} cannot be written: {exc.strerror}") from None
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    from maorders import connectors

    roots = [logging.getLogger(name) for name in connectors.loggers()]
    for logger in roots:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    log.info("%s started (pid %d)", command, os.getpid())
    try:
        yield
    finally:
        log.info("%s finished", command)
        for logger in roots:
            logger.removeHandler(handler)
        handler.close()


def guarded(app: AppState, action: Callable[[], int]) -> int:
    """Run an operator command with the same error handling as a pass (one line, exit code)."""
    try:
        with pass_log(app.settings().general.log_dir, "operator"):
            try:
                return action()
            except MaordersError:
                raise
            except Exception:
                log.error("bug in an operator command", exc_info=True)
                raise
    except MaordersError as exc:
        code, message = exc.exit_code, str(exc)
    except Exception as exc:
        code, message = errors.EXIT_BUG, f"internal error: {type(exc).__name__}: {exc} (traceback in the log)"
    app.output.error(message)
    if app.output.json_mode:
        app.output.emit_json({"exit_code": code, "error": message})
    return code
