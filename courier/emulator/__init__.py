"""Strict in-memory emulators of the courier's two remotes, each a real HTTP server on 127.0.0.1.

- `measoft.py`: MeaSoft «Курьерская служба 2008» XML API (`MeasoftEmulator`);
- `retailcrm.py` (+ `crm_changes.py`): RetailCRM API v5 (`RetailcrmEmulator`).

The fault knobs both share (500, 429, delays, drops, cut and malformed bodies, redirects) and
the sliding request windows live in the kernel's `maorders.emulation`.

`serve_measoft(port=0)` / `serve_retailcrm(port=0)` return a started `(EmulatorServer, app)`.
"""

from __future__ import annotations

from courier.emulator.measoft import MeasoftEmulator
from courier.emulator.retailcrm import RetailcrmEmulator
from maorders.emulation import EmulatorServer

__all__ = ["MeasoftEmulator", "RetailcrmEmulator", "serve_measoft", "serve_retailcrm"]


def serve_measoft(port: int = 0) -> tuple[EmulatorServer, MeasoftEmulator]:
    app = MeasoftEmulator()
    return EmulatorServer(app, port=port, base_path="/api/").start(), app


def serve_retailcrm(port: int = 0) -> tuple[EmulatorServer, RetailcrmEmulator]:
    app = RetailcrmEmulator()
    return EmulatorServer(app, port=port, base_path="").start(), app
