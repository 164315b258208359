"""The time every journal row, `--json` object and wire message carries: ISO-8601 in UTC with its
offset (`2026-12-06T08:41:06+00:00`). People see it in their own zone through `maorders.i18n`.

UTC, not the machine's zone: a journal compares its times as text (what is due, what expired),
which only holds while every stamp has the same offset (a zone's DST change, a moved server).
"""

from __future__ import annotations

from datetime import datetime, timezone


def now() -> datetime:
    return datetime.now(timezone.utc)


def stamp(moment: datetime | None = None) -> str:
    return (moment or now()).astimezone(timezone.utc).isoformat(timespec="seconds")
