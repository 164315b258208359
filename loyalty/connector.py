"""The loyalty connector (gas-station till ↔ Megainsight) as the kernel sees it (`maorders.connector`)."""

from __future__ import annotations

from typing import Optional

from enum import Enum

import typer

from maorders.connector import Connector, Option, Pass

class PaymentType(str, Enum):
    """One payment type per sale, as the seed's till allows (a choice: anything else is usage, 2)."""

    cash = "cash"
    card = "card"


SCAN_QR_OPTIONS = (
    Option("code", Optional[str], typer.Option(
        None, "--code", metavar="TEXT", help="The customer's code as typed (QR text or card number) instead of "
        "reading SCANNER_PORT. Example: --code 79093184923")),
    Option("line", Optional[list[str]], typer.Option(
        None, "--line", metavar="CODE:QTY:PRICE[:fuel|shop[:NAME]]", help="A receipt line (repeatable); kind fuel "
        "when left out. Example: --line AI95:40:56.00 --line 2000000001234:1:120.00:shop:Капучино")),
    Option("amount", Optional[str], typer.Option(
        None, "--amount", metavar="SUM", help="A sale: one shop line of this sum. With --refund: the part to "
        "refund (default: all that is left). Example: --amount 280.00")),
    Option("offer", Optional[list[str]], typer.Option(
        None, "--offer", metavar="ID", help="Apply this personal offer of the client (repeatable). "
        "Example: --offer of-1")),
    Option("all_offers", bool, typer.Option(
        False, "--all-offers", help="Apply every offer the client has. Example: --all-offers")),
    Option("redeem", Optional[str], typer.Option(
        None, "--redeem", metavar="POINTS|max", help="Points to redeem: 0 «Не списывать» (accrue only, the "
        "default), a number, or max (the lower of what the receipt allows and the balance). Example: --redeem max")),
    Option("receipt_number", Optional[str], typer.Option(
        None, "--receipt-number", metavar="N", help="The till's receipt number: a rerun of the same receipt "
        "never confirms twice (with --refund: the return receipt). Example: --receipt-number 0042")),
    Option("payment_type", Optional[PaymentType], typer.Option(
        None, "--payment-type", case_sensitive=False, help="How the receipt is paid, one type per sale "
        "(default cash). Example: --payment-type card")),
    Option("yes", bool, typer.Option(
        False, "--yes", help="Confirm without asking (for till programs). Example: --yes")),
    Option("info", bool, typer.Option(
        False, "--info", help="Card info only: client, balance and offers; nothing calculated or confirmed. "
        "Example: maorders scan-qr --info")),
    Option("refund", Optional[str], typer.Option(
        None, "--refund", metavar="OPERATION", help="Refund an unfinished fuelling: the operation id scan-qr "
        "printed. Example: --refund op-17 --amount 280.00 --yes")),
    Option("reconcile", bool, typer.Option(
        False, "--reconcile", help="Scheduled: settle sales and refunds a killed run left unfinished; refund "
        "applied sales the till never completed. Example: maorders scan-qr --reconcile")),
)

CONNECTOR = Connector(
    name="loyalty",
    purpose="gas-station till ↔ Megainsight loyalty: scan the customer's QR or card, offers, points, refunds",
    switched_on_by=("MEGAINSIGHT_URL",),
    settings="loyalty.settings:read",
    secrets=("token",),
    migrations="loyalty.migrations:migrations",
    passes={
        "scan-qr": Pass("loyalty.passes:scan_qr",
                        "read the customer's QR or card, show balance and offers, calculate and confirm the "
                        "sale (accrue or redeem points); --info, --refund, --reconcile.",
                        example="--code … --line 95:30:56.50 --yes",
                        options=SCAN_QR_OPTIONS, lock="loyalty.passes:lock_name",
                        alerts="loyalty.passes:delivers_alerts", attended="loyalty.passes:attended",
                        resident=True),
    },
    groups={"loyalty": "loyalty.cli:app"},
    status="loyalty.passes:status_view",
    doctor="loyalty.passes:doctor_checks",
    demo="loyalty.demo:LoyaltyDemo",
    sandbox="loyalty.demo:sandbox",
    desk="loyalty.web:PAGES",
    words="loyalty.words:WORDS",
)
