"""Courier shipments on the staff desk (`maorders desk`): what `maorders shipments …` shows.

Those with errors first (an invalid receiver phone, a refused order), their MeaSoft state, and
a link to the order in RetailCRM. Receivers' names and phones are not shown: they stay there.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import quote, urlencode

from courier import words
from maorders.desk import Column, Facts, Filters, Note, Page, Pages, Table, View
from maorders.i18n import N_, _, local_time
from maorders.words import outbox_state

FILTERS = (("problems", N_("With errors")), ("all", N_("All")))


def _crm_link(view: View, crm_order_id: Any) -> str | None:
    """The order's page in the CRM's own interface (/orders/<id>/edit on the account's address)."""
    base = getattr(view.config, "retailcrm_url", None)
    return f"{base.rstrip('/')}/orders/{quote(str(crm_order_id))}/edit" if base and crm_order_id else None


def shipments(view: View) -> list[Any]:
    from courier import desk

    if view.arg("ref"):
        return _detail(view, view.arg("ref"))
    which = view.arg("show", "problems")
    rows = [r | {"measoft": f"{r['measoft_status'] or '-'} {r['measoft_title'] or ''}".strip(),
                 "state": words.shipment_state(r["state"]),
                 "link": "shipments?" + urlencode({"ref": r["crm_number"]}), "crm": _("open"),
                 "crm_link": _crm_link(view, r["crm_order_id"])}
            for r in desk.rows(view.journal, problems=which == "problems")]
    return [Filters("show", [(value, _(label)) for value, label in FILTERS], which),
            Table(_("Shipments"), [Column("crm_number", _("CRM order"), link="link"),
                                   Column("crm", _("In the CRM"), link="crm_link"),
                                   Column("orderno", _("MeaSoft orderno")), Column("state", _("State")),
                                   Column("measoft", _("MeaSoft status")), Column("crm_status", _("CRM status")),
                                   Column("error", _("Error")), Column("updated_at", _("Updated"), kind="time")],
                  rows, empty=_("No shipments in this list."), problem_key="error")]


def _detail(view: View, ref: str) -> list[Any]:
    from courier import desk

    d = desk.detail(view.journal, ref)
    crm = _crm_link(view, d["crm_order_id"])
    blocks: list[Any] = [Facts(_("CRM order {number}").format(number=d["crm_number"]), [
        (_("CRM order id"), d["crm_order_id"]), (_("MeaSoft orderno"), d["orderno"]), (_("AWB"), d["awb"]),
        (_("State"), words.shipment_state(d["state"])), (_("MeaSoft status"), f"{d['measoft_status'] or '-'} {d['measoft_title'] or ''}"),
        (_("CRM status"), d["crm_status"]), (_("Updated"), local_time(d["updated_at"]))])]
    if d["error"]:
        blocks.append(Note(d["error"], problem=True))
    if crm:
        blocks.append(Table(_("In the CRM"), [Column("text", _("Order"), link="url")],
                            [{"text": d["crm_number"], "url": crm}]))
    blocks.append(Table(_("MeaSoft statuses"), [
        Column("status", _("Status")), Column("title", _("Title")), Column("event_time", _("Event time"), kind="wall time"),
        Column("paytype", _("Pay type")), Column("price", _("Price"), kind="money"), Column("returns", _("Refused items")),
        Column("crm_status", _("CRM status"))], [s | {"paytype": words.pay_type(s["paytype"])} for s in d["statuses"]],
        empty=_("No status from MeaSoft yet.")))
    blocks.append(Table(_("Sends"), [
        Column("kind", _("Kind")), Column("state", _("State")), Column("attempts", _("Attempts")),
        Column("last_error", _("Last error")), Column("sent_at", _("Sent at"), kind="time")],
        [s | {"kind": words.send_kind(s["kind"]), "state": outbox_state(s["state"])} for s in d["sends"]],
        problem_key="last_error"))
    return blocks


def _link(note: Mapping[str, Any]) -> str | None:
    return "shipments?" + urlencode({"ref": str(note["subject"])})


PAGES = Pages(pages=(Page("shipments", N_("Courier shipments"), shipments),), link=_link)
