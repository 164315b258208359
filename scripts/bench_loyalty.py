"""Loyalty benchmark: the cashier waits for `scan-qr`, so its wall time is what counts.

- `scan-qr --code … --line … --yes --json` against the local Megainsight emulator, each run a
  new receipt: the median wall time (interpreter start included), judged against 0.3 s;
- its own time: the wall less what the emulator spent answering (measured inside the
  emulator), next to `python -c pass`, the floor any Python command pays;
- the scanner path: from the code's last byte written to a pty (SCANNER_PORT) to the result
  (the process has printed its JSON and exited), once scan-qr has the port open. Linux only
  (the open port is seen in /proc); skipped elsewhere.

    python scripts/bench_loyalty.py            # 15 runs of each
    python scripts/bench_loyalty.py --small    # 5 runs, a smoke run
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_rows import clean_environment  # scripts/ is on the path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loyalty.emulator import PLACE_ID, TOKEN, sample_client, serve  # noqa: E402

LIMIT_S = 0.3
MAORDERS = shutil.which("maorders", path=str(Path(sys.executable).parent)) or shutil.which("maorders")


class Stopwatch:
    """Time the emulator spends inside its handler, summed over the requests of one run."""

    def __init__(self, app: Any) -> None:
        self.spent = 0.0
        self.lock = threading.Lock()
        handle = app.handle

        def timed(request: Any) -> Any:
            started = time.perf_counter()
            try:
                return handle(request)
            finally:
                with self.lock:
                    self.spent += time.perf_counter() - started

        app.handle = timed

    def take(self) -> float:
        with self.lock:
            spent, self.spent = self.spent, 0.0
        return spent


def loyalty_benchmark(small: bool) -> list[dict[str, Any]]:
    """Rows: metric, maorders, baseline, ratio, limit, ok."""
    runs = 5 if small else 15
    server, app = serve()
    client = sample_client(app)
    watch = Stopwatch(app)
    workdir = Path(tempfile.mkdtemp(prefix="maorders-bench-loyalty-"))
    try:
        env = _environment(workdir, server.url)
        _sale(env, "warm-up", client.card)  # the journal's tables and the OS's file cache, once
        watch.take()
        walls, own = [], []
        for number in range(runs):
            wall = _sale(env, f"B{number:04d}", client.card)
            walls.append(wall)
            own.append(wall - watch.take())
        floor = [_timed([sys.executable, "-c", "pass"], env) for _ in range(runs)]
        scanner = _scanner_runs(env, client.card, runs) if sys.platform.startswith("linux") else []
        assert app.counters["confirm"] == runs + 1 + len(scanner), dict(app.counters)
        return _rows(runs, walls, own, floor, scanner)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _environment(workdir: Path, url: str) -> dict[str, str]:
    return {**clean_environment(workdir),
            "MEGAINSIGHT_URL": url, "MEGAINSIGHT_TOKEN": TOKEN, "MEGAINSIGHT_PLACE_ID": PLACE_ID}


def _sale_args(receipt: str) -> list[str]:
    return [MAORDERS, "--json", "scan-qr", "--line", "95:30:56.50", "--yes", "--receipt-number", receipt]


def _sale(env: dict[str, str], receipt: str, code: str) -> float:
    return _timed([*_sale_args(receipt), "--code", code], env)


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, encoding="utf-8", timeout=120)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[1:4]} exited {done.returncode}: {done.stdout[-1000:]} {done.stderr[-1000:]}")
    return wall


def _scanner_runs(env: dict[str, str], code: str, runs: int) -> list[float]:
    import tty

    results = []
    for number in range(runs):
        master, slave = os.openpty()
        tty.setraw(slave)
        path = os.ttyname(slave)
        try:
            proc = subprocess.Popen(_sale_args(f"S{number:04d}"), env={**env, "SCANNER_PORT": path,
                                                                       "SCANNER_TIMEOUT": "60"},
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
            _wait_open(proc, path)
            os.write(master, code.encode("ascii") + b"\r")
            last_byte = time.perf_counter()
            out, err = proc.communicate(timeout=60)
            results.append(time.perf_counter() - last_byte)
            if proc.returncode != 0 or json.loads(out)["exit_code"] != 0:
                raise RuntimeError(f"scan-qr from the scanner exited {proc.returncode}: {err[-1000:]}")
        finally:
            os.close(master)
            os.close(slave)
    return results


def _wait_open(proc: subprocess.Popen, path: str) -> None:
    """Until scan-qr holds the port and sleeps reading it: pyserial empties a port's input right
    after opening it, so a code written before that would be lost."""
    deadline = time.monotonic() + 60
    fds = f"/proc/{proc.pid}/fd"
    while time.monotonic() < deadline and proc.poll() is None:
        if path in _links(fds) and _reading(proc.pid):
            return
        time.sleep(0.002)
    raise RuntimeError("scan-qr never read the scanner port")


def _links(fds: str) -> set[str]:
    found = set()
    for fd in os.listdir(fds):
        try:
            found.add(os.readlink(f"{fds}/{fd}"))
        except OSError:
            continue
    return found


def _reading(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/wchan") as wchan:
            return any(word in wchan.read() for word in ("poll", "select"))
    except OSError:
        return False


def _rows(runs: int, walls: list[float], own: list[float], floor: list[float],
          scanner: list[float]) -> list[dict[str, Any]]:
    wall, mine, base = statistics.median(walls), statistics.median(own), statistics.median(floor)
    rows = [
        {"metric": f"loyalty scan-qr --code … --line … --yes --json, median of {runs}, wall s",
         "maorders": round(wall, 3), "baseline": None, "ratio": None, "limit": LIMIT_S, "ok": wall <= LIMIT_S},
        {"metric": "loyalty scan-qr own time (wall less the emulator's), s; baseline: python -c pass",
         "maorders": round(mine, 3), "baseline": round(base, 3), "ratio": round(mine / base, 2) if base else None,
         "limit": None, "ok": True},
    ]
    if scanner:
        rows.append({"metric": f"loyalty scanner path: the code's last byte on a pty → the result, median of "
                               f"{len(scanner)}, s", "maorders": round(statistics.median(scanner), 3),
                     "baseline": None, "ratio": None, "limit": None, "ok": True})
    return rows


if __name__ == "__main__":
    from bench_rows import run_alone

    sys.exit(run_alone(loyalty_benchmark))
