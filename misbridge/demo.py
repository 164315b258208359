"""The cash desk's part of `maorders demo` and `maorders sandbox`: ТМ:МИС, sms.ru and SMTP emulators."""

from __future__ import annotations

from typing import Any, Iterator

from maorders.demo import DemoPart, SandboxPart
from maorders.i18n import N_, _, ngettext
from misbridge.emulator import API_ID, CASHDESK, OGRN, OID, SmtpServer, serve_mis, serve_sms, service
from misbridge.words import EMULATOR_COUNTS, PAY, RECEIVE, counts_in_words, in_words, list_in_words, notes_in_words


def environment(mis_url: str, sms_url: str, smtp_port: int) -> dict[str, str]:
    """The cash desk's settings for the built-in emulators (a local SMTP relay: no TLS, no login)."""
    return {"MIS_URL": mis_url, "MIS_OGRN": OGRN, "MIS_OID": OID, "MIS_CASHDESK_GUID": CASHDESK,
            "MIS_CASHDESK_NAME": "ККМ Филиал", "MIS_SHOP": "ГАУЗ МО «БСП № 1», ул. Горького д. 25А",
            "MIS_RETENTION_DAYS": "30", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port),
            "SMTP_STARTTLS": "no", "SMTP_FROM": "kassa@clinic.example", "SMS_URL": sms_url,
            "SMS_API_ID": API_ID, "SMS_SENDER": "Clinic"}


class ClinicDemo(DemoPart):
    """A day at the clinic's cash desk: invoices, payments, an annulment, the MIS down and back."""

    def __init__(self, demo: Any) -> None:
        super().__init__(demo)
        self.mis_server, self.mis = serve_mis()
        self.sms_server, self.sms = serve_sms()
        self.smtp = SmtpServer().start()
        self._summary: dict[str, Any] = {}

    def environment(self) -> dict[str, str]:
        return environment(self.mis_server.url, f"{self.sms_server.url}/sms/send", self.smtp.port)

    def step(self, title: str, command: str) -> int:
        return self.demo.step(title, command, only=["misbridge"])

    def operator(self, title: str, action: Any) -> Any:
        self.demo.out.info("\n== " + _(title))
        journal = self.demo.app().open_journal()
        try:
            return action(journal, self.demo.app().settings().of("misbridge"))
        finally:
            journal.close()

    def run(self) -> list[int]:
        from misbridge import desk

        mis = self.mis
        visit = mis.add_invoice(6902, [service("B01.065.008", 2000, tax="0%", name="Приём врача-стоматолога"),
                                       service("A16.07.002", 3000, tax="20%", name="Восстановление зуба пломбой")])
        course = mis.add_invoice(6903, [service("A17.30.001", 9000, tax="без НДС", name="Курс физиотерапии")])
        mistaken = mis.add_invoice(6904, [service("B01.001.001", 1500)])
        codes = [self.step(N_("Three invoices wait for this cash desk"), "pull-orders")]
        self.operator(N_("Paid in cash and by card; the e-receipt by e-mail (maorders receipts pay 6902 …)"),
                      lambda j, c: desk.record_receipt(j, c, "6902", 235, ["cash:1000", "card:4000"],
                                                       email="buyer@example.org"))
        self.operator(N_("Half of the course now, e-receipt by SMS (maorders receipts pay 6903 --partial …)"),
                      lambda j, c: desk.record_receipt(j, c, "6903", 236, ["card:4500"], partial=True,
                                                       phone="+7 999 123-45-67"))
        mis.annul(mistaken["invoiceGuid"])
        mis.faults.error_rate = 1.0
        codes.append(self.step(N_("ТМ:МИС is down: Pays stay queued («Отложенная отправка»)"), "resend-receipts"))
        mis.faults.error_rate = 0.0
        codes.append(self.step(N_("The annulled invoice comes back marked"), "pull-orders"))
        codes.append(self.step(N_("ТМ:МИС is back: «Обработать все»"), "resend-receipts"))
        self._show(visit, course)
        return [c for c in codes if c != 75]  # the outage step is meant to exit 75

    def _show(self, *invoices: dict[str, Any]) -> None:
        from misbridge import desk

        journal = self.demo.app().open_journal()
        try:
            rows = desk.invoice_rows(journal)
        finally:
            journal.close()
        self.demo.out.table("\n" + _("Invoices at the cash desk"), [_("Invoice"), _("State"), _(RECEIVE), _("Checks"),
                                                                    _(PAY), _("Errors")],
                            [(r["number"], in_words(r["state"]), in_words(r["receive"]), r["checks"],
                              list_in_words(r["pays"]), notes_in_words(r["errors"])) for r in rows])
        self.demo.out.result(self._closing_line())
        self._summary = {"clinic_invoices": rows, "mis_counters": dict(self.mis.counters),
                         "emails": len(self.smtp.messages), "sms": len(self.sms.sent)}

    def _closing_line(self) -> str:
        """What the remotes took, in words: «ТМ:МИС приняла: «Получение» (Receive) 4, …; писем 1 …»."""
        emails, connections = len(self.smtp.messages), self.smtp.connections
        return _("ТМ:МИС took: {mis}; {emails}, {connections}; SMS sent: {sms}").format(
            mis=counts_in_words(dict(self.mis.counters), EMULATOR_COUNTS) or _("nothing"),
            emails=ngettext("{count} e-mail", "{count} e-mails", emails).format(count=emails),
            connections=ngettext("over {count} connection to the mail server",
                                 "over {count} connections to the mail server", connections).format(count=connections),
            sms=len(self.sms.sent))

    def summary(self) -> dict[str, Any]:
        return self._summary

    def close(self) -> None:
        self.mis_server.stop()
        self.sms_server.stop()
        self.smtp.stop()


def sandbox(ports: Iterator[int]) -> SandboxPart:
    """ТМ:МИС with invoice 814 waiting, sms.ru, an SMTP server; the action `invoice` adds another."""
    mis_server, mis = serve_mis(next(ports))
    mis.add_invoice(814, [service("B01.065.008", 2000)])
    sms_server, _sms = serve_sms(next(ports))
    smtp = SmtpServer(next(ports)).start()  # its thread ends with the sandbox's process
    env = environment(mis_server.url, f"{sms_server.url}/sms/send", smtp.port)
    numbers = iter(range(815, 10**6))

    def invoice() -> str:
        number = next(numbers)
        mis.add_invoice(number, [service("B01.065.008", 2000, tax="0%", name="Приём врача"),
                                 service("A16.07.002", 3000, tax="20%", name="Пломба")])
        return _("Invoice {number} waits for this cash desk: maorders pull-orders takes it").format(number=number)

    return SandboxPart([mis_server, sms_server], env,
                       [_("ТМ:МИС emulator has invoice 814 waiting for the cash desk."),
                        _("SMTP server (aiosmtpd, no TLS, no login) on 127.0.0.1:{port} keeps what it receives.")
                        .format(port=smtp.port)],
                       {"invoice": (N_("a new invoice in ТМ:МИС for the cash desk"), invoice)})
