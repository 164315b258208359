"""The staff desk (`maorders desk`): a local web page for the people who act.

What a connector gives the desk, named by its `Connector.desk` reference ("module:PAGES"):
a `Pages` — its pages (each a view function returning blocks, and the actions its forms
post), and how its notifications read on the needs-a-person page. The kernel renders the
blocks with its own templates (every value escaped) and never names a connector, as
Datasette's plugins add pages its core never names.

A view function gets a `View` (the journal opened for reading, the connector's settings,
the query arguments) and returns blocks; an action gets an `Act` and returns the sentence
a person reads, or raises a `MaordersError` whose words are shown. Both call the same
functions the connector's CLI commands call. This module imports no web framework: a
connector's page module stays light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

DEFAULT_PORT = 8765  # MAORDERS_DESK_PORT unset (here, not in the command: doctor reads it without the app)


# -- blocks: what a page shows ----------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    key: str
    title: str
    link: str | None = None  # the row's key holding a desk path ("bookings?ref=1042") or a URL to open
    kind: str = "text"  # how people read the value: text, time (local), wall time (a remote's, as written), money (₽), quantity


def shown(value: Any, kind: str = "text") -> str:
    """A cell's value as people read it (maorders.i18n): a journal time in the local zone, a sum in
    roubles; text as it is (a connector puts its own words in the row); nothing for none."""
    from maorders import i18n

    if value is None:
        return ""
    form = {"time": i18n.local_time, "wall time": i18n.wall_time, "money": i18n.money,
            "quantity": i18n.quantity}.get(kind)
    return form(value) if form else str(value)


@dataclass(frozen=True)
class Button:
    """A row's action: posts `ref` = row[`ref_key`] to the page's action `action`."""

    action: str
    label: str
    ref_key: str = "ref"
    show: Callable[[Mapping[str, Any]], bool] | None = None  # only on rows where it is true
    confirm: str | None = None  # asked before posting
    danger: bool = False


@dataclass(frozen=True)
class Table:
    title: str
    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]
    buttons: Sequence[Button] = ()
    empty: str = ""  # said when there are no rows
    problem_key: str | None = None  # rows whose value here is truthy are shown as needing a person


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # an <input type>: text, number, email, tel
    required: bool = False
    help: str = ""
    repeat: int = 1  # several inputs of the same name (payments: cash:1000, card:500)
    value: str = ""


@dataclass(frozen=True)
class Form:
    title: str
    action: str
    fields: Sequence[Field]
    submit: str
    note: str = ""
    hidden: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Facts:
    """One thing's details: (label, value) pairs."""

    title: str
    items: Sequence[tuple[str, Any]]


@dataclass(frozen=True)
class Filters:
    """Links to the same page with `param` set to each choice (value, label)."""

    param: str
    choices: Sequence[tuple[str, str]]
    current: str = ""


@dataclass(frozen=True)
class Note:
    text: str
    problem: bool = False


@dataclass(frozen=True)
class Actions:
    """Buttons about one thing (a booking's ready, issued …), each posting `ref`."""

    ref: str
    buttons: Sequence[Button]


Block = Table | Form | Facts | Filters | Note | Actions


# -- what a connector gives the desk ----------------------------------------------------------
@dataclass(frozen=True)
class Page:
    slug: str  # its path: /<connector>/<slug>
    title: str  # an English source text; shown through the catalog
    view: Callable[["View"], Sequence[Block]]
    actions: Mapping[str, Callable[["Act"], str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Pages:
    pages: Sequence[Page]
    # a notification (a row of the journal's notifications) -> a desk path to act on it ("bookings?ref=1042")
    link: Callable[[Mapping[str, Any]], str | None] | None = None
    # a notification that raises the banner and the sound (a new internet order)
    banner: Callable[[Mapping[str, Any]], bool] | None = None


@dataclass
class View:
    """What a view function reads: the journal, this connector's settings, the query arguments."""

    connector: str
    journal: Any  # maorders.journal.Journal
    settings: Any  # maorders.settings.Settings
    args: Mapping[str, str]

    @property
    def config(self) -> Any:
        return self.settings.of(self.connector)

    def arg(self, name: str, default: str = "") -> str:
        return (self.args.get(name) or default).strip()


@dataclass
class Act(View):
    """An action's context: the form's fields too, the person acting, and the app's state."""

    form: Any = None  # a werkzeug MultiDict: .get(name), .getlist(name)
    user: str = ""
    app: Any = None  # maorders.runner.AppState
    run_pass: Callable[[str], dict[str, Any]] | None = None  # a pass of this connector; its summary

    def field(self, name: str) -> str:
        return (self.form.get(name) or "").strip()
