"""The desk's pages: needs a person (with its polled list), the connectors' pages and actions, sign-in."""

from __future__ import annotations

from typing import Any, Mapping

from flask import Flask, redirect, render_template, request, session, url_for

from maorders.desk import safety
from maorders.desk.app import Desk, act_context, messages, perform, show_result, view_context
from maorders.i18n import _


def register(app: Flask, desk: Desk) -> None:
    app.jinja_env.globals["cell_link"] = cell_link

    @app.get("/")
    def needs() -> Any:
        return render_template("needs.html", title=_("Needs a person"), messages=messages(),
                               **_read(desk, lambda journal: needs_items(desk, journal)))

    @app.get("/needs/items")
    def needs_items_fragment() -> Any:
        return render_template("_needs_rows.html", **_read(desk, lambda journal: needs_items(desk, journal)))

    @app.post("/needs/done")
    def needs_done() -> Any:
        from maorders import health

        def ack(journal: Any) -> str:
            dismissed = health.acknowledge(journal)
            return _("Marked as seen: every notification and {count} refused send(s).").format(count=dismissed)

        show_result(*perform(desk, "status --ack", ack))
        return redirect(url_for("needs"), 303)

    @app.post("/needs/<int:notification_id>/done")
    def needs_item_done(notification_id: int) -> Any:
        from maorders import health

        def seen(journal: Any) -> str:
            health.acknowledge(journal, [notification_id])
            return _("Marked as seen.")

        show_result(*perform(desk, "status --ack (one notification)", seen))
        return redirect(url_for("needs"), 303)

    @app.get("/<connector>/<slug>")
    def page(connector: str, slug: str) -> Any:
        found = desk.page(connector, slug)
        data = _read(desk, lambda journal: {"blocks": [(type(b).__name__.lower(), b)
                                                       for b in found.view(view_context(desk, connector, journal))]})
        return render_template("page.html", title=_(found.title), connector=connector, slug=slug,
                               messages=messages(), **data)

    @app.post("/<connector>/<slug>/<action>")
    def action(connector: str, slug: str, action: str) -> Any:
        found = desk.page(connector, slug)
        function = found.actions.get(action)
        if function is None:
            return render_template("message.html", title=_("Not found"),
                                   message=_("No such action on this page.")), 404
        ref = request.form.get("ref", "")
        show_result(*perform(desk, f"{connector} {slug} {action} {ref}".rstrip(),
                             lambda journal: function(act_context(desk, connector, journal))))
        return redirect(_back(request.form.get("back"), url_for("page", connector=connector, slug=slug)), 303)

    @app.route("/signin", methods=["GET", "POST"])
    def signin() -> Any:
        if not desk.password_hash:
            return redirect(url_for("needs"))
        error, code = "", 200
        address = request.remote_addr or ""
        if request.method == "POST" and desk.sign_in_guard.blocked(address):
            error, code = _("Too many wrong passwords: wait a few minutes and try again."), 429
        elif request.method == "POST":
            name = request.form.get("name", "").strip()[:60]
            if safety.password_ok(desk.password_hash, request.form.get("password", "")):
                session.clear()
                session["user"] = name or _("desk user")
                return redirect(_back(request.args.get("next"), url_for("needs")), 303)
            desk.sign_in_guard.failed(address)
            error, code = _("Wrong password."), 401
        return render_template("signin.html", title=_("Sign in"), error=error), code

    @app.post("/signout")
    def signout() -> Any:
        session.clear()
        return redirect(url_for("signin") if desk.password_hash else url_for("needs"), 303)


def _read(desk: Desk, fetch: Any) -> dict[str, Any]:
    """A read of the journal for one page; its error in words, never a traceback."""
    from maorders.errors import MaordersError

    try:
        journal = desk.open_journal()
        try:
            return fetch(journal)
        finally:
            journal.close()
    except MaordersError as exc:
        return {"read_error": str(exc)}


def _back(target: str | None, default: str) -> str:
    """Back to the desk's own page only (never to another site: `//host`)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def needs_items(desk: Desk, journal: Any) -> dict[str, Any]:
    """Every unseen notification newest first, with where to act on it; refused sends; what status says."""
    from maorders import health

    items = []
    for note in journal.notifications(unseen_only=True, limit=200):
        pages = desk.pages.get(note["connector"])
        link = pages.link(note) if pages and pages.link else None
        items.append({**note, "link": desk_path(note["connector"], link) if link else None,
                      "banner": bool(pages and pages.banner and pages.banner(note))})
    snap = health.snapshot(journal)
    return {"items": items, "failed": snap["failed"], "reasons": health.needs_person(snap),
            "last_id": max((n["id"] for n in items), default=0)}


def desk_path(connector: str, link: str) -> str:
    """A connector's link ("bookings?ref=1042") as a path of the desk; a URL only if http(s)."""
    if link.startswith(("http://", "https://")):
        return link
    return f"/{connector}/{link.lstrip('/')}"


def cell_link(connector: str, row: Mapping[str, Any], key: str | None) -> str | None:
    value = row.get(key) if key else None
    return desk_path(connector, str(value)) if value else None
