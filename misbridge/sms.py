"""sms.ru HTTP API wire client for e-receipts (public-apis.md, «SMS»). Knows nothing of the journal.

`POST {SMS_URL}` form fields api_id, to, msg, json=1, optional from. The api_id goes in the
form body, never in the URL (a URL ends up in proxies' and servers' logs).
Codes, from sms.ru's code list as its own clients carry it (e.g. XpycTee/smsru_api,
the pysmssend table 100 … 209) and public-apis.md:
- 100 accepted (queued at sms.ru, not yet delivered);
- retry next run: 220 (service unavailable), 500, and a connection never made;
- 230–232 (per-number and identical-text limits): retry later, not within the minute;
- a person must act (the account, not the message): 200/301 api_id, 201/206 money or
  daily limit, 204/221 sender name not approved;
- wrong for good: 202/207 number, 203 no text, 205 over 8 SMS, 209/215/216 stop lists;
- a reply lost after the request went out: `unknown` — `sms/send` has no idempotency key,
  so it is never re-sent blindly; a person decides (`receipts ereceipt-resend`). That is any
  reply that does not prove a refusal: a read timeout, a reset, and any HTTP status (a proxy's
  502/504 included) without sms.ru's JSON. Only HTTP 429, a connection never made and sms.ru's
  own refusal codes are retried by themselves (public-apis.md «SMS»).
An unknown code is shown to a person (failed), not retried.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import requests

from misbridge import replies

RETRY_NEXT_RUN = {220, 500}
RETRY_LATER = {230, 231, 232}
ACCOUNT = {200, 201, 204, 206, 221, 301}
WRONG_FOR_GOOD = {202, 203, 205, 207, 209, 215, 216}
LATER = timedelta(minutes=15)


@dataclass(frozen=True)
class SmsOutcome:
    state: str  # sent | retry | account | failed | unknown
    code: int | None
    text: str
    sms_id: str | None = None
    retry_in: timedelta | None = None


def normalise_phone(phone: str) -> str | None:
    """79XXXXXXXXX, or None when it is not a Russian mobile-style number."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 11 and digits[0] in "78":
        digits = "7" + digits[1:]
    elif len(digits) == 10:
        digits = "7" + digits
    return digits if re.fullmatch(r"79\d{9}", digits) else None


def outcome_of(code: int, text: str, sms_id: str | None = None) -> SmsOutcome:
    if code == 100:
        return SmsOutcome("sent", code, text or "OK", sms_id)
    if code in RETRY_NEXT_RUN:
        return SmsOutcome("retry", code, text)
    if code in RETRY_LATER:
        return SmsOutcome("retry", code, text, retry_in=LATER)
    if code in ACCOUNT:
        return SmsOutcome("account", code, text)
    return SmsOutcome("failed", code, text)


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached sms.ru (no connection was made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen, cause = set(), exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        name = type(cause).__name__
        if name in ("NewConnectionError", "ConnectionRefusedError", "NameResolutionError", "gaierror"):
            return True
        cause = cause.__cause__ or cause.__context__ or (cause.args[0] if cause.args and
                                                         isinstance(cause.args[0], BaseException) else None)
    return False


def _is_code(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class SmsClient:
    def __init__(self, session: requests.Session, url: str, api_id: str, sender: str | None, timeout: float):
        self.session = session
        self.url = url
        self.api_id = api_id
        self.sender = sender
        self.timeout = timeout

    def send(self, phone: str, message: str) -> SmsOutcome:
        """One SMS, one attempt: no retries here, since a lost reply may have been sent."""
        form = {"api_id": self.api_id, "to": phone, "msg": message, "json": "1"}
        if self.sender:
            form["from"] = self.sender
        try:
            # never follow a redirect: the form (api_id included) would go to another address
            response = self.session.post(self.url, data=form, timeout=self.timeout, allow_redirects=False)
        except requests.exceptions.SSLError:
            return SmsOutcome("account", None, "TLS verification failed (REQUESTS_CA_BUNDLE for a private CA)")
        except requests.RequestException as exc:
            if _never_sent(exc):
                return SmsOutcome("retry", None, f"no connection to sms.ru ({type(exc).__name__})")
            return SmsOutcome("unknown", None, f"reply lost ({type(exc).__name__}): it may have been sent")
        return self._read(response, phone)

    def _read(self, response: requests.Response, phone: str) -> SmsOutcome:
        if 300 <= response.status_code < 400:
            return SmsOutcome("account", response.status_code, f"HTTP {response.status_code} redirect: not followed "
                                                               "(check SMS_URL)")
        if response.status_code == 429:
            # public-apis.md «SMS»: «HTTP 429 is a refusal before sending: retry later»
            return SmsOutcome("retry", 429, "HTTP 429: sms.ru refused before sending; retried next run")
        try:
            body = replies.decode(response.content)
        except replies.Undecodable:
            body = None
        if not isinstance(body, dict) or not _is_code(body.get("status_code")):
            # public-apis.md «SMS»: without sms.ru's JSON the reply is lost — «an HTTP 5xx without
            # sms.ru's JSON body (a proxy's 502/504 can come after sms.ru took the message)»: a person
            # decides, since a second SMS costs money (never resent by itself)
            said = "malformed reply" if response.status_code == 200 else f"HTTP {response.status_code} without sms.ru's reply"
            return SmsOutcome("unknown", response.status_code, f"{said}: it may have been sent; resend by hand")
        if body.get("status") != "OK":
            return outcome_of(body["status_code"], replies.as_text(body.get("status_text") or body.get("status")))
        per_number = body["sms"].get(phone) if isinstance(body.get("sms"), dict) else None
        if not isinstance(per_number, dict) or not _is_code(per_number.get("status_code")):
            return SmsOutcome("unknown", response.status_code, "reply without this number: it may have been sent")
        sms_id = per_number.get("sms_id")
        return outcome_of(per_number["status_code"],
                          replies.as_text(per_number.get("status_text") or per_number.get("status")),
                          replies.as_text(sms_id, 64) if _is_code(sms_id) or isinstance(sms_id, str) else None)
