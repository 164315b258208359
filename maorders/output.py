"""Output: rich on stderr for people, one JSON object on stdout for scripts.

Progress bars only on an interactive terminal; under a scheduler a plain line
every N items. Every text that leaves here passes `redact()`.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from maorders.redact import redact


class Output:
    def __init__(self, json_mode: bool = False, quiet: bool = False, verbose: bool = False):
        self.json_mode = json_mode
        self.quiet = quiet
        self.verbose = verbose
        self.terminal = sys.stderr is not None and sys.stderr.isatty()
        self.interactive = self.terminal and not json_mode
        self._console: Any = None

    @property
    def console(self) -> Any:
        """rich's console, made when first needed: importing rich costs a till's scan-qr
        (under a scheduler or a till program) ~40 ms for lines nobody sees in colour."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._console

    # -- lines ------------------------------------------------------------
    def info(self, message: str) -> None:
        if not self.quiet:
            self._line(redact(message))

    def warn(self, message: str) -> None:
        if not self.quiet:
            self._line(redact(message), style="yellow")

    def error(self, message: str) -> None:
        """One line on stderr, always shown, even with --quiet."""
        self._line("error: " + redact(message).splitlines()[0] if message else "error", style="bold red")

    def _line(self, text: str, style: str | None = None) -> None:
        """Coloured by rich on a terminal; a plain line for a scheduler's or a till's log."""
        if self.terminal:
            self.console.print(text, style=style, markup=False)
        elif sys.stderr is not None:  # None under pythonw (a task with no console): nobody to tell
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def emit_json(self, payload: dict[str, Any]) -> None:
        sys.stdout.write(redact(json.dumps(payload, ensure_ascii=False, default=str)) + "\n")
        sys.stdout.flush()

    # -- tables -----------------------------------------------------------
    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A rich table on a terminal; tab-separated lines otherwise (easy to grep)."""
        if self.quiet:
            return
        if self.interactive:
            from rich.table import Table

            from rich.text import Text

            # Text, not str: remote words such as «field [receiver phone]» are not rich markup
            table = Table(title=Text(title), title_justify="left")
            for column in columns:
                table.add_column(Text(column))
            for row in rows:
                table.add_row(*(Text(redact("" if v is None else str(v))) for v in row))
            self.console.print(table)
            return
        self._line(title)
        for row in rows:
            self._line("\t".join(redact("" if v is None else str(v)) for v in row))

    # -- progress -----------------------------------------------------------
    @contextmanager
    def progress(self, description: str, total: int | None = None, every: int = 10000) -> Iterator["Progress"]:
        if self.interactive and not self.quiet:
            from rich.progress import Progress as RichProgress

            from rich.markup import escape

            with RichProgress(console=self.console, transient=True) as bar:
                task = bar.add_task(escape(description), total=total)
                yield Progress(lambda n: bar.advance(task, n))
            return
        counter = LineProgress(self, description, every)
        yield Progress(counter.advance)


class Progress:
    def __init__(self, advance: Any):
        self.advance = advance


class LineProgress:
    """Under a scheduler: a plain line every `every` items."""

    def __init__(self, output: Output, description: str, every: int):
        self.output, self.description, self.every, self.done = output, description, every, 0

    def advance(self, n: int = 1) -> None:
        before = self.done // self.every
        self.done += n
        if self.done // self.every > before and self.output.verbose:
            self.output.info(f"{self.description}: {self.done}")
