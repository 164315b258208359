"""The loyalty part of `maorders demo` and `maorders sandbox`: a Megainsight emulator and a till."""

from __future__ import annotations

from typing import Any, Iterator

from maorders.demo import DemoPart, SandboxPart
from maorders.i18n import _, money, points
from maorders.words import counts_in_words

SANDBOX_QR_TTL_S = 24 * 3600
SANDBOX_CARD = "2600000012345"
CRASH_BUDGET_S = 2  # the till that dies mid-confirm: its hold on the sale ends this soon after


def environment(url: str) -> dict[str, str]:
    from loyalty.emulator import PLACE_ID, TOKEN

    return {"MEGAINSIGHT_URL": url, "MEGAINSIGHT_TOKEN": TOKEN, "MEGAINSIGHT_PLACE_ID": PLACE_ID,
            "MEGAINSIGHT_BUDGET": "15", "MEGAINSIGHT_ORPHAN_MINUTES": "15"}


def sale_options(**values: Any) -> dict[str, Any]:
    return {"yes": True, **values}


class LoyaltyDemo(DemoPart):
    """The seed's till: card info, a sale with an offer and points, a rerun, a fill-up, a refund, an orphan."""

    def __init__(self, demo: Any) -> None:
        from loyalty.emulator import sample_client, serve

        super().__init__(demo)
        self.server, self.app = serve()
        self.client = sample_client(self.app)
        self._summary: dict[str, Any] = {}

    def environment(self) -> dict[str, str]:
        return environment(self.server.url)

    def step(self, title: str, options: dict[str, Any], **overrides: str) -> int:
        return self.demo.step(title, "scan-qr", only=["loyalty"], options=options, **overrides)

    def run(self) -> list[int]:
        app, card = self.app, self.client.card
        codes = [self.step(_("Card info, nothing sold («Информация по карте»)"),
                           {"info": True, "code": app.issue_qr(self.client)})]
        sale = sale_options(code=app.issue_qr(self.client), line=["AI95:40:56.00", "2000000001234:1:120.00:shop"],
                            offer=["of-1", "of-2"], redeem="100", receipt_number="0042", payment_type="cash")
        codes.append(self.step(_("AI-95 40 l and a coffee, both offers, 100 points redeemed"), sale))
        codes.append(self.step(_("The till runs the same receipt again: the one operation, nothing twice"), sale))
        codes.append(self.step(_("Fill-up (fuel first, receipt after), card, accrue only («Не списывать»)"),
                               sale_options(code=card, line=["AI95:37.52:56.00"], receipt_number="0043",
                                            payment_type="card")))
        first = next(op for op in app.purchases() if op.receipt_number == "0042")
        codes.append(self.step(_("Fuelling stopped at 35 l: 5 l refunded"), {"refund": first.id, "amount": "264.50",
                                                                           "receipt_number": "R-0042", "yes": True}))
        app.faults.drop_after_effect = 1  # the service applies the confirm, the till never hears back
        codes.append(self.step(_("The till dies while the service confirms receipt 0044 (75: outcome unknown)"),
                               sale_options(code=card, amount="500.00", receipt_number="0044"),
                               MAORDERS_HTTP_RETRIES="0", MEGAINSIGHT_BUDGET=str(CRASH_BUDGET_S)))
        self._till_time_over("0044")
        codes.append(self.step(_("Scheduled reconcile: the operation the till never finished is refunded"),
                               {"reconcile": True}, MEGAINSIGHT_ORPHAN_MINUTES="0"))
        self._show()
        return [0 if code == 75 and n == 5 else code for n, code in enumerate(codes)]

    def _till_time_over(self, receipt: str) -> None:
        """The dead till's hold on its sale (its budget) passes before the reconcile may take it."""
        import time

        from loyalty import store
        from maorders.clock import stamp

        journal = self.demo.app().open_journal()
        try:
            deadline = time.monotonic() + CRASH_BUDGET_S + 3
            while time.monotonic() < deadline:
                sale = store.sale_by_receipt(journal, receipt)
                if sale is None or sale["updated_at"] <= stamp():
                    return
                time.sleep(0.1)
        finally:
            journal.close()

    def _show(self) -> None:
        from loyalty import desk, words

        journal = self.demo.app().open_journal()
        try:
            sales = desk.rows(journal)
        finally:
            journal.close()
        self.demo.out.table("\n" + _("Loyalty sales in the journal"),
                            [_("Receipt"), _("State"), _("Operation"), _("To pay"), _("Redeemed"), _("Accrued"),
                             _("Balance")],
                            [(s["receipt_number"], words.sale_state(s["state"]), s["operation_id"] or "-",
                              money(s["total_to_pay"]), points(s["points_redeemed"]) or "-",
                              points(s["points_accrued"]) or "-", points(s["balance"]) or "-")
                             for s in reversed(sales)])
        self.demo.out.info(_("Megainsight: {counters}; the client's balance now {balance}").format(
            counters=counts_in_words(dict(sorted(self.app.counters.items())), words.EMULATOR_COUNTERS), balance=points(self.client.balance)))
        self._summary = {"loyalty_sales": sales, "loyalty_counters": dict(self.app.counters)}

    def summary(self) -> dict[str, Any]:
        return self._summary

    def close(self) -> None:
        self.server.stop()


def sandbox(ports: Iterator[int]) -> SandboxPart:
    from loyalty.emulator import sample_client, serve

    server, app = serve(next(ports))
    client = sample_client(app)
    # a second card that is not shaped like a phone number, so the redaction of output leaves it readable
    card = app.add_client("Мария", card=SANDBOX_CARD, balance="300.00", offers=client.offers).card
    code = app.issue_qr(client, ttl=SANDBOX_QR_TTL_S)
    return SandboxPart([server], environment(server.url),
                       [_("(Megainsight: card {card}, or the QR text {code}, valid 24 h: {command})").format(
                           card=card, code=code,
                           command=f"maorders scan-qr --code {card} --line AI95:40:56.00 --offer of-1 --yes")])
