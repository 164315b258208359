"""`maorders alerts …` and `maorders watch`: staff alerts and the desktop watcher."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from maorders.i18n import _
from maorders.operator import app_state, with_journal
from maorders.runner import guarded

alerts = typer.Typer(help=_("Staff alerts: every notification sent once through MAORDERS_ALERT_URLS "
                          "(Apprise: Telegram, e-mail, Slack, Teams, a webhook, the desktop).\n\n"
                          "Example: maorders alerts list --failed"),
                     no_args_is_help=True)


@alerts.command("test", help=_(
    "Send a test message through every alert URL now (the journal is not touched).\n\nExits 0 when every "
    "channel accepted it, 69 when one refused or could not be reached, 78 when MAORDERS_ALERT_URLS is not "
    "set or a URL is not one Apprise can use.\n\nExample: {command}").format(command="maorders alerts test"))
def alerts_test(ctx: typer.Context) -> None:
    state = app_state(ctx)

    def action() -> int:
        from maorders import alerts as alerts_module
        from maorders.errors import ConfigError

        urls = state.settings().general.alert_urls
        if not urls:
            raise ConfigError(_("MAORDERS_ALERT_URLS is not set: there is nowhere to send alerts"))
        results = alerts_module.send_test(urls)
        unusable = any(r.pop("_unusable") for r in results)
        code = 0 if all(r["ok"] for r in results) else (78 if unusable else 69)
        out = state.output
        if out.json_mode:
            failed = [f"{r['channel']}: {r['detail']}" for r in results if not r["ok"]]
            out.emit_json({"command": "alerts test", "exit_code": code, "channels": results,
                           **({"reason": "; ".join(failed)} if code else {})})
        else:
            out.table(_("Alert channels"), [_("channel"), _("ok"), _("detail")],
                      [(r["channel"], bool(r["ok"]), r["detail"]) for r in results])
        return code

    raise typer.Exit(guarded(state, action))


@alerts.command("list", help=_("List staff alerts, newest first: the notification, whether it was delivered, "
                                "the last error.\n\nExample: {command}").format(command="maorders alerts list --failed"))
def alerts_list(
    ctx: typer.Context,
    failed: bool = typer.Option(False, "--failed", help=_("Only alerts not delivered yet after a failed try, "
                                "or dropped. Example: maorders alerts list --failed")),
    limit: int = typer.Option(100, "--limit", min=1, max=10000, help=_("At most this many, newest first. "
                              "Example: --limit 20")),
) -> None:
    def action(journal: Any) -> int:
        from maorders import alerts as alerts_module
        from maorders.words import outbox_state

        rows = alerts_module.listing(journal, failed, limit)
        out = app_state(ctx).output
        if out.json_mode:
            out.emit_json({"command": "alerts list", "exit_code": 0, "alerts": rows})
        else:
            out.table(_("Alerts"), ["#", _("connector"), _("state"), _("tries"), _("message"), _("last error")],
                      [(r["notification"], r["connector"], outbox_state(r["state"]), r["attempts"], r["message"],
                        r["last_error"]) for r in rows])
        return 0

    with_journal(ctx, action)


WATCH_HELP = _(
    "Show each new notification as a desktop pop-up, for the logged-on staff.\n\nReads the journal only (never "
    "locks out a pass): give it `--journal` when this user cannot read the settings file. Start it at log-on "
    "(scripts/windows/tasks/maorders-watch.xml, scripts/linux/maorders-watch.desktop). Exits 75 with --once "
    "when a pop-up could not be shown.\n\nExample: {command}").format(
        command="maorders --journal C:\\ProgramData\\maorders\\journal.db watch")


def watch(
    ctx: typer.Context,
    target: Optional[str] = typer.Option(None, "--target", help=_("Where pop-ups go: any Apprise URL "
                                         "(default the desktop: windows://, macosx://, dbus://). "
                                         "Example: --target json://localhost:8080/popups")),
    interval: float = typer.Option(15.0, "--interval", min=1.0, max=3600.0, help=_("Seconds between "
                                   "looks at the journal. Example: --interval 30")),
    problems_only: bool = typer.Option(False, "--problems-only", help=_("Only what needs a person, not news "
                                       "such as a new order. Example: maorders watch --problems-only")),
    once: bool = typer.Option(False, "--once", help=_("Look once, show what is new, exit (for scripts and "
                              "tests). Example: maorders watch --once")),
    state_file: Optional[Path] = typer.Option(None, "--state-file", help=_("Where what was shown is remembered "
                                              "(default: this user's state folder). "
                                              "Example: --state-file ~/.maorders-watch.json")),
) -> None:
    """`maorders watch` (its help: WATCH_HELP)."""
    state = app_state(ctx)

    def action() -> int:
        from maorders import watch as watch_module

        journal = state.journal_path or state.settings().general.journal
        watcher = watch_module.Watcher(journal, target or watch_module.default_target(), problems_only,
                                       state_file)
        out = state.output
        if once:
            counts = watcher.check()
            code = 75 if counts["failed"] else 0
            if out.json_mode:
                out.emit_json({"command": "watch", "exit_code": code, **counts,
                               **({"reason": counts["why"]} if code else {})})
            else:
                out.info(_("watch: shown {shown}, more {more}, failed {failed}").format(
                    shown=counts["shown"], more=counts["more"], failed=counts["failed"]))
                _report(out, counts)
            return code
        out.info(_("watching {journal} every {seconds} s (Ctrl+C stops)").format(journal=journal,
                                                                                 seconds=f"{interval:g}"))
        watch_module.follow(watcher, interval, lambda counts: _report(out, counts))
        return 0

    _exit_watch(state, action)


def _report(out: Any, counts: dict[str, Any]) -> None:
    if counts.get("error"):
        out.warn(_("watch: the journal cannot be read now: {detail}").format(detail=counts["detail"]))
    elif counts.get("failed"):
        out.warn(_("watch: a pop-up could not be shown ({why}); trying again at the next look").format(
            why=counts.get("why") or "-"))


def _exit_watch(state: Any, action: Any) -> None:
    """Like an operator command, but without the pass log: a staff user may not write the logs."""
    from maorders import errors
    from maorders.errors import MaordersError

    message = None
    try:
        code = action()
    except KeyboardInterrupt:
        code = 0
    except MaordersError as exc:
        code, message = exc.exit_code, str(exc)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback with data in it
        code, message = errors.EXIT_BUG, _("internal error: {kind}: {error}").format(kind=type(exc).__name__,
                                                                                    error=exc)
    if message is not None:
        state.output.error(message)
        if state.output.json_mode:
            state.output.emit_json({"command": "watch", "exit_code": code, "error": message, "reason": message})
    raise typer.Exit(code)
