"""MegApteka's part of `maorders demo` and `maorders sandbox`."""

from __future__ import annotations

from typing import Any, Iterator

from maorders.demo import DemoPart, SandboxPart
from maorders.i18n import N_, _
from maorders.megapteka.words import booking_status, booking_word, outcome_word

STOCK = """sku;name;manufacturer;department;quantity;price;barcode;protek_code;katren_code;egk_code;expires_at
A-1001;Нурофен таб. 200мг №20;Reckitt;Основной;7;189,50;4601234567890;12345;;;2027-05-01
A-1002;Арбидол капс. 100мг №20;Фармстандарт;Основной;3;412,00;4602345678901;;;;2026-12-01
A-1003;Терафлю пор. №10;GSK;Основной;5;520,30;;55501;;;2027-01-15
A-1004;Витамин C 500мг №30;Эвалар;Основной;10;99,90;;;77001;;2027-08-01
A-1005;Бинт стерильный 7м х 14см;Навтекс;Основной;0;45,00;4603456789012;;;;
A-1006;Ношпа таб. 40мг №24;Sanofi;Склад;20;155,00;4604567890123;;;;
A-1007;Пластырь без кодов;Неизвестный;Основной;4;12,00;;;;;
"""


def environment(url: str, stock_file: str = "") -> dict[str, str]:
    """MegApteka's settings for the built-in emulator."""
    return {
        "MEGAPTEKA_URL": url,
        "MEGAPTEKA_PHARMACY_CODE": "1001",
        "MEGAPTEKA_SECRET": "s3cret",
        "MEGAPTEKA_COMPANY_INFO": "Московская область, Подольск, Тест Аптека",
        "MEGAPTEKA_STOCK_FILE": stock_file,
        "MEGAPTEKA_DEPARTMENT": "Основной",
        "MEGAPTEKA_BOOKING_TTL_HOURS": "48",
    }


def _line(sku: str, barcode: str, quantity: int, price: float, name: str = "") -> dict[str, Any]:
    return {"sku": sku, "name": name or sku, "barcode": barcode, "protek_code": "", "katren_code": "",
            "egk_code": "", "quantity": quantity, "price": price}


class PharmacyDemo(DemoPart):
    """Stock out, orders in, booked all / part / none, statuses both ways, a booking expires."""

    def __init__(self, demo: Any) -> None:
        from maorders.megapteka.emulator import serve

        super().__init__(demo)
        self.server, self.site = serve()
        self.site.rate_limit_rps = 0
        (demo.workdir / "stock.csv").write_bytes(STOCK.encode("cp1251"))
        self._summary: dict[str, Any] = {}

    def environment(self) -> dict[str, str]:
        return environment(self.server.url, str(self.demo.workdir / "stock.csv"))

    def step(self, title: str, command: str, **overrides: str) -> int:
        return self.demo.step(title, command, only=["megapteka"], **overrides)

    def operator(self, title: str, action: str, number: str) -> None:
        from maorders.megapteka import desk

        self.demo.out.info("\n" + _("== {title}: maorders {command}").format(
            title=_(title), command=f"bookings {action} {number}"))
        journal = self.demo.app().open_journal()
        try:
            result = desk.act(journal, number, action)
        finally:
            journal.close()
        self.demo.out.info(_("{number}: {booking}, «{state}»").format(
            number=number, booking=booking_word(result["booking_state"]), state=result["order_state"]))
        self.demo.record(title, f"bookings {action} {number}", 0)

    def run(self) -> list[int]:
        site = self.site
        codes = [self.step(N_("Upload stock (cp1251, decimal comma; one row without codes is skipped)"), "export-stock")]
        full = site.add_order([_line("A-1001", "4601234567890", 2, 189.5)], {"name": "Иванова А.", "phone": "+79990001122"})
        part = site.add_order([_line("A-1002", "4602345678901", 5, 412.0), _line("", "", 1, 55.0, "Нет такого")
                               | {"protek_code": "99999"}], {"name": "Петров П.", "phone": "+79990002233"})
        none = site.add_order([_line("A-1005", "4603456789012", 1, 45.0)], {"name": "Сидоров С.", "phone": "+79990003344"})
        codes.append(self.step(N_("Three orders arrive: all in stock, part, none"), "pull-orders"))
        codes.append(self.step(N_("Statuses 1, 1, 3 go to the site"), "push-statuses"))
        self.operator(N_("The partial order is assembled; ask the customer"), "request-confirmation", part["number"])
        codes.append(self.step(N_("Status 7 with the items that can be given"), "push-statuses"))
        site.confirm_order(part["id"])
        codes.append(self.step(N_("The customer accepts (event 8)"), "push-statuses"))
        self.operator(N_("Assembled"), "ready", part["number"])
        self.operator(N_("Sold at the till"), "issue", part["number"])
        site.cancel_order(full["id"])
        codes.append(self.step(N_("Statuses 5 and 2 sent; the customer cancels the other order (event 3)"), "push-statuses"))
        late = site.add_order([_line("A-1004", "", 3, 99.9) | {"katren_code": "77001"}], {"name": "Орлова О."})
        codes.append(self.step(N_("A fourth order, matched by its Катрен code"), "pull-orders"))
        codes.append(self.step(N_("Nobody came for it: keeping time 0 h"), "expire-bookings",
                               MEGAPTEKA_BOOKING_TTL_HOURS="0"))
        codes.append(self.step(N_("Status 3 for the expired booking"), "push-statuses"))
        codes.append(self.step(N_("Stock again, less nothing now held"), "export-stock"))
        self._show(full, part, none, late)
        return codes

    def _show(self, *orders: dict[str, Any]) -> None:
        from maorders.megapteka import desk, store

        journal = self.demo.app().open_journal()
        try:
            rows = [desk.public(r) for r in store.list_orders(journal)]
        finally:
            journal.close()
        statuses = {o["number"]: [s["status"] for s in self.site.order_statuses.get(o["id"], [])] for o in orders}
        out = self.demo.out
        out.table("\n" + _("Bookings in the journal"), [_("Order"), _("Booking"), _("Order state"), _("Booked"),
                                                         _("Site statuses")],
                  [(r["number"], booking_word(r["booking_state"]), r["order_state"], outcome_word(r["outcome"]),
                    " → ".join(booking_status(s) for s in statuses.get(r["number"], []))) for r in rows])
        accepted = self.site.counters
        out.result(_("MegApteka: stock items on the site {count}; the site accepted stock parts {parts}, "
                     "completed stock uploads {uploads}, statuses {statuses}").format(
            count=len(self.site.stock_items), parts=accepted["stock_part"],
            uploads=accepted["stock_snapshot_complete"], statuses=accepted["status"]))
        self._summary = {"bookings": rows, "site_statuses": statuses, "site_counters": dict(self.site.counters)}

    def summary(self) -> dict[str, Any]:
        return self._summary

    def close(self) -> None:
        self.server.stop()


def sandbox(ports: Iterator[int]) -> SandboxPart:
    """The site's emulator, a demo stock file for export-stock, and the action `order` (a new
    customer order in the site's feed, for pull-orders)."""
    import tempfile
    from pathlib import Path

    from maorders.emulation import EmulatorServer
    from maorders.megapteka.emulator import BASE_PATH, MegaptekaEmulator

    site = MegaptekaEmulator()
    server = EmulatorServer(site, next(ports), BASE_PATH).start()
    stock = Path(tempfile.mkdtemp(prefix="maorders-sandbox-megapteka-")) / "stock.csv"
    stock.write_bytes(STOCK.encode("cp1251"))  # the shape a pharmacy's program writes (cp1251, decimal comma)
    env = {k: v for k, v in environment(server.url, str(stock)).items() if k != "MEGAPTEKA_BOOKING_TTL_HOURS"}

    def order() -> str:
        added = site.add_order([_line("A-1001", "4601234567890", 1, 189.5, "Нурофен таб. 200мг №20")])
        return _("Order {number} is waiting on the site: maorders pull-orders books it").format(number=added["number"])

    return SandboxPart([server], env, [_("MegApteka emulator: the demo stock file {file} (export-stock uploads it)")
                                       .format(file=stock)],
                       {"order": (N_("a new internet order on the MegApteka site"), order)})
