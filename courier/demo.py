"""The courier's part of `maorders demo` and `maorders sandbox`: RetailCRM and MeaSoft emulators."""

from __future__ import annotations

from typing import Any, Iterator

from courier import words
from maorders.demo import DemoPart, SandboxPart
from maorders.i18n import N_, _, money
from maorders.words import counts_in_words


def environment(measoft_url: str, retailcrm_url: str) -> dict[str, str]:
    """The courier's settings for the built-in MeaSoft and RetailCRM emulators."""
    return {
        "RETAILCRM_URL": retailcrm_url,
        "RETAILCRM_API_KEY": "crm-key",
        "RETAILCRM_SITE": "shop",
        "MEASOFT_URL": measoft_url,
        "MEASOFT_LOGIN": "test",
        "MEASOFT_PASSWORD": "testm",
        "MEASOFT_EXTRA": "8",
        "COURIER_SEND_STATUSES": "SentMeaSoft",
        "COURIER_DELIVERY_TYPES": "courier,incity",
        "COURIER_STATUS_MAP": "COMPLETE=complete,PARTIALLY=partially-delivered,CANCELED=cancel-other,RETURNED=returned",
        "COURIER_COD_PAYMENT_TYPES": "cash,bank-card",
        "COURIER_PAYTYPE_MAP": "CASH=cash,CARD=bank-card",
        "COURIER_PAYMENT_STATUS": "paid",
        "COURIER_SYNC_PAYMENTS": "yes",
    }


class CourierDemo(DemoPart):
    """RetailCRM orders to MeaSoft and the delivery statuses and payments back."""

    def __init__(self, demo: Any) -> None:
        from courier.emulator import serve_measoft, serve_retailcrm

        super().__init__(demo)
        self.measoft_server, self.measoft = serve_measoft()
        self.crm_server, self.crm = serve_retailcrm()  # RetailCRM's 10 requests a second stay on
        self._summary: dict[str, Any] = {}

    def environment(self) -> dict[str, str]:
        return environment(self.measoft_server.url, self.crm_server.url)

    def step(self, title: str, command: str) -> int:
        return self.demo.step(title, command, only=["courier"])

    def run(self) -> list[int]:
        crm, measoft = self.crm, self.measoft
        sent = crm.create_order(status="SentMeaSoft")
        bad = crm.create_order(status="SentMeaSoft", phone="12-34")
        moved = crm.create_order(status="SentMeaSoft", lastName="О'Нил «Ёлка»")
        codes = [self.step(N_("Three CRM orders ready for the courier, one with a bad phone"), "pull-orders")]
        crm.manager_edit(moved["id"], delivery={"code": "pickup"})
        crm.manager_edit(bad["id"], phone="+7 903 111-22-33")
        codes.append(self.step(N_("The customer picks one up himself (cancel); the bad phone is fixed"),
                               "pull-orders"))
        measoft.set_status(sent["number"], "COMPLETE", paytype="CARD")
        measoft.set_status(bad["number"], "PARTIALLY", price=450)
        codes.append(self.step(N_("Delivered (paid by card at the door) and partially delivered"), "push-statuses"))
        self._show()
        return codes

    def _show(self) -> None:
        from courier import desk

        journal = self.demo.app().open_journal()
        try:
            rows = desk.rows(journal)
        finally:
            journal.close()
        out = self.demo.out
        out.table("\n" + _("Shipments in the journal"), [_("CRM order"), _("MeaSoft orderno"), _("State"),
                                                          _("MeaSoft status"), _("CRM status"), _("CRM payments")],
                  [(r["crm_number"], r["orderno"], words.shipment_state(r["state"]),
                    f"{r['measoft_status'] or '-'} {r['measoft_title'] or ''}".strip(), r["crm_status"] or "-",
                    self._payments(r["crm_order_id"])) for r in rows])
        out.result(_("MeaSoft accepted: {measoft}; RetailCRM: {crm}").format(
            measoft=counts_in_words(self.measoft.counters, words.EMULATOR_COUNTS),
            crm=counts_in_words(self.crm.counters, words.EMULATOR_COUNTS)))
        self._summary = {"shipments": rows}

    def _payments(self, crm_order_id: int) -> str:
        """The order's payments in the CRM: the shop's payment type code, the sum, the status
        (RetailCRM's standard ones in words, a shop's own code as it is)."""
        return "; ".join(f"{p['type']} {money(p['amount'])}, {words.payment_status(p['status'])}"
                         for p in self.crm.orders[crm_order_id]["payments"].values())

    def summary(self) -> dict[str, Any]:
        return self._summary

    def close(self) -> None:
        self.measoft_server.stop()
        self.crm_server.stop()


def sandbox(ports: Iterator[int]) -> SandboxPart:
    from courier.emulator import MeasoftEmulator, RetailcrmEmulator
    from maorders.emulation import EmulatorServer

    measoft = EmulatorServer(MeasoftEmulator(), next(ports), "/api/").start()
    crm = EmulatorServer(RetailcrmEmulator(), next(ports), "").start()
    return SandboxPart([measoft, crm], environment(measoft.url, crm.url),
                       [_("MeaSoft emulator: the login and password are the public test cabinet's (test, testm)")])
