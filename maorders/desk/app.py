"""The desk's web app (Flask): routes, the journal per request, actions with the CLI's rules.

Each request opens the journal and closes it: reads go on while a pass writes (WAL); an
action's write waits at most `ACTION_WAIT` seconds for another program's lock, then the
person reads "try again in a minute". Actions run one at a time, each with one audit line
(who, what, the outcome) in the operator log, as the CLI's operator commands log there.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

from flask import Flask, abort, g, flash, get_flashed_messages, redirect, render_template, request, session, url_for
from markupsafe import Markup

from maorders.desk import Act, Pages, View, safety, shown
from maorders.desk.output import CapturingOutput
from maorders.errors import MaordersError, TransientError
from maorders.i18n import _, local_time, money, ngettext

log = logging.getLogger("maorders.desk")
ACTION_WAIT = 5.0  # seconds an action waits for the journal or for another action
FLASH_CHARS = 600
HERE = Path(__file__).parent


class Desk:
    """The configured connectors' pages, and how to open the journal for one request."""

    def __init__(self, app_state: Any, password_hash: str | None, loopback_only: bool, poll_seconds: float = 3.0):
        from maorders import connectors
        from maorders.connector import load

        self.app_state = app_state
        self.settings = app_state.settings()
        self.password_hash = password_hash
        self.loopback_only = loopback_only
        self.poll_seconds = poll_seconds
        configured = self.settings.configured()
        self.pages: dict[str, Pages] = {name: load(c.desk) for name, c in connectors.registered().items()
                                        if c.desk and name in configured}
        self.action_lock = threading.Lock()
        self.sign_in_guard = safety.SignInGuard()
        self.os_user = _os_user()

    def open_journal(self, busy_seconds: float | None = None) -> Any:
        from maorders import connectors
        from maorders.journal import Journal

        general = self.settings.general
        wait = general.busy_timeout if busy_seconds is None else min(general.busy_timeout, busy_seconds)
        journal = Journal.open(general.journal, connectors.migrations(), wait)
        journal.alert_level = general.alert_level if general.alert_urls else None  # as AppState.open_journal
        return journal

    def menu(self) -> list[tuple[str, str]]:
        return [(url_for("page", connector=name, slug=page.slug), _(page.title))
                for name, pages in self.pages.items() for page in pages.pages]

    def page(self, connector: str, slug: str) -> Any:
        pages = self.pages.get(connector)
        found = next((p for p in pages.pages if p.slug == slug), None) if pages else None
        if found is None:
            abort(404)
        return found

    def user(self) -> str:
        return session.get("user") or self.os_user


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in the environment (a service account): still one audit line
        return "unknown"


def create_app(desk: Desk) -> Flask:
    app = Flask(__name__, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    app.secret_key = os.urandom(32)  # sessions end when the desk restarts
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_NAME="maorders_desk", MAX_CONTENT_LENGTH=64 * 1024)
    app.jinja_env.globals.update(_=_, ngettext=ngettext, desk=desk, csrf=lambda: safety.csrf_token(session),
                                 page_url=_page_url, shown=shown)
    app.jinja_env.filters.update(local_time=local_time, money=money)
    app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True
    app.jinja_env.autoescape = True  # every remote's text is escaped, templates or not
    app.extensions["desk"] = desk

    @app.before_request
    def guard() -> Any:
        g.started = time.perf_counter()
        if not safety.host_allowed(request.host, desk.loopback_only):
            abort(400)
        if request.endpoint == "static":
            return None
        if request.method == "POST" and not safety.csrf_ok(session, request.form.get("csrf")
                                                            or request.headers.get("X-CSRF-Token")):
            return _refused(_("The form is out of date (its security token does not match): reload the page "
                              "and try again."))
        if desk.password_hash and not session.get("user") and request.endpoint not in ("signin",):
            if request.headers.get("HX-Request"):  # the polled list: the whole page goes to sign-in
                return "", 200, {"HX-Redirect": url_for("signin")}
            return redirect(url_for("signin", next=request.full_path if request.method == "GET" else "/"))
        return None

    @app.after_request
    def headers(response: Any) -> Any:
        if "started" in g:  # the server's own time, for the browser's tools and scripts/bench_desk.py
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - g.started) * 1000:.1f}"
        for name, value in safety.SECURITY_HEADERS.items():
            if name != "Cache-Control" or request.endpoint != "static":
                response.headers.setdefault(name, value)
        return response

    @app.errorhandler(Exception)
    def bug(exc: Exception) -> Any:
        """A bug: one line for the person, the traceback (redacted) in the log, as the CLI does."""
        from werkzeug.exceptions import HTTPException

        if isinstance(exc, HTTPException):
            return exc
        from maorders.runner import log_bug

        log_bug(desk.app_state, f"desk {request.path}")
        return render_template("message.html", title=_("Internal error"),
                               message=_("Internal error: {kind} (the traceback is in the log).").format(
                                   kind=type(exc).__name__)), 500

    return app  # its pages: maorders.desk.routes.register (routes import this module, never the reverse)


def _refused(message: str) -> Any:
    return render_template("message.html", title=_("Refused"), message=message), 403


def _page_url(connector: str, slug: str, **args: Any) -> str:
    query = urlencode({k: v for k, v in args.items() if v not in (None, "")})
    return url_for("page", connector=connector, slug=slug) + (f"?{query}" if query else "")


# -- doing an action the way the CLI does it -----------------------------------------------------
def perform(desk: Desk, what: str, action: Callable[[Any], str]) -> tuple[bool, str]:
    """Run `action(journal)` as an operator command: one at a time, the journal's lock waited for
    briefly, errors in words, one audit line. (ok, the sentence to show)."""
    from maorders.runner import pass_log

    user = desk.user()
    if not desk.action_lock.acquire(timeout=ACTION_WAIT):
        return False, _("Another action is running at the desk: try again in a minute.")
    try:
        with pass_log(desk.settings.general.log_dir, "operator"):
            ok, message = _attempt(desk, action)
            log.info("desk: %s by %s: %s", what, user, "done" if ok else f"refused: {message}")
            return ok, message
    except MaordersError as exc:  # the operator log itself cannot be written
        return False, str(exc)
    finally:
        desk.action_lock.release()


def _attempt(desk: Desk, action: Callable[[Any], str]) -> tuple[bool, str]:
    try:
        journal = desk.open_journal(ACTION_WAIT)
        try:
            return True, action(journal)
        finally:
            journal.close()
    except TransientError as exc:
        return False, _("{error}: try again in a minute.").format(error=str(exc).rstrip("."))
    except MaordersError as exc:
        return False, str(exc)
    except Exception as exc:  # a bug: the person reads one line, the traceback goes to the operator log
        log.error("bug in a desk action", exc_info=True)
        return False, _("Internal error: {kind} (the traceback is in the operator log).").format(
            kind=type(exc).__name__)


def run_pass_for(desk: Desk, connector: str) -> Callable[[str], dict[str, Any]]:
    """A pass of one connector, run here as `maorders <command> --only <connector>` runs it."""
    def run(command: str) -> dict[str, Any]:
        from maorders.runner import AppState, run_pass

        out = CapturingOutput()
        state = AppState(out, desk.app_state.env_file, desk.app_state.journal_path, desk.settings)
        code = run_pass(state, command, [connector], {})
        summary = out.payload or {"exit_code": code}
        if summary.get("error"):  # the pass did not run (its lock held, settings): its own words
            raise (TransientError if code == 75 else MaordersError)(summary["error"])
        return summary

    return run


def act_context(desk: Desk, connector: str, journal: Any) -> Act:
    return Act(connector, journal, desk.settings, request.args, form=request.form, user=desk.user(),
               app=desk.app_state, run_pass=run_pass_for(desk, connector))


def view_context(desk: Desk, connector: str, journal: Any) -> View:
    return View(connector, journal, desk.settings, request.args)


def show_result(ok: bool, message: str) -> None:
    # the message rides in the session cookie to the next page: kept well under a cookie's 4 KB
    flash(message if len(message) <= FLASH_CHARS else message[:FLASH_CHARS - 1] + "…", "ok" if ok else "problem")


def messages() -> list[tuple[str, Markup]]:
    return get_flashed_messages(with_categories=True)
