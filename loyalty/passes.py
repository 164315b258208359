"""`scan-qr`: the till's loyalty sale, card info, refund and reconciling (CONTRACT.md).

A sale, in the order that makes it safe to kill at any instant and run again:
1. the options are checked (65 before anything is scanned or sent);
2. the journal is asked about this receipt (its identity: receipt number, inputs, customer,
   the rerun window; else 65 naming the conflict);
3. the code is read (scanner or --code), then the exchange runs on its own budget:
   identify (a known receipt must be the same customer); confirmed → report the one operation,
   exit 0; sent but unanswered (a timeout, a kill) → ask the service by request id, and send
   the very same request again only if it was not applied; else calculate (twice for
   `--redeem max`: the first gives max_redeem);
4. the request id (made once per receipt) and the calculation are written to the journal
   with the outbox row, in one transaction, and marked sent in another (unless the till
   program went away meanwhile: then nothing is sent);
5. confirm; the result is written; the answer is printed (`--json`: connectors.loyalty.result).
Refunds and `--reconcile` live in `loyalty.settle`.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from loyalty import checkout, exchange, store, till
from loyalty.megainsight import Calculation, Identity, MegainsightClient, Operation
from loyalty.money import as_json
from loyalty.words import sale_state
from maorders.clock import now, stamp
from maorders.errors import ConfigError, InputError, PermanentError, RefusedError, TransientError, UsageError
from maorders.http import Budget
from maorders.i18n import _, money, ngettext
from maorders.tillservice import caller_present

log = logging.getLogger("loyalty")
SALE_OPTIONS = ("line", "amount", "offer", "all_offers", "redeem", "payment_type")


def lock_name(options: dict[str, Any]) -> str:
    """`--reconcile` (scheduled) never locks out a cashier's `scan-qr`, nor the other way round."""
    return "scan-qr-reconcile" if options.get("reconcile") else "scan-qr"


def attended(options: dict[str, Any]) -> bool:
    """A sale, a refund or --info: the cashier reads the answer at once."""
    return not options.get("reconcile")


def delivers_alerts(options: dict[str, Any]) -> bool:
    """Only the scheduled --reconcile sends staff alerts: a cashier never waits for them."""
    return bool(options.get("reconcile"))


def scan_qr(ctx) -> None:
    from loyalty import settle

    options = ctx.options
    mode = [name for name in ("reconcile", "refund", "info") if options.get(name)]
    if len(mode) > 1:
        raise UsageError(_("--{first} and --{second} cannot go together").format(first=mode[0], second=mode[1]))
    given = [name for name in SALE_OPTIONS if options.get(name) not in (None, False, [], ())]
    if mode and mode[0] != "refund" and (given or options.get("receipt_number")):
        raise UsageError(_("--{mode} takes no sale options (--{option})").format(
            mode=mode[0], option=given[0].replace("_", "-")) if given
            else _("--{mode} takes no --receipt-number").format(mode=mode[0]))
    if mode == ["refund"] and [g for g in given if g != "amount"]:
        raise UsageError(_("--refund takes only --amount and --receipt-number"))
    if mode in (["refund"], ["reconcile"]) and options.get("code") is not None:
        raise UsageError(_("--{mode} takes no --code: no customer's code is needed").format(mode=mode[0]))
    if mode == ["reconcile"]:
        settle.reconcile(ctx)
    elif mode == ["refund"]:
        settle.refund(ctx)
    elif mode == ["info"]:
        info(ctx)
    else:
        sale(ctx)


# ===================================================================== the code
def read_code(ctx) -> str:
    """`--code` as typed, else one code from SCANNER_PORT within SCANNER_TIMEOUT."""
    from loyalty import scanner

    typed = ctx.options.get("code")
    if typed is not None:
        return scanner.validate(typed)
    config = ctx.config
    if not config.scanner_port:
        raise ConfigError(_("SCANNER_PORT is not set (or give --code)"))
    if ctx.out.interactive:
        ctx.out.info(_("Scan the customer's QR code or card (waiting {seconds} s)…").format(
            seconds=f"{config.scanner_timeout:g}"))
    return scanner.read_code(config.scanner_port, config.scanner_baud, config.scanner_timeout)


def identify(ctx, mi: MegainsightClient, code: str) -> Identity:
    with exchange.cashier_words(ctx.config, _("identify")):
        identity = mi.identify(code)
    log.info("client %s identified: balance %s, %d offer(s)", identity.client_id, identity.balance,
             len(identity.offers))
    return identity


# ===================================================================== --info
def info(ctx) -> None:
    """The seed's «Информация по карте»: client, balance, offers; nothing calculated or confirmed."""
    code = read_code(ctx)
    identity = identify(ctx, exchange.client(ctx), code)
    till.show_client(ctx, identity)
    ctx.counts["identified"] += 1
    ctx.result = {"client": till.public_client(identity), "balance": as_json(identity.balance),
                  "offers": [till.public_offer(o) for o in identity.offers]}


# ===================================================================== the sale
def sale(ctx) -> None:
    o = ctx.options
    request = checkout.sale_request(o.get("line"), o.get("amount"), o.get("offer"), bool(o.get("all_offers")),
                                    o.get("redeem"), o.get("payment_type"), o.get("receipt_number"))
    interactive = till.is_terminal(ctx)
    if not interactive and not o.get("yes"):
        raise InputError(_("scan-qr confirms a sale only with --yes when no one at a terminal can answer"))
    receipt = request.receipt_number or f"auto-{uuid.uuid4().hex[:12]}"
    existing = store.sale_by_receipt(ctx.journal, receipt)
    request_id = str(uuid.uuid4())
    if existing is not None and existing["state"] not in store.RETRYABLE:
        same_sale(ctx, existing, request.fingerprint())
    code = read_code(ctx)
    mi = exchange.client(ctx)  # the budget starts now that the code is read
    identity = identify(ctx, mi, code)
    if existing is not None and existing["state"] not in store.RETRYABLE:
        same_customer(existing, identity)
        if existing["state"] == "confirmed":
            return report_confirmed(ctx, existing)
        if existing["state"] == "sent":
            return finish_sent(ctx, mi, existing)
        request_id = existing["request_id"]  # written, never sent: the same id is safe with a new body
    till.show_client(ctx, identity)
    calc = calculate(ctx, mi, request, identity, interactive)
    if interactive and not till.ask_confirm(ctx, _("Confirm: to pay {total}?").format(
            total=money(calc.total_to_pay))):
        ctx.counts["declined"] += 1
        ctx.result = {"receipt_number": receipt, "confirmed": False}
        ctx.out.info(_("not confirmed: nothing was sent"))
        return
    confirm(ctx, mi, request, receipt, existing, request_id, identity, calc)


def same_sale(ctx, sale_row: dict[str, Any], fingerprint: str) -> None:
    """The identity of a sale (docs/loyalty.md): the receipt number the till passes, the same
    inputs, the same customer, and a rerun within the till's time (MEGAINSIGHT_ORPHAN_MINUTES);
    anything else with a known receipt number is 65 naming the conflict, never the old answer.
    A sale only written (`intent`, never sent) is simply made again with what is asked now."""
    number, state = sale_row["receipt_number"], sale_row["state"]
    if state == "intent":
        return
    what = _("receipt {number}: already {state}").format(number=number, state=sale_state(state)) + (
        _(" as operation {operation}").format(operation=sale_row["operation_id"]) if sale_row["operation_id"] else "")
    if sale_row["fingerprint"] != fingerprint:
        raise InputError(_("{what} with other lines, offers, points or payment type; a new sale needs a new "
                           "--receipt-number (pass the shift with the number, e.g. 0117/0042)").format(what=what))
    if state == store.SETTLING:
        raise settling(number)
    window = timedelta(minutes=ctx.config.orphan_minutes)
    since = sale_row["confirmed_at"] or sale_row["created_at"]
    if state == "confirmed" and since < stamp(now() - window):
        raise InputError(_("{what} at {since}, longer ago than a rerun (MEGAINSIGHT_ORPHAN_MINUTES {minutes:g}): "
                           "receipt numbers repeat (each shift, each day); pass the shift with the number "
                           "(e.g. 0117/0042) or the fiscal document number").format(
                               what=what, since=since, minutes=ctx.config.orphan_minutes))


def same_customer(sale_row: dict[str, Any], identity: Identity) -> None:
    if sale_row["state"] != "intent" and sale_row["client_id"] != identity.client_id:
        raise InputError(_("receipt {number}: already {state} for another customer; a new sale needs a new "
                           "--receipt-number (e.g. the shift with the number)").format(
                               number=sale_row["receipt_number"], state=sale_state(sale_row["state"])))


def settling(number: str) -> TransientError:
    """`--reconcile` has the sale (the till did not finish it in time): the till sells without."""
    return TransientError(_("receipt {number} is being settled by scan-qr --reconcile (the till did not finish "
                            "it in time): sell without loyalty").format(number=number))


def calculate(ctx, mi: MegainsightClient, request: checkout.SaleRequest, identity: Identity,
              interactive: bool) -> Calculation:
    """Offers and points as the options say (or as the cashier answers), then the calculation."""
    if interactive and not request.offer_ids and not request.all_offers:
        offer_ids = till.ask_offers(ctx, identity.offers)
    else:
        offer_ids = checkout.chosen_offers(request, [offer.id for offer in identity.offers])
    lines = [line.wire() for line in request.lines]
    ask_points = interactive and not request.redeem.most and request.redeem.points == 0
    with exchange.cashier_words(ctx.config, _("calculate")):
        if request.redeem.most or ask_points:
            first = mi.calculate(identity.client_token, lines, offer_ids, Decimal(0))
            most = checkout.points_to_redeem(request.redeem, identity.balance, first.max_redeem) \
                if request.redeem.most else min(first.max_redeem, identity.balance)
            points = till.ask_points(ctx, most) if ask_points else most
            calc = first if points == 0 else mi.calculate(identity.client_token, lines, offer_ids, points)
        else:
            points = checkout.points_to_redeem(request.redeem, identity.balance)
            calc = mi.calculate(identity.client_token, lines, offer_ids, points)
    till.show_calculation(ctx, calc)
    return calc


def confirm(ctx, mi: MegainsightClient, request: checkout.SaleRequest, receipt: str,
            existing: dict[str, Any] | None, request_id: str, identity: Identity, calc: Calculation) -> None:
    journal = ctx.journal
    calculation = {"client": till.public_client(identity), "balance_before": str(identity.balance),
                   "lines": [{"code": l.code, "price": str(l.price), "amount": str(l.amount),
                              "discount": str(l.discount)} for l in calc.lines],
                   "discount": str(calc.discount), "points_redeemed": str(calc.points_redeemed),
                   "points_to_accrue": str(calc.points_to_accrue), "total_to_pay": str(calc.total_to_pay)}
    payload = {"calculation_id": calc.calculation_id,
               "receipt": {"number": receipt, "datetime": stamp(), "payment_type": request.payment_type,
                           "total": as_json(calc.total_to_pay)}}
    sale_row, item = store.write_sale_intent(journal, receipt, existing, request_id, request.fingerprint(),
                                             request.payment_type, identity.client_id, calculation, payload)
    send_confirm(ctx, mi, sale_row, item, payload)


def send_confirm(ctx, mi: MegainsightClient, sale_row: dict[str, Any], item, payload: dict[str, Any]) -> None:
    """Confirm under the sale's request id, with exactly this body (a request id never goes out
    with another body: the service would answer 409 and keep the first)."""
    journal, config, receipt = ctx.journal, ctx.config, sale_row["receipt_number"]
    if not caller_present():
        raise TransientError(_("receipt {number}: the till program went away; nothing was sent").format(
            number=receipt))
    if not store.mark_sent(journal, "sales", sale_row["id"], item, config.budget):
        raise settling(receipt)
    with exchange.keyed_effect(journal, config, "sales", sale_row["id"], item,
                               _("confirm receipt {number}").format(number=receipt),
                               "confirm"):
        operation = mi.confirm(sale_row["request_id"], payload["calculation_id"], payload["receipt"])
    if not store.sale_confirmed(journal, sale_row["id"], item, operation.operation_id, operation.points_redeemed,
                                operation.points_accrued, operation.balance):
        raise settling(receipt)
    ctx.counts["sales_confirmed"] += 1
    finish(ctx, store.sale_by_receipt(journal, receipt), already=False)


def finish_sent(ctx, mi: MegainsightClient, sale_row: dict[str, Any]) -> None:
    """An earlier run sent confirm and died or timed out: ask the service by request id; if it is
    not applied (yet), send the very same request again (same id, same body)."""
    journal, number = ctx.journal, sale_row["receipt_number"]
    if not store.take(journal, "sales", sale_row["id"], ctx.config.budget):
        raise settling(number)
    with exchange.cashier_words(ctx.config, _("look up receipt {number}").format(number=number)):
        found = mi.operations(sale_row["request_id"])
    if found:
        if not record_found(journal, sale_row, found[0]):
            raise settling(number)
        ctx.counts["sales_found_applied"] += 1
        return finish(ctx, store.sale_by_receipt(journal, number), already=True)
    log.info("receipt %s: request %s not applied (yet); sending the same request again", number,
             sale_row["request_id"])
    item = store.outbox_item(journal, "confirm", store.sale_key(sale_row))
    assert item is not None
    send_confirm(ctx, mi, sale_row, item, item.payload)


def record_found(journal, sale_row: dict[str, Any], operation: Operation) -> bool:
    """The service applied an earlier run's confirm: record it as that run would have."""
    calculation = _json(sale_row["calculation"])
    redeemed = operation.points_redeemed if operation.points_redeemed is not None else \
        Decimal(calculation["points_redeemed"])
    accrued = operation.points_accrued if operation.points_accrued is not None else \
        Decimal(calculation["points_to_accrue"])
    balance = operation.balance if operation.balance is not None else \
        Decimal(calculation["balance_before"]) - redeemed + accrued
    item = store.outbox_item(journal, "confirm", store.sale_key(sale_row))
    return store.sale_confirmed(journal, sale_row["id"], item, operation.operation_id, redeemed, accrued, balance,
                                200)


def report_confirmed(ctx, sale_row: dict[str, Any]) -> None:
    """The receipt is already confirmed (same sale, same customer): the one operation, exit 0."""
    ctx.counts["sales_already_confirmed"] += 1
    finish(ctx, sale_row, already=True)


def finish(ctx, sale_row: dict[str, Any], already: bool) -> None:
    calculation = _json(sale_row["calculation"])
    result = {
        "receipt_number": sale_row["receipt_number"],
        "request_id": sale_row["request_id"],
        "client": calculation["client"],
        "balance_before": float(Decimal(calculation["balance_before"])),
        "lines": [{k: (v if k == "code" else float(Decimal(v))) for k, v in line.items()}
                  for line in calculation["lines"]],
        "discount": float(Decimal(calculation["discount"])),
        "points_redeemed": float(Decimal(sale_row["points_redeemed"])),
        "points_accrued": float(Decimal(sale_row["points_accrued"])),
        "balance": float(Decimal(sale_row["balance"])) if sale_row["balance"] is not None else None,
        "total_to_pay": float(Decimal(sale_row["total_to_pay"])),
        "payment_type": sale_row["payment_type"],
        "operation_id": sale_row["operation_id"],
        "already_confirmed": already,
    }
    ctx.result = result
    till.show_sale(ctx, result)


def _json(text: str | None) -> dict[str, Any]:
    import json

    return json.loads(text) if text else {}


# ===================================================================== status and doctor
def status_view(journal) -> dict[str, Any]:
    """Counts for `status`, and what needs a person: sales left unfinished, orphans refunded."""
    counts = store.counts(journal)
    attention = []
    stale = journal.value("""SELECT COUNT(*) FROM loyalty_sales WHERE state IN ('intent', 'sent', 'settling')
                             AND updated_at <= ?""", (stamp(now() - timedelta(minutes=30)),))
    if stale:
        attention.append(ngettext("{count} loyalty sale unfinished for over 30 min: is `scan-qr --reconcile` scheduled?",
                                  "{count} loyalty sales unfinished for over 30 min: is `scan-qr --reconcile` "
                                  "scheduled?", stale).format(count=stale))
    orphans = journal.value("""SELECT COUNT(*) FROM notifications WHERE connector = 'loyalty'
                               AND kind = 'orphan_refunded' AND seen_at IS NULL""")
    if orphans:
        attention.append(ngettext("{count} loyalty operation refunded as never finished at the till "
                                  "(maorders loyalty list; status --ack when seen)",
                                  "{count} loyalty operations refunded as never finished at the till "
                                  "(maorders loyalty list; status --ack when seen)", orphans).format(count=orphans))
    return {"counts": counts, "attention": attention}


def doctor_checks(settings, budget: Budget) -> list[dict[str, Any]]:
    """A real call that changes nothing and needs no customer: operations by a fresh request id.

    200 with an empty list proves the URL, the network token and the place id.
    """
    config = settings.of("loyalty")
    general = settings.general
    checks = []
    mi = exchange.standalone(config, min(general.http_timeout, config.budget), general.http_retries,
                             Budget(min(max(budget.left(), 0.1), config.budget)))
    try:
        mi.operations(str(uuid.uuid4()))
        checks.append({"check": "megainsight", "ok": True,
                       "detail": _("{url}: token and place id {place} accepted").format(
                           url=config.url, place=config.place_id)})
    except (RefusedError, TransientError, PermanentError) as exc:
        checks.append({"check": "megainsight", "ok": False, "detail": str(exc),
                       "exit_code": exc.exit_code or 69})
    finally:
        mi.remote.close()
    if config.scanner_port:
        checks.append(_scanner_check(config))
    return checks


def _scanner_check(config) -> dict[str, Any]:
    from loyalty import scanner
    from maorders.errors import MaordersError

    try:
        scanner.open_port(config.scanner_port, config.scanner_baud).close()
    except MaordersError as exc:
        return {"check": "scanner", "ok": False, "detail": str(exc), "exit_code": exc.exit_code}
    return {"check": "scanner", "ok": True, "detail": _("{port} opens at {baud} baud").format(
        port=config.scanner_port, baud=config.scanner_baud)}
