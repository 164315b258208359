"""Intents and outcomes written a batch at a time, so a pass of 1,000 sends is not 2,000 fsyncs.

The rule stays: the intent (the outbox rows marked in flight, their attempt counted) is
committed before any of the batch's calls, and the outcomes are committed together after
them, at most BATCH sends or FLUSH_SECONDS later (through `Journal.recording()`: what the
remotes already did is written even when the pass's budget is spent). A kill in between leaves the batch's
items `unknown`: Receive and Pay are sent again and the MIS answers Result 2 (already
recorded); an e-mail is sent again under its Message-ID. SMS never goes through here:
one SMS, one intent, one outcome, since a lost one is never sent again by itself.
When a batch stops early (the MIS down, the SMTP server gone), the items it never
tried go back to how they were, attempt count included.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Iterator

from maorders.journal import Journal, OutboxItem

BATCH = 50
FLUSH_SECONDS = 0.25


def chunks(items: list[OutboxItem], size: int = BATCH) -> Iterator[list[OutboxItem]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def begin(journal: Journal, items: Iterable[OutboxItem]) -> None:
    """The intents of a batch, in one transaction: each item in flight, its attempt counted."""
    items = list(items)
    with journal.write() as db:
        db.executemany("UPDATE outbox SET state = 'unknown', attempts = attempts + 1 WHERE id = ?",
                            [(item.id,) for item in items])
    for item in items:
        item.previous_state = item.state  # type: ignore[attr-defined]
        item.state = "unknown"
        item.attempts += 1


class Outcomes:
    """Outcomes waiting to be written; `flush()` writes them in one transaction."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.waiting: list[Callable[[Any], None]] = []
        self.since = time.monotonic()

    def add(self, write: Callable[[Any], None]) -> None:
        self.waiting.append(write)
        if len(self.waiting) >= BATCH or time.monotonic() - self.since >= FLUSH_SECONDS:
            self.flush()

    def flush(self, untried: Iterable[OutboxItem] = ()) -> None:
        untried = list(untried)
        if self.waiting or untried:
            with self.journal.recording() as db:  # effects that happened: written past the budget too
                for write in self.waiting:
                    write(db)
                db.executemany("UPDATE outbox SET state = ?, attempts = attempts - 1 WHERE id = ?",
                                    [(getattr(i, "previous_state", "pending"), i.id) for i in untried])
        self.waiting.clear()
        self.since = time.monotonic()
