"""What a pass tells the people who run it, beyond its exit code (issue 9: filled in next).

The runner calls these three; none of them may raise or slow a pass noticeably:
- `pass_started(settings, command)`: the health ping's `/start`;
- `deliver_alerts(settings, journal, summary)`: send the queued staff alerts (outbox
  `maorders`/`alert`, queued by `Journal.notify` in the notification's transaction);
- `pass_ended(settings, journal_or_None, command, exit_code, summary)`: the health ping
  with the exit code, and the Prometheus textfile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maorders.journal import Journal
    from maorders.settings import Settings


def pass_started(settings: "Settings", command: str) -> None:
    return None


def deliver_alerts(settings: "Settings", journal: "Journal", summary: dict[str, Any]) -> None:
    return None


def pass_ended(settings: "Settings", journal: "Journal | None", command: str, code: int,
               summary: dict[str, Any]) -> None:
    return None
