"""What a pass tells the people who run it, beyond its exit code (issue 9).

The runner calls these three; none of them may raise or slow a pass noticeably, so each
catches everything, logs it (redacted) and returns:
- `pass_started(settings, command)`: the health ping's `/start`;
- `deliver_alerts(settings, journal, summary)`: send the queued staff alerts (outbox
  `maorders`/`alert`, queued by `Journal.notify` in the notification's transaction);
- `pass_ended(settings, journal_or_None, command, exit_code, summary)`: the health ping
  with the exit code, and the Prometheus textfile.

`doctor_checks(settings)` adds what `maorders doctor` says about these and about who may
read the settings file and the journal.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from maorders.i18n import _
from maorders.redact import redact, register_secret

if TYPE_CHECKING:
    from maorders.journal import Journal
    from maorders.settings import Settings

log = logging.getLogger("maorders.operations")

PING_CONNECT_S = 1.5  # connect + read: a health ping never costs a pass more than 3 s
PING_READ_S = 1.5
PING_BODY_LIMIT = 2000  # characters of the run's one-line summary sent with the end ping
_run_ids: dict[str, str] = {}  # command -> healthchecks `rid`, pairing /start with its end


# -- the runner's hooks --------------------------------------------------------------------------
def pass_started(settings: "Settings", command: str) -> None:
    try:
        url = settings.general.healthcheck_url
        if url:
            _run_ids[command] = str(uuid.uuid4())
            ping(url, command, "start", run_id=_run_ids[command])
    except Exception:  # noqa: BLE001 - monitoring never fails a pass
        log.warning("health ping (start) failed", exc_info=True)


def deliver_alerts(settings: "Settings", journal: "Journal", summary: dict[str, Any]) -> None:
    try:
        urls = settings.general.alert_urls
        if not urls:
            return
        from maorders import alerts

        counts = alerts.deliver(journal, urls)
        if any(counts.values()):
            summary["alerts"] = counts
            log.info("alerts: %s", " ".join(f"{k}={v}" for k, v in counts.items()))
    except Exception:  # noqa: BLE001 - a channel or a bug here never fails the pass
        log.warning("staff alerts not delivered this pass", exc_info=True)


def pass_ended(settings: "Settings", journal: "Journal | None", command: str, code: int,
               summary: dict[str, Any]) -> None:
    general = settings.general
    if general.healthcheck_url:
        try:
            ping(general.healthcheck_url, command, str(code), run_id=_run_ids.pop(command, None),
                 body=_one_line(command, code, summary))
        except Exception:  # noqa: BLE001
            log.warning("health ping (end) failed", exc_info=True)
    if general.metrics_file:
        try:
            write_metrics(settings, journal, command, code, summary)
        except Exception:  # noqa: BLE001
            log.warning("metrics file %s not written", general.metrics_file, exc_info=True)


# -- health pings (healthchecks.io style) ------------------------------------------------------------
def ping_url(base: str, command: str, suffix: str, run_id: str | None = None) -> str:
    """`base/suffix`: `{pass}` in the base becomes the pass's name (one check per pass, e.g.
    https://hc-ping.com/PING_KEY/{pass}); `rid` pairs a start with its end."""
    parts = urlsplit(base.replace("{pass}", command))
    query = "&".join(q for q in (parts.query, f"rid={run_id}" if run_id else "") if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/" + suffix, query, ""))


def ping(base: str, command: str, suffix: str, run_id: str | None = None, body: str = "") -> int | None:
    """One POST; its answer is not checked beyond logging. Returns the HTTP status."""
    import requests

    register_secret(base)  # the ping key is the check's password
    register_secret(urlsplit(base).path.strip("/").split("/")[0] or None)
    try:
        answer = requests.post(ping_url(base, command, suffix, run_id), data=body.encode("utf-8"),
                               timeout=(PING_CONNECT_S, PING_READ_S),
                               headers={"Content-Type": "text/plain; charset=utf-8"})
    except requests.RequestException as exc:
        log.warning("health ping /%s not delivered: %s", suffix, redact(type(exc).__name__))
        return None
    if answer.status_code >= 400:
        log.warning("health ping /%s answered %s", suffix, answer.status_code)
    return answer.status_code


def _one_line(command: str, code: int, summary: dict[str, Any]) -> str:
    """The run's line, the reason first when it failed (the check's page shows the body)."""
    return redact(last_line(command, code, summary))[:PING_BODY_LIMIT]


def last_line(command: str, code: int, summary: dict[str, Any]) -> str:
    """The run's last log line and the health ping's body: exit code, reason, counts."""
    parts = [f"{command} exit {code}"] + ([f"reason: {reason_of(summary, code)}"] if code else [])
    for name, result in summary.get("connectors", {}).items():
        counts = " ".join(f"{k}={v}" for k, v in sorted(result.get("counts", {}).items()))
        parts.append(f"{name}: " + (counts or ("nothing to do" if not result.get("exit_code")
                                               else f"exit {result['exit_code']}")))
    return "; ".join(parts)


def reason_of(summary: dict[str, Any], code: int) -> str:
    """One line for scripts and orchestrators: why this run exited `code`."""
    if summary.get("error"):
        return str(summary["error"])
    for name, result in summary.get("connectors", {}).items():
        if result.get("exit_code") == code and result.get("errors"):
            first = str(result["errors"][0])  # wire messages already start with the remote's name
            return first if first.startswith(f"{name}") else f"{name}: {first}"
    return f"exit {code}"


# -- metrics ------------------------------------------------------------------------------------------
def write_metrics(settings: "Settings", journal: "Journal | None", command: str, code: int,
                  summary: dict[str, Any]) -> None:
    from maorders import connectors, metrics
    from maorders.journal import ALERT

    conn, own = (journal.db, False) if journal is not None else (_read_only(settings.general.journal), True)
    try:
        metrics.write(settings.general.metrics_file, conn, command, code, summary,
                      connectors.commands(), [*connectors.registered(), ALERT[0]], in_journal=journal is not None,
                      journal=str(settings.general.journal))
    finally:
        if own and conn is not None:
            conn.close()


def _read_only(path: Path) -> Any:
    from maorders import metrics

    if not path.is_file():
        return None
    try:
        return metrics.read_only(path)
    except Exception:  # noqa: BLE001 - metrics of this pass alone, then
        return None


# -- doctor --------------------------------------------------------------------------------------------
def doctor_checks(settings: "Settings | None", env_file: Path | None = None,
                  basics: Any = None) -> list[dict[str, Any]]:
    """Log folder writable, alert URLs usable, desktop pop-ups possible, metrics folder writable,
    settings file and journal not readable by others. `settings` None: they are incomplete, and
    `basics` (journal, log folder, alert URLs as written) says what can still be checked."""
    checks: list[dict[str, Any]] = [log_folder_check(basics.log_dir)] if basics is not None else []
    urls = settings.general.alert_urls if settings is not None else (basics.alert_urls if basics else ())
    if urls:
        checks += _alert_url_checks(urls)
    checks.append(_watch_check())
    metrics_file = settings.general.metrics_file if settings is not None else None
    if metrics_file:
        folder = metrics_file.parent
        writable = folder.is_dir() and os.access(folder, os.W_OK)
        checks.append({"check": "metrics file", "ok": writable, "exit_code": 73,
                       "detail": str(metrics_file) if writable
                       else _("{file}: its folder cannot be written").format(file=metrics_file)})
    settings_file = env_file or _default_env_file()
    journal = settings.general.journal if settings is not None else (basics.journal if basics else None)
    for what, path in (("settings file", settings_file), ("journal", journal)):
        if path is not None and path.exists():
            checks.append(_privacy_check(what, path))
    return checks


def log_folder_check(folder: Path) -> dict[str, Any]:
    """Every pass writes its log there: a folder it cannot write stops every pass with 73. Tried
    for real (a temporary file), as root passes every permission test on paper."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return {"check": "log folder", "ok": False, "exit_code": 73,
                "detail": _("{folder}: cannot be written ({why}); every pass would exit 73").format(
                    folder=folder, why=exc.strerror or type(exc).__name__)}
    return {"check": "log folder", "ok": True, "detail": str(folder)}


def desk_check(values: dict[str, str], timeout: float = 1.0) -> dict[str, Any]:
    """Whether the staff desk answers on MAORDERS_DESK_PORT (default 8765): a warning when it does
    not (it is started at log-on; the passes do not need it). A real HTTP request, as a browser's."""
    import http.client

    from maorders.desk import DEFAULT_PORT

    raw_port = (values.get("MAORDERS_DESK_PORT") or "").strip() or str(DEFAULT_PORT)
    host = (values.get("MAORDERS_DESK_HOST") or "").strip() or "127.0.0.1"
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "localhost") else host  # every address: this one too
    try:
        port = int(raw_port)
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.request("GET", "/", headers={"Accept": "text/html"})
            status = connection.getresponse().status
        finally:
            connection.close()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return {"check": "staff desk", "ok": False, "warning": True, "exit_code": 69,
                "detail": _("nothing answers at http://{host}:{port} ({why}); start it with `maorders desk` "
                            "(it is started at log-on: docs/operations.md)").format(
                                host=host, port=raw_port, why=redact(getattr(exc, "strerror", None) or str(exc)
                                                                     or type(exc).__name__))}
    return {"check": "staff desk", "ok": status < 500, "warning": True, "exit_code": 69,
            "detail": _("http://{host}:{port} answers (HTTP {status})").format(host=host, port=port, status=status)}


def _watch_check() -> dict[str, Any]:
    """Whether `maorders watch` can show pop-ups here (a warning: the passes do not need it)."""
    try:
        from maorders import watch

        target = watch.default_target()
        why = watch.unusable(target)
    except Exception as exc:  # noqa: BLE001
        why, target = redact(f"{type(exc).__name__}: {exc}"), "?"
    if why is None:
        return {"check": "desktop pop-ups", "ok": True, "detail": _("{target}: usable by `maorders watch`").format(
            target=target)}
    return {"check": "desktop pop-ups", "ok": False, "warning": True, "exit_code": 69,
            "detail": why + _(" (`maorders watch --target` takes any other Apprise URL)")}


def _alert_url_checks(urls: tuple[str, ...]) -> list[dict[str, Any]]:
    try:
        from maorders import alerts

        found = alerts.channels(urls)
    except Exception as exc:  # noqa: BLE001
        return [{"check": "alerts", "ok": False, "exit_code": 78, "detail": redact(f"{type(exc).__name__}: {exc}")}]
    return [{"check": f"alerts {c.label}", "title": _("alerts {channel}").format(channel=c.label),
             "ok": c.server is not None, "exit_code": 78,
             "detail": _("usable (maorders alerts test sends a test message)") if c.server else c.problem}
            for c in found]


def _default_env_file() -> Path | None:
    from maorders.places import site_config_dir

    named = os.environ.get("MAORDERS_ENV_FILE")
    return Path(named) if named else site_config_dir() / "maorders.env"


def readable_by_others(path: Path) -> bool:
    """POSIX: the 'other' read bit (a group the owner chose may read, see docs/operations.md)."""
    return bool(path.stat().st_mode & stat.S_IROTH)


def _privacy_check(what: str, path: Path) -> dict[str, Any]:
    if sys.platform == "win32":  # mode bits say nothing there: the installer's ACL does
        return {"check": f"{what} access", "ok": True,
                "detail": _("{path}: see the installer's ACL (icacls)").format(path=path)}
    try:
        exposed = readable_by_others(path)
    except OSError as exc:
        return {"check": f"{what} access", "ok": False, "exit_code": 73, "detail": f"{path}: {exc.strerror}"}
    hint = f"chmod o-rwx {path}" + (_(" and its -wal/-shm files") if what == "journal" else "")
    return {"check": f"{what} access", "ok": not exposed, "exit_code": 78, "warning": True,
            "detail": (_("{path}: readable by every user of this machine; {hint}") if exposed
                       else _("{path}: not readable by other users")).format(path=path, hint=hint)}
