"""`maorders doctor` for the cash desk: a real, read-only call to the MIS, SMTP and sms.ru."""

from __future__ import annotations

from typing import Any

from maorders.errors import MaordersError
from maorders.i18n import _, money, ngettext
from maorders.http import Remote
from misbridge.mail import MailChannelDown, MailSession
from misbridge import replies
from misbridge.mis import MisClient

NAME = "misbridge"


def own_settings(settings: Any) -> Any:
    of = getattr(settings, "of", None)
    return of(NAME) if of else getattr(settings, NAME, None)


def checks(settings: Any, budget: Any) -> list[dict[str, Any]]:
    config = own_settings(settings)
    if config is None:
        return []
    general = settings.general
    found = [_mis(config, general, budget)]
    if config.smtp:
        found.append(_smtp(config))
    if config.sms:
        found.append(_sms(config, general, budget))
    return found


def _mis(config: Any, general: Any, budget: Any) -> dict[str, Any]:
    remote = Remote("tmmis", config.url, general.http_timeout, min(general.http_retries, 1), budget)
    try:
        waiting = MisClient(remote, config.ogrn, config.oid, config.cashdesk_guid).new_invoices()
        return {"check": "misbridge: ТМ:МИС", "ok": True,
                "detail": ngettext("{url}: {count} invoice waiting for this cash desk",
                                   "{url}: {count} invoices waiting for this cash desk", len(waiting)).format(
                    url=config.url, count=len(waiting))}
    except MaordersError as exc:
        return {"check": "misbridge: ТМ:МИС", "ok": False, "detail": str(exc), "exit_code": exc.exit_code}
    finally:
        remote.close()


def _smtp(config: Any) -> dict[str, Any]:
    """Connect, TLS, login, quit; the detail says which TLS was chosen and why (SMTP_TLS, port 465)."""
    session = MailSession(config.smtp)
    try:
        return {"check": "misbridge: SMTP", "ok": True, "detail": session.probe()}
    except MailChannelDown as exc:
        return {"check": "misbridge: SMTP", "ok": False,
                "detail": _("{error}; tried {tls}").format(error=exc, tls=session.chosen()),
                "exit_code": 69 if exc.needs_person else 75}


def _sms(config: Any, general: Any, budget: Any) -> dict[str, Any]:
    """sms.ru `my/balance` (POST, api_id in the body): the key works and money is left."""
    root = config.sms.url.rsplit("/sms/", 1)[0]
    remote = Remote("smsru", root, general.http_timeout, 0, budget, url_setting="SMS_URL")
    try:
        response = remote.call("POST", "/my/balance", safe=False, data={"api_id": config.sms.api_id, "json": "1"})
        body = replies.decode(response.content)  # Undecodable is a ValueError: below
        if not isinstance(body, dict):
            raise ValueError("malformed reply: not a JSON object")
        if body.get("status") == "OK":
            return {"check": "misbridge: sms.ru", "ok": True,
                    "detail": _("balance {balance}").format(balance=_roubles(replies.as_text(body.get("balance"))))}
        said = f"{replies.as_text(body.get('status_code'))} {replies.as_text(body.get('status_text'))}"
        return {"check": "misbridge: sms.ru", "ok": False, "exit_code": 69,
                "detail": _("sms.ru refused: {said}").format(said=said)}
    except (MaordersError, ValueError) as exc:
        return {"check": "misbridge: sms.ru", "ok": False, "detail": str(exc),
                "exit_code": getattr(exc, "exit_code", 75) or 75}
    finally:
        remote.close()


def _roubles(text: str) -> str:
    """sms.ru's balance in roubles as people read sums; what is not a number, as it came."""
    try:
        return money(text)
    except (ArithmeticError, ValueError):
        return text
