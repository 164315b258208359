"""`status` and `doctor`: what needs a person, and whether everything is reachable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from maorders import failures, words
from maorders.clock import stamp
from maorders.i18n import _, ngettext, word
from maorders.journal import Journal
from maorders.output import Output
from maorders.errors import ConfigError
from maorders.runner import AppState
from maorders.settings import Env


def snapshot(journal: Journal) -> dict[str, Any]:
    """Counts a person or a monitoring script looks at."""
    outbox = journal.rows("""SELECT connector, kind, state, COUNT(*) AS n FROM outbox
                             WHERE state IN ('pending', 'retry', 'unknown', 'failed')
                             GROUP BY connector, kind, state ORDER BY connector, kind, state""")
    runs = journal.rows("""SELECT command, MAX(id) AS id FROM runs GROUP BY command""")
    last_runs = [_running(journal, journal.one("""SELECT command, started_at, finished_at, exit_code, attended
                                                  FROM runs WHERE id = ?""", (r["id"],))) for r in runs]
    failed = journal.rows("""SELECT connector, kind, business_key, last_error FROM outbox
                             WHERE state = 'failed' ORDER BY id DESC LIMIT 20""")
    return {
        "outbox": outbox,
        "failed": failed,
        "notifications": [{k: n[k] for k in ("id", "connector", "subject", "kind", "message", "created_at")}
                          for n in journal.notifications(limit=20)],
        "last_runs": last_runs,
        "cursors": journal.rows("SELECT connector, feed, value, updated_at FROM cursors ORDER BY connector, feed"),
        "connectors": _connector_views(journal),
        "activity": recent_activity(journal),
        "failing": [{k: f[k] for k in ("scope", "command", "exit_code", "reason", "since", "last_at",
                                       "acknowledged_at")} for f in failures.open_failures(journal)],
    }


def _running(journal: Journal, run: dict[str, Any] | None) -> dict[str, Any] | None:
    """An unfinished run: running now (its lock's owner file is there) or stopped half-way (killed)."""
    if run is None or run["finished_at"] is not None:
        return run
    owner = journal.path.parent / "locks" / f"{journal.path.stem}.{run['command']}.owner"
    return {**run, "running": _alive(owner)}


def _alive(owner: Path) -> bool:
    """The pass holding the lock (its owner file: pid and host) still runs. A SIGKILL leaves the file."""
    import json
    import os
    import socket
    import sys

    try:
        held = json.loads(owner.read_text())
    except (OSError, ValueError):
        return False
    if sys.platform == "win32" or held.get("host") != socket.gethostname():
        return True  # no cheap safe probe there: the file says it runs
    try:
        os.kill(int(held["pid"]), 0)
    except ProcessLookupError:
        return False
    except (OSError, KeyError, TypeError, ValueError):
        return True
    return True


def recent_activity(journal: Journal, limit: int = 15) -> list[dict[str, Any]]:
    """Passes run and what people did by hand (the audit), newest first."""
    runs = journal.rows("""SELECT started_at AS at, NULL AS user, command AS action, '' AS arguments,
                                  exit_code FROM runs ORDER BY id DESC LIMIT ?""", (limit,))
    try:
        done = journal.rows("SELECT at, user, action, arguments, exit_code FROM audit ORDER BY id DESC LIMIT ?",
                            (limit,))
    except Exception:  # noqa: BLE001 - a journal without the audit table yet
        done = []
    return sorted(runs + done, key=lambda row: row["at"] or "", reverse=True)[:limit]


def _connector_views(journal: Journal) -> dict[str, Any]:
    from maorders import connectors
    from maorders.connector import load

    shown = getattr(journal, "configured", None)  # set by AppState.open_journal; None: every connector
    return {name: load(connector.status)(journal) for name, connector in connectors.registered().items()
            if connector.status and (shown is None or name in shown)}


def needs_person(snap: dict[str, Any]) -> list[str]:
    count = len(snap["failed"])
    reasons = [ngettext("{count} send refused for good", "{count} sends refused for good", count)
               .format(count=count)] if count else []
    # a pass whose last run failed, whatever its code, until it succeeds or a person acknowledges it
    # (a cashier's own 65 at the till is not recorded as a failure: it was seen at once)
    reasons += list(dict.fromkeys(_("last {command} exited {code}").format(command=f["command"], code=f["exit_code"])
                                  for f in snap["failing"] if not f["acknowledged_at"]))
    for view in snap["connectors"].values():
        reasons += view.get("attention", [])
    return reasons


def acknowledge(journal: Journal, notification_ids: Any = None) -> int:
    """A person has seen the refused sends and the notifications: --check goes quiet about them.

    With `notification_ids` (the desk's "done" on one item) only those notifications are marked
    seen, and the refused sends and failing passes are left as they are; returns how many refused
    sends were dismissed (0 then)."""
    if notification_ids is not None:
        ids = [int(i) for i in notification_ids]
        with journal.write() as db:
            db.executemany("UPDATE notifications SET seen_at = ? WHERE id = ? AND seen_at IS NULL",
                           [(stamp(), i) for i in ids])
        return 0
    with journal.write() as db:
        dismissed = db.execute("UPDATE outbox SET state = 'dismissed' WHERE state = 'failed'").rowcount
        db.execute("UPDATE notifications SET seen_at = ? WHERE seen_at IS NULL", (stamp(),))
        failures.acknowledge(db)
    return dismissed


def show_status(journal: Journal, out: Output, check: bool, ack: bool = False) -> int:
    if ack:
        dismissed = acknowledge(journal)
        out.info(ngettext("acknowledged {count} refused send and every notification",
                          "acknowledged {count} refused sends and every notification", dismissed)
                 .format(count=dismissed))
    snap = snapshot(journal)
    reasons = needs_person(snap)
    code = 1 if check and reasons else 0
    if out.json_mode:
        out.emit_json({"command": "status", "exit_code": code, "needs_attention": reasons, **snap,
                       **({"reason": "; ".join(reasons)} if code else {})})
        return code
    out.table(_("Outbox"), [_("connector"), _("kind"), _("state"), _("count")],
              [(r["connector"], word(words.of_connector(r["connector"]), r["kind"]), words.outbox_state(r["state"]),
                r["n"]) for r in snap["outbox"]])
    out.table(_("Last runs"), [_("command"), _("started"), _("finished"), _("exit")],
              [(r["command"], r["started_at"], r["finished_at"] or (_("running") if r.get("running") else
                                                                    _("stopped half-way")),
                r["exit_code"]) for r in snap["last_runs"] if r])
    for name, view in snap["connectors"].items():
        said = words.of_connector(name)
        out.table(name, [_("what"), _("count")],
                  [(word(said, k), n) for k, n in words.in_table_order(view["counts"], said).items()])
    if snap["failing"]:
        out.table(_("Failing passes"), [_("pass"), _("where"), _("exit"), _("since"), _("reason"),
                                             _("acknowledged")],
                  [(f["command"], f["scope"], f["exit_code"], f["since"], f["reason"], f["acknowledged_at"] or "")
                   for f in snap["failing"]])
    out.table(_("Recent activity"), [_("when"), _("who"), _("what"), _("arguments"), _("exit")],
              [(a["at"], _(words.A_PASS) if a["user"] is None else a["user"], a["action"], a["arguments"], "" if a["exit_code"] is None else a["exit_code"])
               for a in snap["activity"]])
    if snap["failed"]:
        out.table(_("Refused for good"), [_("connector"), _("kind"), _("key"), _("error")],
                  [(f["connector"], word(words.of_connector(f["connector"]), f["kind"]), f["business_key"],
                    f["last_error"]) for f in snap["failed"]])
    if snap["notifications"]:
        out.table(_("Notifications"), [_("when"), _("connector"), _("message")],
                  [(n["created_at"], n["connector"], n["message"]) for n in snap["notifications"]])
    for reason in reasons:
        out.warn(_("needs attention: {reason}").format(reason=reason))
    if not reasons:
        out.info(_("nothing needs a person"))
    return code


def doctor(app: AppState) -> int:
    """Settings, journal, log folder, alerts, pop-ups, and a real call to every configured service:
    every check in one table, even when settings are missing (one row per variable)."""
    from maorders import operations, tillservice

    out = app.output
    settings, checks = settings_checks(app)
    if not any(c["check"].startswith("settings file") for c in checks):  # else no value can be read
        basics = app.basics() if settings is not None else _basics(app)
        checks += operations.doctor_checks(settings, app.env_file, basics)
        checks.append(operations.desk_check(app.raw_values()))
        if settings is not None:
            checks += tillservice.doctor_checks(settings.configured())
        checks += _journal_checks(app, basics)
        checks += _probes(settings)
    return _report(out, checks)


def _report(out: Output, checks: list[dict[str, Any]]) -> int:
    # a check marked "warning" (who may read a file) is shown, but does not fail the doctor
    failed = [c.get("exit_code", 69) for c in checks if not c["ok"] and not c.get("warning")]
    code = max(failed) if failed else 0
    if out.json_mode:
        out.emit_json({"command": "doctor", "exit_code": code, "checks": [_shown(c) for c in checks],
                       **({"reason": next(c["detail"] for c in checks if not c["ok"] and not c.get("warning")
                                          and c.get("exit_code", 69) == code)} if code else {})})
    else:
        out.table(_("Doctor"), [_("check"), _("ok"), _("detail")],
                  [(_title(c), _("WARN") if not c["ok"] and c.get("warning") else bool(c["ok"]), c["detail"])
                   for c in checks])
    return code


def _shown(check: dict[str, Any]) -> dict[str, Any]:
    """A passing check carries no exit code (it would read as the code it exits with)."""
    return {k: v for k, v in check.items()
            if k not in ("variable", "title") and not (k == "exit_code" and check["ok"])}


def _title(check: dict[str, Any]) -> str:
    """A check's name for people: its own title, else its name in the kernel's or a connector's words
    (a service's own name stays as it is)."""
    from maorders import connectors

    if check.get("title"):
        return check["title"]
    for name in connectors.registered():
        said = words.of_connector(name)
        if check["check"] in said:
            return word(said, check["check"])
    return word(words.DOCTOR_CHECKS, check["check"])


def settings_checks(app: AppState) -> tuple[Any, list[dict[str, Any]]]:
    """(the settings or None, their rows): each missing or wrong variable its own row."""
    try:
        settings = app.settings()
    except ConfigError as exc:
        rows = variable_rows(app)
        if not any(row["variable"] in str(exc) for row in rows):
            rows.insert(0, {"check": "settings", "ok": False, "exit_code": 78, "detail": str(exc), "variable": ""})
        return None, rows
    return settings, [{"check": "settings", "ok": True,
                       "detail": _("configured: {names}").format(names=", ".join(settings.configured()) or _("none"))}]


def variable_rows(app: AppState) -> list[dict[str, Any]]:
    """Every connector's settings read with an Env that notes each error and goes on."""
    from maorders import connectors
    from maorders.settings import read_values

    try:
        values = read_values(app.env_file)
    except ConfigError as exc:
        return unparsed_rows(app) or [{"check": "settings file", "ok": False, "exit_code": 78, "detail": str(exc),
                                       "variable": ""}]
    rows: list[dict[str, Any]] = []
    for name, connector in connectors.registered().items():
        env = NotingEnv(values)
        try:
            connector.read_settings(env)
        except ConfigError as exc:  # a rule across settings, after each one was read
            env.noted.setdefault(str(exc).split()[0], str(exc))
        rows += [{"check": f"setting {variable}", "title": _("setting {variable}").format(variable=variable),
                  "ok": False, "exit_code": 78, "detail": f"{name}: {message}",
                  "variable": variable} for variable, message in env.noted.items()]
    return rows


def unparsed_rows(app: AppState) -> list[dict[str, Any]]:
    """One row per line of the settings file python-dotenv cannot parse (a pass stops at the
    first; the technician fixes them all at once). The line's text is never shown: it may hold a secret."""
    import os

    from maorders.places import site_config_dir
    from maorders.settings import unparsed_lines

    path = app.env_file or Path(os.environ.get("MAORDERS_ENV_FILE") or site_config_dir() / "maorders.env")
    try:
        lines = unparsed_lines(path)
    except ConfigError:
        return []  # unreadable: the settings file's own row says why
    return [{"check": f"settings file, line {line}", "title": _("settings file, line {line}").format(line=line),
             "ok": False, "exit_code": 78,
             "detail": _("{path}, line {line}: not a KEY=value line").format(path=path, line=line),
             "variable": ""} for line in lines]


def _noting(method: Any, fallback: Any) -> Any:
    def read(self: "NotingEnv", name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, name, *args, **kwargs)
        except ConfigError as exc:
            self.noted.setdefault(name, str(exc))
            return fallback(args, kwargs)
    return read


def _default(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return kwargs.get("default", args[0] if args else None)


class NotingEnv(Env):
    """An Env that notes each missing or wrong variable and answers with a stand-in, so that one
    doctor run names them all."""

    def __init__(self, values: Any):
        super().__init__(values)
        self.noted: dict[str, str] = {}

    text = _noting(Env.text, lambda a, k: _default(a, k) or "missing")
    url = _noting(Env.url, lambda a, k: "http://missing.invalid")
    number = _noting(Env.number, _default)
    integer = _noting(Env.integer, _default)
    choice = _noting(Env.choice, _default)
    flag = _noting(Env.flag, _default)
    mapping = _noting(Env.mapping, lambda a, k: {})


def _basics(app: AppState) -> Any:
    from maorders.runner import Basics

    return Basics.of(app.raw_values(), app.journal_path)


def _journal_checks(app: AppState, basics: Any) -> list[dict[str, Any]]:
    from maorders.errors import MaordersError

    if not basics.journal.is_file() and not basics.configured:
        return [{"check": "journal", "ok": False, "exit_code": 78,
                 "detail": _("{path}: none yet, and nothing is configured").format(path=basics.journal)}]
    try:
        journal = app.open_journal()
    except MaordersError as exc:
        return [{"check": "journal", "ok": False, "exit_code": exc.exit_code, "detail": str(exc)}]
    try:
        return [{"check": "journal", "ok": journal.value("PRAGMA integrity_check") == "ok",
                 "exit_code": 73, "detail": f"{basics.journal} ({journal.value('PRAGMA journal_mode')})"}]
    finally:
        journal.close()


def _probes(settings: Any) -> list[dict[str, Any]]:
    """A real call to every configured service (only with the settings whole)."""
    from maorders import connectors
    from maorders.connector import load
    from maorders.http import Budget

    if settings is None:
        return [{"check": "services", "ok": False, "exit_code": 78,
                 "detail": _("not called: the settings above are incomplete")}]
    checks: list[dict[str, Any]] = []
    for name in settings.configured():
        probe = connectors.get(name).doctor
        if probe:
            checks += load(probe)(settings, Budget(min(60.0, settings.general.pass_budget)))
    return checks
