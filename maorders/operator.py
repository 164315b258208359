"""What connectors' operator commands share: the app state and a journal opened safely.

An operator command writes the journal only (it works while the remote is down) and
fails like a pass: one line, the exit code, the traceback only in the log.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Callable

import typer

from maorders.runner import AppState, guarded

if TYPE_CHECKING:
    from maorders.journal import Journal
    from maorders.output import Output


# arguments whose value is personal data or a secret whatever it looks like: masked in the audit
PERSONAL = re.compile(r"(?i)mail|phone|name|secret|password|token|key|card")


def app_state(ctx: typer.Context) -> AppState:
    return ctx.find_root().obj


def with_journal(ctx: typer.Context, action: Callable[["Journal"], int], create: bool = True) -> None:
    """Open the journal, run `action(journal)` with a pass's error handling, exit with its code.

    An action that changed the journal (or `status --ack`) leaves an audit line: who, what, when,
    with which arguments (masked), in the operator log and the journal's `audit` table. `status`
    never creates a journal (nor its folders) just to say there is nothing (cli.py should pass
    create=False; until then its name says it)."""
    state = app_state(ctx)
    create = create and ctx.info_name != "status"

    def run() -> int:
        journal = state.open_journal(create=create)
        try:
            before = journal.db.total_changes
            code = action(journal)
            if journal.db.total_changes > before or ctx.params.get("ack"):
                audit(journal, ctx, code)
            return code
        finally:
            journal.close()

    raise typer.Exit(guarded(state, run))


def audit(journal: "Journal", ctx: typer.Context, code: int) -> dict[str, Any]:
    """Who (the OS user), what, when, with which arguments: a log line and a journal row."""
    import getpass
    import json
    import logging

    from maorders.clock import stamp
    from maorders.redact import MASK, redact

    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a service without USER): its uid
        user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    action = " ".join(ctx.command_path.split()[1:]) or ctx.command_path
    arguments = redact(json.dumps({k: MASK if PERSONAL.search(k) else _plain(v) for k, v in ctx.params.items()
                                   if v not in (None, False, [], ())}, ensure_ascii=False, sort_keys=True))
    entry = {"at": stamp(), "user": user, "action": action, "arguments": arguments, "exit_code": code}
    log = logging.getLogger("maorders.audit")  # a log line: English fields, as every log's
    log.info("operator %s: %s %s (exit %s)", user, action, arguments, code)
    with journal.recording() as db:  # what a person did is written whatever happens next
        db.execute("INSERT INTO audit (at, user, action, arguments, exit_code) VALUES (?, ?, ?, ?, ?)",
                   (entry["at"], user, action, arguments, code))
    return entry


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (int, float, bool)) else str(value)


def answer(ctx: typer.Context, command: str, key: str, fetch: Callable[["Journal"], Any],
           human: Callable[["Output", Any], None]) -> None:
    """An operator command that reads or writes the journal and answers: with --json one object
    (`command`, `exit_code` 0, `key`: what `fetch` returned), else `human(output, data)`."""
    def action(journal: "Journal") -> int:
        data = fetch(journal)
        out = app_state(ctx).output
        if out.json_mode:
            out.emit_json({"command": command, "exit_code": 0, key: data})
        else:
            human(out, data)
        return 0

    with_journal(ctx, action)
