"""Emulators of the cash desk's remotes: the ТМ:МИС paid-services API, sms.ru, an SMTP server.

Real servers on 127.0.0.1 for tests, the demo, the sandbox and the benchmark. Every rule
names its source; where the real service's behaviour is unknown the emulator is strict
and the client tolerant (docs/misbridge.md says which).

    server, mis = serve_mis()                  # http://127.0.0.1:<port>
    inv = mis.add_invoice(6902, [service("B01.065.008", 2000)])
    mis.annul(inv["invoiceGuid"])
    sms_server, sms = serve_sms()              # http://127.0.0.1:<port>/sms/send
    smtp = SmtpServer().start()                # aiosmtpd on a free port; smtp.messages
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from email import message_from_bytes, policy
from typing import Any

from maorders.emulation import EmulatorApp, EmulatorServer, Request, Response

OGRN = "1025002039776"
OID = "1.2.643.5.1.13.13.12.2.50.4782"
CASHDESK = "7f469ab8-bc96-11ec-9d45-00d861a563e9"
ZERO = "00000000-0000-0000-0000-000000000000"
BASE = "/api/paidServices/IntegrationInvoice/v2"
API_ID = "sms-api-id-0000"
TAXES = ("0%", "5%", "7%", "10%", "20%", "22%", "без НДС")


def service(code: str, price: float, count: int = 1, tax: str = "0%", name: str | None = None) -> dict[str, Any]:
    return {"smGuid": str(uuid.uuid5(uuid.NAMESPACE_OID, code)), "smCode": code,
            "smName": name or f"Услуга {code}", "count": count, "smPrice": price, "smCost": price * count,
            "tax": tax}


def _json(request: Request) -> Any:
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _is_guid(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _money_ok(value: Any) -> bool:
    # tmmis.md: "Money: number, 2 decimals"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return False
    return amount.is_finite() and amount > 0 and amount == amount.quantize(Decimal("0.01"))


class AsciiJson(EmulatorApp):
    """`ensure_ascii = True`: every JSON reply has its non-ASCII text escaped as \\uXXXX, as real
    services write it (issue 16): System.Text.Json escapes all non-ASCII characters by default
    (learn.microsoft.com/dotnet/standard/serialization/system-text-json/character-encoding: «By
    default, the serializer escapes all non-ASCII characters»), and so does PHP's json_encode unless
    given JSON_UNESCAPED_UNICODE (php.net, JSON constants). A client must read «Номер чека…» either way."""

    ensure_ascii = False

    def handle(self, request: Request) -> Response:
        response = super().handle(request)
        if self.ensure_ascii and "json" in response.headers.get("Content-Type", "") and response.body:
            try:
                response.body = json.dumps(json.loads(response.body), ensure_ascii=True).encode("ascii")
            except ValueError:
                pass  # a body a fault has cut stays cut
        return response


class MisEmulator(AsciiJson):
    """ТМ:МИС paid services, per /work/shared/protocols/tmmis.md."""

    name = "tmmis"

    def __init__(self, ogrn: str = OGRN, oid: str = OID) -> None:
        super().__init__()
        self.ogrn, self.oid = ogrn, oid
        self.invoices: dict[str, dict[str, Any]] = {}   # guid -> invoice as sent
        self.received: set[str] = set()                  # Receive recorded
        self.annul_seen: set[str] = set()                # an annulled invoice fetched (Receive after isCancelled)
        self.checks: dict[tuple[str, int], dict[str, Any]] = {}  # (cashdesk, CheckNum) -> the Pay recorded
        self.cashdesks: dict[str, dict[str, Any]] = {}
        self.payer = {"payerGuid": str(uuid.uuid4()), "family": "Тестовый", "name": "Дмитрий", "ot": "Юрьевич",
                      "birthday": "1972-02-20T00:00:00", "contactIMPhone": "+71111111111",
                      "contactEmail": "patient@example.org"}

    # -- the MIS side: what a registrar does -----------------------------------------------
    def add_invoice(self, number: int, services: list[dict[str, Any]], pay_sum: float | None = None,
                    parent: str | None = None, cashdesk: str = ZERO, **fields: Any) -> dict[str, Any]:
        total = round(sum(s["smCost"] for s in services), 2)
        invoice = {"invoiceGuid": str(uuid.uuid4()), "invoiceNum": number,
                   "date": datetime.now().strftime("%Y-%m-%dT%H:%M:%S"),
                   "parentInvoiceGuid": parent or ZERO, "isCancelled": False, "cashdeskGuid": cashdesk,
                   **self.payer, "invoiceSum": total, "paySum": total if pay_sum is None else pay_sum,
                   "services": services, **fields}
        with self.lock:
            self.invoices[invoice["invoiceGuid"]] = invoice
        return invoice

    def annul(self, guid: str) -> None:
        with self.lock:
            self.invoices[guid]["isCancelled"] = True

    def pays(self, guid: str | None = None) -> list[dict[str, Any]]:
        return [p for p in self.checks.values() if guid is None or p["invoiceGuid"] == guid]

    # -- the wire ------------------------------------------------------------------------
    def wrong_shape(self, request: Request) -> Response:
        return Response.json(200, {"invoice": {"invoiceNum": "x"}} if request.method == "GET" else {"result": "ok"})

    def route(self, request: Request) -> Response:
        body = _json(request) if request.method == "POST" else None
        if request.method == "POST" and not isinstance(body, dict):
            return self._fail(400, "Тело запроса не является JSON-объектом")
        ids = body if request.method == "POST" else {k: request.arg(k) for k in ("OGRN", "OID")}
        if not ids.get("OGRN") or not ids.get("OID"):
            # research/retail_apis.md 3.1: OGRN and OID are required inputs
            return self._fail(400, "Не указаны OGRN и OID")
        if (ids["OGRN"], ids["OID"]) != (self.ogrn, self.oid):
            return self._fail(403, "Пользователь API не найден")  # tmmis.md «Errors»
        handler = {("GET", f"{BASE}/New"): self._new, ("GET", f"{BASE}/ByNumber"): self._by_number,
                   ("POST", f"{BASE}/Receive"): self._receive, ("POST", f"{BASE}/Pay"): self._pay,
                   ("POST", "/api/paidServices/Cashdesks"): self._cashdesks}.get((request.method, request.path))
        if handler is None:
            return self._fail(404, f"Метод не найден: {request.method} {request.path}")
        return handler(request, body)

    @staticmethod
    def _fail(status: int, message: str) -> Response:
        return Response.json(status, {"Result": 0, "Message": message})

    def _new(self, request: Request, _: Any) -> Response:
        desk = request.arg("cashdeskGuid")
        if not _is_guid(desk):
            return self._fail(400, "cashdeskGuid не указан или неверен")
        # tmmis.md: status «Создан» until Receive, and annulled ones not yet fetched
        waiting = [inv for guid, inv in self.invoices.items()
                   if inv["cashdeskGuid"] in (ZERO, desk)
                   and ((not inv["isCancelled"] and guid not in self.received)
                        or (inv["isCancelled"] and guid not in self.annul_seen))]
        return Response.json(200, {"invoices": waiting})

    def _by_number(self, request: Request, _: Any) -> Response:
        raw = request.arg("number") or ""
        if not raw.isdigit():
            return self._fail(400, "number должен быть числом")
        return Response.json(200, {"invoices": [i for i in self.invoices.values() if i["invoiceNum"] == int(raw)]})

    def _invoice_of(self, body: dict[str, Any]) -> tuple[dict[str, Any] | None, Response | None]:
        if not _is_guid(body.get("invoiceGuid")) or not isinstance(body.get("invoiceNum"), int):
            return None, self._fail(400, "invoiceGuid и invoiceNum обязательны")
        invoice = self.invoices.get(body["invoiceGuid"])
        if invoice is None or invoice["invoiceNum"] != body["invoiceNum"]:
            return None, self._fail(404, "Счёт не найден")  # tmmis.md «Errors»
        return invoice, None

    def _receive(self, _: Request, body: dict[str, Any]) -> Response:
        invoice, error = self._invoice_of(body)
        if error:
            return error
        if not _is_guid(body.get("cashdeskGuid")) or body["cashdeskGuid"] == ZERO:
            return self._fail(400, "cashdeskGuid обязателен")
        guid = invoice["invoiceGuid"]
        seen = self.annul_seen if invoice["isCancelled"] else self.received
        if guid in seen:
            return Response.json(200, {"Result": 2, "Message": "Счёт уже получен"})  # tmmis.md «Receive»
        seen.add(guid)
        if invoice["isCancelled"]:
            self.received.add(guid)
        self.effect("receive")
        return Response.json(200, {"Result": 1, "Message": ""})

    def _payments_error(self, payments: Any) -> str | None:
        if not isinstance(payments, dict):
            return "Payments обязателен"
        try:
            datetime.strptime(str(payments.get("BillDate")), "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return "BillDate: ожидается YYYY-MM-DDTHH:MM:SS"
        check = payments.get("CheckNum")
        if isinstance(check, bool) or not isinstance(check, int) or check <= 0:
            return "CheckNum: ожидается целое число"
        if payments.get("Type") not in (1, 2):
            return "Type: 1 (приход) или 2 (возврат прихода)"
        if not _is_guid(payments.get("cashdeskGuid")) or payments["cashdeskGuid"] == ZERO:
            return "cashdeskGuid обязателен"
        lines = payments.get("Payments")
        if not isinstance(lines, list) or not lines:
            return "Payments.Payments: нужен хотя бы один вид оплаты"
        for line in lines:
            if not isinstance(line, dict) or line.get("PaymentType") not in (1, 2, 3) or not _money_ok(line.get("paySum")):
                return "Payments.Payments: PaymentType 1, 2 или 3 и paySum > 0 с 2 знаками"
        return None

    def _pay(self, _: Request, body: dict[str, Any]) -> Response:
        invoice, error = self._invoice_of(body)
        if error:
            return error
        problem = self._payments_error(body.get("Payments"))
        if problem:
            return self._fail(400, problem)
        payments = body["Payments"]
        key = (payments["cashdeskGuid"], payments["CheckNum"])
        recorded = self.checks.get(key)
        number = payments["CheckNum"]
        if recorded is not None:  # tmmis.md «Pay»: the seed's duplicate-check messages
            if recorded["invoiceGuid"] == invoice["invoiceGuid"]:
                return Response.json(200, {"Result": 2, "Message": "Ошибка при подтверждении оплаты счёта: Номер чека "
                                                                   f"{number} уже зафиксирован по счёту {invoice['invoiceNum']}."})
            return self._fail(409, f"Номер чека {number} уже зафиксирован по счёту {recorded['invoiceNum']}.")
        if invoice["invoiceGuid"] not in self.received:
            return self._fail(409, "Счёт не получен кассой")
        if invoice["isCancelled"] and payments["Type"] == 1:
            return self._fail(409, "Счёт аннулирован")  # not in tmmis.md: stricter than known
        self.checks[key] = {"invoiceGuid": invoice["invoiceGuid"], "invoiceNum": invoice["invoiceNum"],
                            **{k: payments[k] for k in ("BillDate", "CheckNum", "Type", "Payments")}}
        self.effect("pay")
        return Response.json(200, {"Result": 1, "Message": ""})

    def _cashdesks(self, _: Request, body: dict[str, Any]) -> Response:
        desks = body.get("cashdesks")
        if not isinstance(desks, list) or not desks:
            return self._fail(400, "cashdesks: нужен хотя бы один")
        for desk in desks:
            if not isinstance(desk, dict) or not _is_guid(desk.get("cashdeskGuid")) or not desk.get("name"):
                return self._fail(400, "cashdesks: cashdeskGuid и name обязательны")
        for desk in desks:  # tmmis.md: idempotent by cashdeskGuid
            self.cashdesks[desk["cashdeskGuid"]] = desk
        self.effect("cashdesks")
        return Response.json(200, {"Result": 1})


def serve_mis(port: int = 0) -> tuple[EmulatorServer, MisEmulator]:
    app = MisEmulator()
    return EmulatorServer(app, port).start(), app


# ====================================================================== sms.ru
class SmsEmulator(AsciiJson):
    """sms.ru `sms/send` and `my/balance` with json=1 (public-apis.md «SMS»; sms.ru code list)."""

    name = "smsru"

    def __init__(self, api_id: str = API_ID, senders: tuple[str, ...] = ("Clinic",)) -> None:
        super().__init__()
        self.api_id = api_id
        self.senders = senders
        self.balance = 100.0
        self.price = 1.5
        self.forced: list[int] = []        # the next replies' codes, e.g. [220, 231]
        self.sent: list[dict[str, str]] = []
        self.api_id_in_url = 0
        # the next sends are taken, then a proxy in front answers this status instead of sms.ru's
        # JSON (public-apis.md «SMS»: «a proxy's 502/504 can come after sms.ru took the message»)
        self.proxy_after_send: list[int] = []

    def wrong_shape(self, request: Request) -> Response:
        return Response.json(200, {"status": "OK", "sms": []})

    def route(self, request: Request) -> Response:
        if request.path.endswith("/sms/send") and request.method == "POST":
            response = self._send(request)
            if self.proxy_after_send:
                status = self.proxy_after_send.pop(0)
                return Response(status, f"<html><body><h1>{status} Bad Gateway</h1>nginx</body></html>".encode(),
                                {"Content-Type": "text/html"})
            return response
        if request.path.endswith("/my/balance") and request.method == "POST":
            return self._balance(request)
        return Response.json(404, {"status": "ERROR", "status_code": 404, "status_text": "Метод не найден"})

    def _auth(self, request: Request, form: dict[str, str]) -> Response | None:
        if "api_id" in request.query:
            # stricter than sms.ru (which takes GET parameters): a key in a URL ends in logs
            self.api_id_in_url += 1
            return self._error(200, "api_id в адресе запроса не принимается")
        if form.get("api_id") != self.api_id:
            return self._error(200, "Неправильный api_id")
        if form.get("json") != "1":
            return Response(200, b"200\n", {"Content-Type": "text/plain"})  # plain-text replies without json=1
        return None

    @staticmethod
    def _error(code: int, text: str) -> Response:
        return Response.json(200, {"status": "ERROR", "status_code": code, "status_text": text})

    def _send(self, request: Request) -> Response:
        form = request.form()
        refused = self._auth(request, form)
        if refused:
            return refused
        if self.forced and self.forced[0] in (200, 201, 204, 206, 220, 221, 301, 500):
            code = self.forced.pop(0)  # account-wide codes fail the whole call
            return self._error(code, f"emulated code {code}")
        sender = form.get("from")
        if sender and sender not in self.senders:
            return self._error(204, "Имя отправителя не согласовано с администрацией")
        if self.balance < self.price:
            return self._error(201, "Не хватает средств на лицевом счету")
        phone, text = form.get("to", ""), form.get("msg", "")
        if not text:
            return self._error(203, "Нет текста сообщения")
        result = self._one(phone, text)
        return Response.json(200, {"status": "OK", "status_code": 100, "sms": {phone: result},
                                   "balance": round(self.balance, 2)})

    def _one(self, phone: str, text: str) -> dict[str, Any]:
        if self.forced:
            code = self.forced.pop(0)
            return {"status": "ERROR", "status_code": code, "status_text": f"emulated code {code}"}
        if not re.fullmatch(r"79\d{9}", phone):
            return {"status": "ERROR", "status_code": 202, "status_text": "Неправильно указан получатель"}
        if len(text) > 8 * 67:  # 8 Cyrillic parts of 67 characters
            return {"status": "ERROR", "status_code": 205, "status_text": "Сообщение слишком длинное (превышает 8 СМС)"}
        self.balance -= self.price
        sms_id = f"{len(self.sent) + 1:06d}-{uuid.uuid4().hex[:8]}"
        self.sent.append({"to": phone, "msg": text, "sms_id": sms_id})
        self.effect("sms")
        return {"status": "OK", "status_code": 100, "sms_id": sms_id}

    def _balance(self, request: Request) -> Response:
        refused = self._auth(request, request.form())
        return refused or Response.json(200, {"status": "OK", "status_code": 100, "balance": round(self.balance, 2)})


def serve_sms(port: int = 0) -> tuple[EmulatorServer, SmsEmulator]:
    app = SmsEmulator()
    server = EmulatorServer(app, port).start()
    return server, app


# ====================================================================== SMTP
class SmtpHandler:
    """aiosmtpd handler: keeps messages, counts connections, answers forced replies."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.sessions: set[Any] = set()
        self.fail_next: list[str] = []     # e.g. "451 4.3.0 Try again later", "554 5.7.1 Rejected"
        self.drop_after_data = 0           # take the message, then close before the 250
        self.on_message: Any = None        # called after a message is kept, before the 250 (crash tests)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]) -> list[str]:
        self.sessions.add(session.peer)  # one peer (host, port) a connection; STARTTLS makes a new session
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.fail_next:
            return self.fail_next.pop(0)
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "message": message,
                              "message_id": message["Message-ID"]})
        if self.on_message is not None:
            self.on_message(message)
        if self.drop_after_data > 0:
            self.drop_after_data -= 1
            server.transport.close()
        return "250 2.0.0 OK queued"


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1; TLS and login when asked.

    tls="starttls" offers STARTTLS (RFC 3207) and refuses AUTH before it; "implicit" is TLS
    from the first byte (RFC 8314); None is plain SMTP (a local relay). smtputf8=True offers
    SMTPUTF8 (RFC 6531); without it only ASCII addresses (IDNA domains) are taken.
    """

    def __init__(self, port: int = 0, tls: str | None = None, cert: tuple[str, str] | None = None,
                 login: tuple[str, str] | None = None, smtputf8: bool = False) -> None:
        self.handler = SmtpHandler()
        self.port = port or _free_port()
        self.tls, self.cert, self.login = tls, cert, login
        # without SMTPUTF8 (RFC 6531) by default, as aiosmtpd itself (enable_SMTPUTF8=False) and many
        # servers: a non-ASCII mailbox name cannot be delivered to it, only an IDNA domain
        self.smtputf8 = smtputf8
        self.controller: Any = None

    @property
    def messages(self) -> list[Any]:
        return self.handler.messages

    @property
    def connections(self) -> int:
        return len(self.handler.sessions)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (isinstance(auth_data, LoginPassword) and self.login is not None
              and (auth_data.login.decode(), auth_data.password.decode()) == self.login)
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    def start(self) -> "SmtpServer":
        from aiosmtpd.controller import Controller

        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": self.port, "enable_SMTPUTF8": self.smtputf8}
        if self.login:
            kwargs |= {"authenticator": self._authenticate, "auth_require_tls": self.tls is not None}
        else:
            kwargs |= {"auth_require_tls": False}
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.cert)  # type: ignore[misc]
            kwargs["tls_context" if self.tls == "starttls" else "ssl_context"] = context
            if self.tls == "starttls":
                kwargs["require_starttls"] = True
        self.controller = Controller(self.handler, server_hostname="localhost", **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def self_signed(directory: str) -> tuple[str, str]:
    """A certificate for 127.0.0.1/localhost made with the openssl command (tests, sandbox)."""
    import subprocess
    from pathlib import Path

    cert, key = Path(directory) / "smtp-cert.pem", Path(directory) / "smtp-key.pem"
    if not cert.exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
    return str(cert), str(key)
