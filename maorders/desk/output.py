"""An Output that keeps what a pass run from the desk says, instead of printing it."""

from __future__ import annotations

from typing import Any

from maorders.output import Output
from maorders.redact import redact


class CapturingOutput(Output):
    """`--json` mode: the pass's summary object is kept in `payload`; its lines in `lines`."""

    def __init__(self) -> None:
        super().__init__(json_mode=True, quiet=False)
        self.terminal = self.interactive = False
        self.lines: list[str] = []
        self.payload: dict[str, Any] | None = None

    def _line(self, text: str, style: str | None = None) -> None:
        self.lines.append(redact(text))

    def emit_json(self, payload: dict[str, Any]) -> None:
        self.payload = payload
