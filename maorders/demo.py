"""`maorders demo` and `maorders sandbox`: the real passes against the built-in emulators.

The demo needs no settings: it writes its own env file and journal in a work
folder, ignores the process environment, and runs every pass as Task Scheduler
would, printing what each one did.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from maorders.runner import AppState, run_pass

STOCK = """sku;name;manufacturer;department;quantity;price;barcode;protek_code;katren_code;egk_code;expires_at
A-1001;Нурофен таб. 200мг №20;Reckitt;Основной;7;189,50;4601234567890;12345;;;2027-05-01
A-1002;Арбидол капс. 100мг №20;Фармстандарт;Основной;3;412,00;4602345678901;;;;2026-12-01
A-1003;Терафлю пор. №10;GSK;Основной;5;520,30;;55501;;;2027-01-15
A-1004;Витамин C 500мг №30;Эвалар;Основной;10;99,90;;;77001;;2027-08-01
A-1005;Бинт стерильный 7м х 14см;Навтекс;Основной;0;45,00;4603456789012;;;;
A-1006;Ношпа таб. 40мг №24;Sanofi;Склад;20;155,00;4604567890123;;;;
A-1007;Пластырь без кодов;Неизвестный;Основной;4;12,00;;;;;
"""


def demo_environment(workdir: Path, megapteka_url: str, measoft_url: str | None = None,
                     retailcrm_url: str | None = None) -> dict[str, str]:
    courier = courier_environment(measoft_url, retailcrm_url) if measoft_url and retailcrm_url else {}
    return courier | {
        "MAORDERS_JOURNAL": str(workdir / "journal.db"),
        "MAORDERS_LOG_DIR": str(workdir / "logs"),
        "MAORDERS_HTTP_TIMEOUT": "5",
        "MAORDERS_HTTP_RETRIES": "3",
        "MEGAPTEKA_URL": megapteka_url,
        "MEGAPTEKA_PHARMACY_CODE": "1001",
        "MEGAPTEKA_SECRET": "s3cret",
        "MEGAPTEKA_COMPANY_INFO": "Московская область, Подольск, Тест Аптека",
        "MEGAPTEKA_STOCK_FILE": str(workdir / "stock.csv"),
        "MEGAPTEKA_DEPARTMENT": "Основной",
        "MEGAPTEKA_BOOKING_TTL_HOURS": "48",
    }


def courier_environment(measoft_url: str, retailcrm_url: str) -> dict[str, str]:
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


def write_env_file(path: Path, values: dict[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")


def _line(sku: str, barcode: str, quantity: int, price: float, name: str = "") -> dict[str, Any]:
    return {"sku": sku, "name": name or sku, "barcode": barcode, "protek_code": "", "katren_code": "",
            "egk_code": "", "quantity": quantity, "price": price}


class Demo:
    def __init__(self, parent: AppState, workdir: Path):
        from courier.emulator import serve_measoft, serve_retailcrm
        from maorders.megapteka.emulator import serve

        self.out = parent.output
        self.workdir = workdir
        self.server, self.site = serve()
        self.site.rate_limit_rps = 0
        self.measoft_server, self.measoft = serve_measoft()
        self.crm_server, self.crm = serve_retailcrm()  # RetailCRM's 10 requests a second stay on
        self.env = demo_environment(workdir, self.server.url, self.measoft_server.url, self.crm_server.url)
        write_env_file(workdir / "maorders.env", self.env)
        (workdir / "stock.csv").write_bytes(STOCK.encode("cp1251"))
        self.results: list[dict[str, Any]] = []

    def app(self, **overrides: str) -> AppState:
        from maorders import settings

        state = AppState(self.out, self.workdir / "maorders.env")
        state._settings = settings.load(state.env_file, environ=overrides)  # the real environment stays out
        return state

    def step(self, title: str, command: str, **overrides: str) -> int:
        self.out.info(f"\n== {title}: maorders {command}")
        code = run_pass(self.app(**overrides), command)
        self.results.append({"step": title, "command": command, "exit_code": code})
        return code

    def operator(self, title: str, action: str, number: str) -> None:
        from maorders.megapteka import desk

        self.out.info(f"\n== {title}: maorders bookings {action} {number}")
        journal = self.app().open_journal()
        try:
            result = desk.act(journal, number, action)
        finally:
            journal.close()
        self.out.info(f"{number}: booking {result['booking_state']}, «{result['order_state']}»")
        self.results.append({"step": title, "command": f"bookings {action} {number}", "exit_code": 0})

    def run(self) -> int:
        site = self.site
        codes = [self.step("Upload stock (cp1251, decimal comma; one row without codes is skipped)", "export-stock")]
        full = site.add_order([_line("A-1001", "4601234567890", 2, 189.5)], {"name": "Иванова А.", "phone": "+79990001122"})
        part = site.add_order([_line("A-1002", "4602345678901", 5, 412.0), _line("", "", 1, 55.0, "Нет такого")
                               | {"protek_code": "99999"}], {"name": "Петров П.", "phone": "+79990002233"})
        none = site.add_order([_line("A-1005", "4603456789012", 1, 45.0)], {"name": "Сидоров С.", "phone": "+79990003344"})
        codes.append(self.step("Three orders arrive: all in stock, part, none", "pull-orders"))
        codes.append(self.step("Statuses 1, 1, 3 go to the site", "push-statuses"))
        self.operator("The partial order is assembled; ask the customer", "request-confirmation", part["number"])
        codes.append(self.step("Status 7 with the items that can be given", "push-statuses"))
        site.confirm_order(part["id"])
        codes.append(self.step("The customer accepts (event 8)", "push-statuses"))
        self.operator("Assembled", "ready", part["number"])
        self.operator("Sold at the till", "issue", part["number"])
        site.cancel_order(full["id"])
        codes.append(self.step("Statuses 5 and 2 sent; the customer cancels the other order (event 3)", "push-statuses"))
        late = site.add_order([_line("A-1004", "", 3, 99.9) | {"katren_code": "77001"}], {"name": "Орлова О."})
        codes.append(self.step("A fourth order, matched by its Катрен code", "pull-orders"))
        codes.append(self.step("Nobody came for it: keeping time 0 h", "expire-bookings",
                               MEGAPTEKA_BOOKING_TTL_HOURS="0"))
        codes.append(self.step("Status 3 for the expired booking", "push-statuses"))
        codes.append(self.step("Stock again, less nothing now held", "export-stock"))
        self._show(full, part, none, late)
        codes += self.run_courier()
        return max(codes) if any(codes) else 0

    def run_courier(self) -> list[int]:
        """RetailCRM orders to MeaSoft and the delivery statuses and payments back."""
        crm, measoft = self.crm, self.measoft
        sent = crm.create_order(status="SentMeaSoft")
        bad = crm.create_order(status="SentMeaSoft", phone="12-34")
        moved = crm.create_order(status="SentMeaSoft", lastName="О'Нил «Ёлка»")
        codes = [self.step("Three CRM orders ready for the courier, one with a bad phone", "pull-orders")]
        crm.manager_edit(moved["id"], delivery={"code": "pickup"})
        crm.manager_edit(bad["id"], phone="+7 903 111-22-33")
        codes.append(self.step("The customer picks one up himself (cancel); the bad phone is fixed",
                               "pull-orders"))
        measoft.set_status(sent["number"], "COMPLETE", paytype="CARD")
        measoft.set_status(bad["number"], "PARTIALLY", price=450)
        codes.append(self.step("Delivered (paid by card at the door) and partially delivered", "push-statuses"))
        self._show_shipments(sent, bad, moved)
        return codes

    def _show_shipments(self, *orders: dict[str, Any]) -> None:
        from courier import desk

        journal = self.app().open_journal()
        try:
            rows = desk.rows(journal)
        finally:
            journal.close()
        self.out.table("\nShipments in the journal", ["CRM order", "MeaSoft orderno", "state", "MeaSoft status",
                                                      "CRM status", "CRM payments"],
                       [(r["crm_number"], r["orderno"], r["state"], r["measoft_status"] or "-", r["crm_status"] or "-",
                         ", ".join(f"{p['type']} {p['amount']} {p['status']}" for p in self.crm.orders[
                             r["crm_order_id"]]["payments"].values())) for r in rows])
        self.out.info(f"MeaSoft accepted: {dict(self.measoft.counters)}; RetailCRM: {dict(self.crm.counters)}")
        self.summary["shipments"] = rows

    def _show(self, *orders: dict[str, Any]) -> None:
        from maorders.megapteka import desk, store

        journal = self.app().open_journal()
        try:
            rows = [desk.public(r) for r in store.list_orders(journal)]
        finally:
            journal.close()
        statuses = {o["number"]: [s["status"] for s in self.site.order_statuses.get(o["id"], [])] for o in orders}
        self.out.table("\nBookings in the journal", ["number", "booking", "order state", "outcome", "site statuses"],
                       [(r["number"], r["booking_state"] or "-", r["order_state"], r["outcome"],
                         " → ".join(map(str, statuses.get(r["number"], [])))) for r in rows])
        self.out.info(f"The site shows {len(self.site.stock_items)} stock items; "
                      f"effects it accepted: {dict(self.site.counters)}")
        self.out.info(f"Journal, logs and settings of this demo: {self.workdir}")
        self.summary = {"bookings": rows, "site_statuses": statuses, "site_counters": dict(self.site.counters)}

    def close(self) -> None:
        self.server.stop()
        self.measoft_server.stop()
        self.crm_server.stop()


def run(parent: AppState, workdir: Path | None) -> int:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="maorders-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    json_mode = parent.output.json_mode
    parent.output.json_mode = False  # the demo's passes print for people; one object at the end
    demo = Demo(parent, workdir)
    try:
        code = demo.run()
    finally:
        demo.close()
        parent.output.json_mode = json_mode
    if json_mode:
        parent.output.emit_json({"command": "demo", "exit_code": code, "workdir": str(workdir),
                                 "steps": demo.results, **demo.summary})
    return code


def sandbox(parent: AppState, port: int) -> int:
    from courier.emulator import MeasoftEmulator, RetailcrmEmulator
    from maorders.emulation import EmulatorServer
    from maorders.megapteka.emulator import BASE_PATH, MegaptekaEmulator

    servers = [EmulatorServer(MegaptekaEmulator(), port, BASE_PATH).start(),
               EmulatorServer(MeasoftEmulator(), port + 1 if port else 0, "/api/").start(),
               EmulatorServer(RetailcrmEmulator(), port + 2 if port else 0, "").start()]
    out = parent.output
    out.info("Emulators running (Ctrl+C stops them). Settings to try them with:")
    out.info(f"MEGAPTEKA_URL={servers[0].url}\nMEGAPTEKA_PHARMACY_CODE=1001\nMEGAPTEKA_SECRET=s3cret")
    out.info("".join(f"{k}={v}\n" for k, v in courier_environment(servers[1].url, servers[2].url).items()).rstrip())
    out.info("(the masked MeaSoft password is the public test cabinet's: testm)")
    out.info(f"Fault knobs: POST {servers[0].url}/_emulator/faults  counters: GET {servers[0].url}/_emulator/counters")
    for server in servers[1:]:
        root = f"http://127.0.0.1:{server.port}"
        out.info(f"Fault knobs: POST {root}/_emulator/faults  counters: GET {root}/_emulator/counters")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        for server in servers:
            server.stop()
