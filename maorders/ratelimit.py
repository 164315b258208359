"""Client-side rate limits, for remotes that cap requests per IP (RetailCRM: 10 a second;
MeaSoft: 150 a minute and 1,500 in 20 minutes, an IP over it blocked for up to 3 hours).

`RateLimiter` paces one process; `SharedRateLimiter` paces every process on the machine
through a small window file, for limits the remote counts per IP, over one or more windows.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Protocol, TypeVar

import requests
from filelock import FileLock


class Paceable(Protocol):
    """What `paced` needs of a remote (`maorders.http.Remote` has it): the limiter each call
    waits on, and the session whose replies date the calls. Declared here, below http, so
    that the limiter never imports the client that uses it."""

    limiter: Any
    session: requests.Session


P = TypeVar("P", bound=Paceable)


class RateLimiter:
    """At most `per_second` calls in any sliding one-second window (RetailCRM: 10)."""

    def __init__(self, per_second: int):
        self.per_second = per_second
        self.sent: deque[float] = deque()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            while len(self.sent) >= self.per_second:
                oldest = self.sent[0]
                pause = oldest + 1.0 - time.monotonic()
                if pause <= 0:
                    self.sent.popleft()
                    continue
                time.sleep(pause)
            self.sent.append(time.monotonic())


class SharedRateLimiter:
    """At most `limit` calls in any `seconds` from this machine, for each (limit, seconds)
    window, across processes.

    RetailCRM and MeaSoft count requests per IP, so pull-orders and push-statuses share one
    budget even when they run as two processes, one after the other or at the same time. The
    window is a small file next to the journal, read and written under a file lock.

    Each call is dated by the arrival of its reply, not by its sending: the server counts a
    request when it arrives, so dated by sending the 11th call may leave one second after the
    1st yet arrive less than a second after it when the 1st was slow on the way (a 503). A reply
    always comes after the server counted its request, so a window of reply times is never
    narrower than the server's. A call still in flight holds its place until its reply (or, if
    its process died, for STALE_S). Wall-clock time, since processes share no other clock.
    """

    STALE_S = 120.0

    def __init__(self, path: Path, per_second: int = 0, windows: tuple[tuple[int, float], ...] = ()):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = FileLock(str(path) + ".lock")
        self.windows = tuple(windows) or ((per_second, 1.0),)
        self.keep_s = max(seconds for _, seconds in self.windows)
        self.in_flight: str | None = None
        self.calls = 0

    def wait(self) -> None:
        self._settle()  # the previous call got no reply at all: it counts from now
        while True:
            with self.lock:
                now = time.time()
                window = self._load(now)
                pause = self._pause(window, now)
                if pause <= 0:
                    self.calls += 1
                    self.in_flight = f"{os.getpid()}:{self.calls}"
                    self._save([*window, [now, self.in_flight, True]])
                    return
            time.sleep(min(max(pause, 0.001), 1.0))

    def _pause(self, window: list[list[Any]], now: float) -> float:
        """How long until one more call fits every window (0: now)."""
        pause = 0.0
        for limit, seconds in self.windows:
            if limit <= 0:  # no limit in this window
                continue
            recent = [entry for entry in window if entry[2] or now - entry[0] < seconds]
            if len(recent) < limit:
                continue
            answered = sorted(when for when, _, flying in recent if not flying)
            # the call that frees a place: the oldest answered one beyond the limit's reach
            excess = len(recent) - limit
            pause = max(pause, answered[excess] + seconds - now if len(answered) > excess else 0.05)
        return pause

    def replied(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self._settle()
        return response

    def _settle(self) -> None:
        if self.in_flight is None:
            return
        with self.lock:
            now = time.time()
            window = self._load(now)
            for entry in window:
                if entry[1] == self.in_flight:
                    entry[0], entry[2] = now, False
            self._save(window)
        self.in_flight = None

    def _load(self, now: float) -> list[list[Any]]:
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            entries = []  # no file yet, or a process killed mid-write: start afresh
        window = []
        for entry in entries if isinstance(entries, list) else []:
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], (int, float))):
                continue
            when = min(float(entry[0]), now)  # the clock stepped back: count it as now
            if now - when < (self.STALE_S if entry[2] else self.keep_s):
                window.append([when, str(entry[1]), bool(entry[2])])
        return window

    def _save(self, window: list[list[Any]]) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(window), encoding="utf-8")
        os.replace(temporary, self.path)


def paced(remote: P, window_file: Path, per_second: int = 0,
          windows: tuple[tuple[int, float], ...] = ()) -> P:
    """Give a remote the machine-wide, reply-dated limiter: `per_second`, or (limit, seconds)
    `windows` that must all hold (MeaSoft: ((150, 60), (1500, 1200)))."""
    limiter = SharedRateLimiter(window_file, per_second, windows)
    remote.limiter = limiter
    remote.session.hooks["response"].append(limiter.replied)
    return remote


def window_file(journal: Path, remote: str) -> Path:
    """Where a remote's call window lives: beside the journal's pass locks."""
    return journal.parent / "locks" / f"{journal.stem}.{remote}-rate.json"
