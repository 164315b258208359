"""What connectors' operator commands share: the app state and a journal opened safely.

An operator command writes the journal only (it works while the remote is down) and
fails like a pass: one line, the exit code, the traceback only in the log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import typer

from maorders.runner import AppState, guarded

if TYPE_CHECKING:
    from maorders.journal import Journal
    from maorders.output import Output


def app_state(ctx: typer.Context) -> AppState:
    return ctx.find_root().obj


def with_journal(ctx: typer.Context, action: Callable[["Journal"], int]) -> None:
    """Open the journal, run `action(journal)` with a pass's error handling, exit with its code."""
    state = app_state(ctx)

    def run() -> int:
        journal = state.open_journal()
        try:
            return action(journal)
        finally:
            journal.close()

    raise typer.Exit(guarded(state, run))



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
