"""The clinic cash desk's settings, read from the kernel's Env (every error names the variable).

The MIS part is switched on by MIS_URL. E-mail receipts need SMTP_HOST (and SMTP_FROM);
SMS receipts need SMS_API_ID. A receipt asked for by a channel that is not configured
stays queued and is shown (`receipts ereceipts --failed`), it is never dropped.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from maorders.errors import ConfigError
from maorders.i18n import N_, _
from maorders.settings import Env

SMS_URL = "https://sms.ru/sms/send"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: str | None = field(repr=False)
    starttls: bool          # SMTP_STARTTLS: STARTTLS on a plain port (587)
    implicit_tls: bool      # SMTP_TLS=implicit: TLS from the first byte (465, RFC 8314)
    sender: str             # SMTP_FROM
    timeout: float
    tls_chosen: str = ""    # which TLS and why, for doctor ("implicit TLS (port 465; SMTP_TLS not set)")


@dataclass(frozen=True)
class SmsSettings:
    url: str
    api_id: str = field(repr=False)
    sender: str | None


@dataclass(frozen=True)
class MisbridgeSettings:
    url: str
    ogrn: str
    oid: str
    cashdesk_guid: str
    cashdesk_name: str
    shop: str
    zero_vat_as_no_vat: bool
    update_payers: bool
    update_services: bool
    retention_days: int
    smtp: SmtpSettings | None
    sms: SmsSettings | None

    @property
    def smtp_password(self) -> str | None:
        return self.smtp.password if self.smtp else None

    @property
    def sms_api_id(self) -> str | None:
        return self.sms.api_id if self.sms else None


def _ogrn(env: Env) -> str:
    # ОГРН ЛПУ: varchar(15) in the ByNumber inputs (research/retail_apis.md 3.1); 13 digits
    # for an organisation, 15 for an entrepreneur (ОГРНИП).
    value = env.text("MIS_OGRN")
    if not re.fullmatch(r"\d{13}|\d{15}", value):
        raise ConfigError(_("MIS_OGRN must be 13 or 15 digits, got {value}").format(value=repr(value)))
    return value


def _oid(env: Env) -> str:
    # OID of the subdivision: varchar(50), dotted numbers (1.2.643.5.1.13.13.12.2.50.4782).
    value = env.text("MIS_OID")
    if len(value) > 50 or not re.fullmatch(r"\d+(\.\d+)+", value):
        raise ConfigError(_("MIS_OID must be a dotted OID of at most 50 characters, got {value}")
            .format(value=repr(value)))
    return value


def _guid(env: Env, name: str) -> str:
    value = env.text(name)
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise ConfigError(_("{name} must be a GUID like 7f469ab8-bc96-11ec-9d45-00d861a563e9, got {value}")
            .format(name=name, value=repr(value))) from None
    if parsed.int == 0:
        raise ConfigError(_("{name} must not be the all-zero GUID").format(name=name))
    return str(parsed)


def _smtp(env: Env, timeout: float) -> SmtpSettings | None:
    host = env.optional("SMTP_HOST")
    if not host:
        return None
    implicit, chosen = _tls(env)
    starttls = False if implicit else env.flag("SMTP_STARTTLS", True)
    chosen = chosen or (N_("STARTTLS") if starttls else N_("no TLS (SMTP_STARTTLS=no)"))
    user = env.optional("SMTP_USER")
    password = env.optional("SMTP_PASSWORD")
    if user and not password:
        raise ConfigError(_("SMTP_PASSWORD is not set (SMTP_USER is)"))
    if user and not (implicit or starttls) and host.lower() not in LOCAL_HOSTS:
        # public-apis.md: never a password before TLS unless the server is local
        raise ConfigError(_("SMTP_STARTTLS=no with SMTP_USER sends the password in clear text: only allowed for a "
                            "local server (set SMTP_STARTTLS=yes or SMTP_TLS=implicit)"))
    sender = env.text("SMTP_FROM")
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", sender):
        raise ConfigError(_("SMTP_FROM must be an e-mail address, got {sender}").format(sender=repr(sender)))
    return SmtpSettings(host=host, port=env.integer("SMTP_PORT", 465 if implicit else 587, 1, 65535),
                        user=user, password=password, starttls=starttls, implicit_tls=implicit,
                        sender=sender, timeout=timeout, tls_chosen=chosen)


def _tls(env: Env) -> tuple[bool, str]:
    """(implicit TLS?, why). Port 465 is implicit TLS (RFC 8314 §3.3, public-apis.md «E-mail»): without
    SMTP_TLS it is chosen, since STARTTLS there only waits for a greeting that never comes."""
    told = env.optional("SMTP_TLS")
    if told is not None:
        if told.lower() not in ("implicit", "starttls"):
            raise ConfigError(_("SMTP_TLS must be implicit or starttls, got {told}").format(told=repr(told)))
        return told.lower() == "implicit", (N_("implicit TLS (SMTP_TLS=implicit)") if told.lower() == "implicit" else "")
    if env.integer("SMTP_PORT", 587, 1, 65535) != 465:
        return False, ""
    if env.optional("SMTP_STARTTLS") and env.flag("SMTP_STARTTLS", True):
        raise ConfigError(_("SMTP_PORT=465 is the implicit-TLS port (RFC 8314) but SMTP_STARTTLS=yes asks for "
                            "STARTTLS: set SMTP_TLS=implicit (or SMTP_TLS=starttls if this server speaks STARTTLS "
                            "on 465)"))
    return True, N_("implicit TLS (port 465; SMTP_TLS not set)")


def _sms(env: Env) -> SmsSettings | None:
    api_id = env.optional("SMS_API_ID")
    if not api_id:
        if env.optional("SMS_URL"):
            raise ConfigError(_("SMS_API_ID is not set (SMS_URL is)"))
        return None
    sender = env.optional("SMS_SENDER")
    if sender and len(sender) > 11:
        raise ConfigError(_("SMS_SENDER must be at most 11 characters (an approved sender name), got {sender}")
            .format(sender=repr(sender)))
    return SmsSettings(url=env.url("SMS_URL", SMS_URL), api_id=api_id, sender=sender)


def read(env: Env) -> MisbridgeSettings:
    timeout = env.number("MAORDERS_HTTP_TIMEOUT", 30, minimum=0.1)
    return MisbridgeSettings(
        url=env.url("MIS_URL"),
        ogrn=_ogrn(env),
        oid=_oid(env),
        cashdesk_guid=_guid(env, "MIS_CASHDESK_GUID"),
        cashdesk_name=env.text("MIS_CASHDESK_NAME", "Касса ККМ"),
        shop=env.text("MIS_SHOP", "Касса клиники"),
        zero_vat_as_no_vat=env.flag("MIS_ZERO_VAT_AS_NO_VAT", True),
        update_payers=env.flag("MIS_UPDATE_PAYERS", True),
        update_services=env.flag("MIS_UPDATE_SERVICES", True),
        retention_days=env.integer("MIS_RETENTION_DAYS", 30, 0, 36500),
        smtp=_smtp(env, timeout),
        sms=_sms(env),
    )
