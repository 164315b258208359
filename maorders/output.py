"""Output: a command's result on stdout, diagnostics and progress on stderr.

Results (`status`, `doctor`, every list and show: `table()`, `result()`) go to stdout, as
a rich table on a terminal and tab-separated lines otherwise, so `maorders status > file`
and `| grep` work; lines for people (`info`, `warn`, `error`) and progress go to stderr;
with `--json` stdout holds only the one object. Progress bars only on an interactive
terminal; under a scheduler a plain line every N items. Every text that leaves here passes
`redact()`. A reader that goes away (`| head -1`) ends the output quietly: the command
finishes its work and exits with its own code.
"""

from __future__ import annotations

import json
import os
import re
import sys
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Iterator, Sequence

from maorders.i18n import _
from maorders.redact import redact

YES = {"y", "yes", "д", "да"}  # a cashier's keyboard may be in either layout
NO = {"n", "no", "н", "нет"}
# a journal time (ISO 8601 with its offset): shown to people in their zone, `06.12.2026 11:41`
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)")


class Output:
    def __init__(self, json_mode: bool = False, quiet: bool = False, verbose: bool = False):
        self.json_mode = json_mode
        self.quiet = quiet
        self.verbose = verbose
        self.terminal = sys.stderr is not None and sys.stderr.isatty()
        self.interactive = self.terminal and not json_mode
        self._console: Any = None
        self._stdout_console: Any = None
        self.results_on_stderr = False  # the demo's passes with --json: stdout keeps only the object

    @property
    def console(self) -> Any:
        """rich's console, made when first needed: importing rich costs a till's scan-qr
        (under a scheduler or a till program) ~40 ms for lines nobody sees in colour."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._console

    @property
    def stdout_console(self) -> Any:
        """rich's console for results on a terminal's stdout."""
        if self._stdout_console is None:
            from rich.console import Console

            self._stdout_console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
        return self._stdout_console

    # -- lines ------------------------------------------------------------
    def info(self, message: str) -> None:
        if not self.quiet:
            self._line(local_times(redact(message)))

    def warn(self, message: str) -> None:
        if not self.quiet:
            self._line(local_times(redact(message)), style="yellow")

    def error(self, message: str) -> None:
        """One line on stderr, always shown, even with --quiet. `error:` stays as it is in every
        language: scripts and log readers look for it, as for git's."""
        text = local_times(redact(message).splitlines()[0]) if message else ""
        self._line("error: " + text if message else "error", style="bold red")

    def result(self, message: str) -> None:
        """A line of the command's result, on stdout (even with --quiet: it is what was asked for)."""
        self._write(self._results(), local_times(redact(message)) + "\n")

    def _results(self) -> Any:
        """stdout, unless it is kept for the one JSON object."""
        return sys.stderr if self.json_mode or self.results_on_stderr else sys.stdout

    def _line(self, text: str, style: str | None = None) -> None:
        """Coloured by rich on a terminal; a plain line for a scheduler's or a till's log."""
        if self.terminal:
            self._quietly_closed(lambda: self.console.print(text, style=style, markup=False), sys.stderr)
        else:  # sys.stderr is None under pythonw (a task with no console): nobody to tell
            self._write(sys.stderr, text + "\n")

    def emit_json(self, payload: dict[str, Any]) -> None:
        self._write(sys.stdout, redact(json.dumps(payload, ensure_ascii=False, default=str)) + "\n")

    def _write(self, stream: Any, text: str) -> None:
        if stream is not None:
            self._quietly_closed(lambda: (stream.write(text), stream.flush()), stream)

    @staticmethod
    def _quietly_closed(write: Any, stream: Any = None) -> None:
        try:
            write()
        except BrokenPipeError:
            reader_gone(stream or sys.stdout)

    # -- questions at a terminal (a till's cashier) --------------------------------
    def confirm(self, question: str, default: bool = False) -> bool:
        """A yes/no question on the terminal in the people's language: «[д/н]» in Russian; д, да,
        y and yes are yes, н, нет, n and no are no, in any case. `question` is a catalog text."""
        from rich.prompt import Confirm, InvalidResponse

        yes, no = _("y"), _("n")

        class Answer(Confirm):
            choices = [yes, no]
            validate_error_message = _("Please answer {yes} or {no}").format(yes=yes, no=no)

            def process_response(self, value: str) -> bool:
                answer = value.strip().casefold()
                if answer in YES | {yes.casefold()}:
                    return True
                if answer in NO | {no.casefold()}:
                    return False
                raise InvalidResponse(self.validate_error_message)

        return Answer.ask(question, console=self.console, default=default)

    # -- tables: results, on stdout -------------------------------------------
    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A rich table when stdout is a terminal; else the title and tab-separated lines (easy to
        grep), the column names on the second. `title` and `columns` are the caller's `_()` texts; --quiet leaves tables out."""
        if self.quiet:
            return
        stream = self._results()
        if stream is not None and stream.isatty():
            from rich.table import Table
            from rich.text import Text

            # Text, not str: remote words such as «field [receiver phone]» are not rich markup
            table = Table(title=Text(title.strip()), title_justify="left")
            for column in columns:
                table.add_column(Text(column))
            for row in rows:
                table.add_row(*(Text(redact(cell(v))) for v in row))
            console = self.console if stream is sys.stderr else self.stdout_console
            self._quietly_closed(lambda: console.print(table), stream)
            return
        lines = [title.strip(), "\t".join(columns)]
        lines += ["\t".join(redact(cell(v)) for v in row) for row in rows]
        self._write(stream, "\n".join(lines) + "\n")

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
            self.output.info(_("{what}: {count}").format(what=self.description, count=self.done))


def cell(value: Any) -> str:
    """A table cell as people read it: a journal time (ISO UTC, or a datetime) in their zone and
    form (maorders.i18n.local_time), yes or no in their language; anything else as it is."""
    if value is None:
        return ""
    if isinstance(value, bool):  # doctor's "ok" and the like
        return _("yes") if value else _("no")
    if isinstance(value, str) and ISO_TIME.fullmatch(value) or isinstance(value, datetime):
        from maorders.i18n import local_time

        return local_time(value)
    return str(value)


def local_times(text: str) -> str:
    """The journal's ISO UTC times in a line for people, in their zone and form."""
    if "T" not in text or not ISO_TIME.search(text):
        return text
    from maorders.i18n import local_time

    return ISO_TIME.sub(lambda found: local_time(found.group(0)), text)


def reader_gone(stream: Any) -> None:
    """The stream's reader went away (`maorders status | head -1`): what is left is for nobody.
    Point it at the null device, so neither later writes nor Python's flush at exit fail."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, stream.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass
