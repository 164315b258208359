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
    if out.interactive:
        from rich.panel import Panel
        from rich.table import Table

        table = Table(show_header=True, box=None)
        for column in ("#", "offer", "product", "personal price"):
            table.add_column(column)
        for number, offer in enumerate(identity.offers, 1):
            table.add_row(str(number), offer.title, offer.product_name, f"{offer.personal_price:.2f}")
        head = f"{identity.name or 'client'}  card {masked_card(identity.card)}\nbalance: {identity.balance:.2f} points"
        from rich.console import Group

        out.console.print(Panel(Group(head, table) if identity.offers else head, title="Megainsight"))
        return
    out.info(f"client {identity.client_id} (card {masked_card(identity.card)}): balance {identity.balance:.2f}")
    for offer in identity.offers:
        out.info(f"  offer {offer.id}: {offer.title} — {offer.product_name} {offer.personal_price:.2f}")


def ask_offers(ctx, offers: Sequence[Offer]) -> list[str]:
    """Which coupons to apply: numbers separated by spaces, `all`, or Enter for none."""
    if not offers:
        return []
    from rich.prompt import Prompt

    while True:
        answer = Prompt.ask("Offers to apply (numbers, 'all', Enter for none)", default="",
                            console=ctx.out.console, show_default=False).strip().lower()
        if answer == "all":
            return [o.id for o in offers]
        try:
            picked = [offers[int(part) - 1].id for part in answer.replace(",", " ").split()]
        except (ValueError, IndexError):
            ctx.out.warn(f"give numbers 1-{len(offers)}, 'all' or nothing")
            continue
        if all(int(part) >= 1 for part in answer.replace(",", " ").split()):
            return list(dict.fromkeys(picked))
        ctx.out.warn(f"give numbers 1-{len(offers)}, 'all' or nothing")


def ask_points(ctx, most: Decimal) -> Decimal:
    """«Не списывать» (0) or «Списать N» (up to `most`)."""
    from rich.prompt import Prompt

    if most <= 0:
        ctx.out.info("Не списывать: no points can be redeemed on this receipt")
        return Decimal(0)
    while True:
        answer = Prompt.ask(f"Не списывать (0) / Списать N (up to {most:.2f}, or 'max')", default="0",
                            console=ctx.out.console).strip().lower()
        try:
            points = most if answer == "max" else money(answer)
        except BadNumber as exc:
            ctx.out.warn(f"points {exc}")
            continue
        if points > most:
            ctx.out.warn(f"at most {most:.2f}")
            continue
        return points


def ask_confirm(ctx, question: str) -> bool:
    from rich.prompt import Confirm

    return Confirm.ask(question, console=ctx.out.console, default=False)


def show_calculation(ctx, calc: Calculation) -> None:
    out = ctx.out
    if out.json_mode or out.quiet:
        return
    out.table("Receipt with loyalty", ["code", "price", "amount", "discount"],
              [(line.code, f"{line.price:.2f}", f"{line.amount:.2f}", f"{line.discount:.2f}") for line in calc.lines])
    out.info(f"discount {calc.discount:.2f}, redeem {calc.points_redeemed:.2f} points, "
             f"accrue {calc.points_to_accrue:.2f}, to pay {calc.total_to_pay:.2f}")


def show_sale(ctx, result: dict[str, Any]) -> None:
    if ctx.out.json_mode:
        return
    again = " (already confirmed: nothing sent twice)" if result.get("already_confirmed") else ""
    ctx.out.info(f"receipt {result['receipt_number']}: operation {result['operation_id']}{again}; "
                 f"redeemed {result['points_redeemed']:.2f}, accrued {result['points_accrued']:.2f}, "
                 f"balance {_number(result['balance'])}, to pay {result['total_to_pay']:.2f}")


def _number(value: Any) -> str:
    return "unknown" if value is None else f"{value:.2f}"


def declined() -> InputError:
    return InputError("not confirmed by the cashier: nothing was sent")
