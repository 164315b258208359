"""What the cashier sees and answers at a terminal: the client panel, offers, «Не списывать /
Списать N», the confirmation. And the result in a few lines.

The customer's name is shown here, to the cashier, and nowhere else: never in the log, the
journal or `--json`. The card is shown masked.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Any, Sequence

from loyalty.megainsight import Calculation, Identity, Offer
from loyalty.money import BadNumber, money
from maorders.errors import InputError


def is_terminal(ctx) -> bool:
    """A person at a terminal who can answer (no --yes, not --json, stdin and stderr a terminal)."""
    return bool(ctx.out.interactive and not ctx.options.get("yes") and sys.stdin.isatty())


def masked_card(card: str) -> str:
    """The last 4 digits (ASCII only: a till program may read our JSON in any code page)."""
    return f"****{card[-4:]}" if len(card) > 4 else "****" if card else ""


def public_client(identity: Identity) -> dict[str, Any]:
    """The client as --json and the journal may show it: the service's id and the masked card."""
    return {"id": identity.client_id, "card": masked_card(identity.card)}


def public_offer(offer: Offer) -> dict[str, Any]:
    return {"id": offer.id, "title": offer.title, "kind": offer.kind, "product_code": offer.product_code,
            "product_name": offer.product_name, "personal_price": float(offer.personal_price)}


def show_client(ctx, identity: Identity) -> None:
    """The seed's «Доступные предложения» window: client, balance and coupons."""
    out = ctx.out
    if out.json_mode or out.quiet:
        return
    from maorders.i18n import _, money as rub, points

    if out.interactive:
        from rich.panel import Panel
        from rich.table import Table

        table = Table(show_header=True, box=None)
        for column in ("#", _("Offer"), _("Product"), _("Personal price")):
            table.add_column(column)
        for number, offer in enumerate(identity.offers, 1):
            table.add_row(str(number), offer.title, offer.product_name, rub(offer.personal_price))
        head = _("{name}  card {card}\nbalance: {points} points").format(
            name=identity.name or _("client"), card=masked_card(identity.card), points=points(identity.balance))
        from rich.console import Group

        out.console.print(Panel(Group(head, table) if identity.offers else head, title="Megainsight"))
        return
    out.info(_("client {client} (card {card}): balance {points} points").format(
        client=identity.client_id, card=masked_card(identity.card), points=points(identity.balance)))
    for offer in identity.offers:
        out.info("  " + offer_line(offer, rub(offer.personal_price)))


def offer_line(offer: Offer, price: str) -> str:
    """«АИ-95 по 52.90 — 52,90 ₽ (--offer of-1)»: the product only when the title does not name it;
    the id as the option that applies the offer (the cashier types it, a till program reads --json)."""
    from maorders.i18n import _

    what = offer.title or offer.product_name
    if offer.title and offer.product_name.casefold() not in offer.title.casefold():
        what = _("{title}: {product}").format(title=offer.title, product=offer.product_name)
    return _("{offer} — {price} (--offer {id})").format(offer=what, price=price, id=offer.id)


def ask_offers(ctx, offers: Sequence[Offer]) -> list[str]:
    """Which coupons to apply: numbers separated by spaces, `all`, or Enter for none."""
    if not offers:
        return []
    from rich.prompt import Prompt

    from maorders.i18n import _

    every = {"all", _("all").casefold()}  # the word in either language: a keyboard in either layout
    again = _("give numbers 1-{last}, '{all}' or nothing").format(last=len(offers), all=_("all"))
    while True:
        answer = Prompt.ask(_("Offers to apply (numbers, '{all}', Enter for none)").format(all=_("all")),
                            default="", console=ctx.out.console, show_default=False).strip().casefold()
        if answer in every:
            return [o.id for o in offers]
        try:
            picked = [offers[int(part) - 1].id for part in answer.replace(",", " ").split()]
        except (ValueError, IndexError):
            ctx.out.warn(again)
            continue
        if all(int(part) >= 1 for part in answer.replace(",", " ").split()):
            return list(dict.fromkeys(picked))
        ctx.out.warn(again)


def ask_points(ctx, most: Decimal) -> Decimal:
    """«Не списывать» (0) or «Списать N» (up to `most`)."""
    from rich.prompt import Prompt

    from maorders.i18n import _, points as shown

    if most <= 0:
        ctx.out.info(_("Do not redeem: no points can be redeemed on this receipt"))
        return Decimal(0)
    biggest = {"max", _("max").casefold()}
    while True:
        answer = Prompt.ask(_("Do not redeem (0) / Redeem N (up to {most}, or '{max}')").format(
            most=shown(most), max=_("max")), default="0", console=ctx.out.console).strip().casefold()
        try:
            points = most if answer in biggest else money(answer)
        except BadNumber as exc:
            ctx.out.warn(_("points {reason}").format(reason=exc))
            continue
        if points > most:
            ctx.out.warn(_("at most {most}").format(most=shown(most)))
            continue
        return points


def ask_confirm(ctx, question: str) -> bool:
    """The cashier's yes or no, in their language («[д/н]»): `question` is a catalog text."""
    return ctx.out.confirm(question, default=False)


def show_calculation(ctx, calc: Calculation) -> None:
    out = ctx.out
    if out.json_mode or out.quiet:
        return
    from maorders.i18n import _, money as rub, points

    from loyalty.words import line_code

    out.table(_("Receipt with loyalty"), [_("Code"), _("Price"), _("Amount"), _("Discount")],
              [(line_code(line.code), rub(line.price), rub(line.amount), rub(line.discount)) for line in calc.lines])
    out.info(_("discount {discount}, redeem {redeemed} points, accrue {accrued}, to pay {total}").format(
        discount=rub(calc.discount), redeemed=points(calc.points_redeemed), accrued=points(calc.points_to_accrue),
        total=rub(calc.total_to_pay)))


def show_sale(ctx, result: dict[str, Any]) -> None:
    if ctx.out.json_mode:
        return
    from maorders.i18n import _, money as rub, points

    again = _(" (already confirmed: nothing sent twice)") if result.get("already_confirmed") else ""
    ctx.out.info(_("receipt {receipt}: operation {operation}{again}; redeemed {redeemed}, accrued {accrued}, "
                   "balance {balance}, to pay {total}").format(
        receipt=result["receipt_number"], operation=result["operation_id"], again=again,
        redeemed=points(result["points_redeemed"]), accrued=points(result["points_accrued"]),
        balance=_("unknown") if result["balance"] is None else points(result["balance"]),
        total=rub(result["total_to_pay"])))


def declined() -> InputError:
    from maorders.i18n import _

    return InputError(_("not confirmed by the cashier: nothing was sent"))
