"""SMTP wire for e-receipts, with the standard library's smtplib (public-apis.md, «E-mail»).

One connection a pass, opened on the first message: STARTTLS (then EHLO again, then
login: smtplib.starttls() forgets the first EHLO, ehlo_or_helo_if_needed() says it again)
or implicit TLS (SMTP_TLS=implicit, RFC 8314); the certificate is verified
(ssl.create_default_context; SSL_CERT_FILE for a private CA). A password is never sent
before TLS except to a local server that the settings allow (misbridge.settings).
Addresses: the domain goes as IDNA; a non-ASCII mailbox name to a server without SMTPUTF8 is
refused for that message (a person), never "connection lost".
Replies: 2xx sent; 4xx temporary (next run); 5xx refused for that message (a person);
a connection lost after DATA leaves the message `unknown`: it is sent again next run
with the same Message-ID, so the mailbox can tell it is the same message.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from maorders.i18n import _
from misbridge.settings import SmtpSettings


@dataclass(frozen=True)
class MailOutcome:
    state: str  # sent | retry | failed | unknown
    code: int | None
    text: str


class MailChannelDown(Exception):
    """The server cannot be used at all this pass (connect, TLS or login failed)."""

    def __init__(self, message: str, needs_person: bool):
        super().__init__(message)
        self.needs_person = needs_person


NO_SMTPUTF8 = ("the mail server does not take a non-ASCII mailbox name (no SMTPUTF8, RFC 6531): "
               "ask the buyer for another address, then resend or delete this e-receipt")


def wire_address(address: str) -> tuple[str, bool]:
    """The address as it goes on the wire, and whether it needs SMTPUTF8.

    The domain is sent as IDNA (RFC 5891: пример.рф → xn--e1afmkfd.xn--p1ai), which every server
    takes; a non-ASCII local part cannot be encoded at all and needs SMTPUTF8 (RFC 6531 §3.2)."""
    address = address.strip()
    if address.isascii():
        return address, False
    local, _, domain = address.rpartition("@")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("the address's domain is not a valid internationalised domain name") from None
    return f"{local}@{ascii_domain}", not local.isascii()


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())[:200]


def classify(code: int, text: str) -> MailOutcome:
    if 200 <= code < 300:
        return MailOutcome("sent", code, text)
    if 400 <= code < 500:
        return MailOutcome("retry", code, text)
    return MailOutcome("failed", code, text)


class MailSession:
    """One SMTP connection for the whole pass; `connections` counts how many were opened."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None
        self.connections = 0

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        try:
            if s.implicit_tls:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            self.connections += 1
            smtp.ehlo()
            if s.starttls:
                smtp.starttls(context=context)
                smtp.ehlo()  # RFC 3207: the client must discard what it knew and say EHLO again
            if s.user:
                smtp.login(s.user, s.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise MailChannelDown(f"SMTP login refused: {exc.smtp_code} {_reply_text(exc.smtp_error)}", True) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise MailChannelDown(f"SMTP server: {exc} (check SMTP_STARTTLS / SMTP_TLS)", True) from None
        except ssl.SSLError as exc:
            raise MailChannelDown(f"SMTP TLS failed: {exc.reason or type(exc).__name__} "
                                  "(a private CA goes in SSL_CERT_FILE)", True) from None
        except smtplib.SMTPResponseException as exc:
            needs_person = exc.smtp_code >= 500
            raise MailChannelDown(f"SMTP server refused: {exc.smtp_code} {_reply_text(exc.smtp_error)}",
                                  needs_person) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailChannelDown(f"SMTP server {s.host}:{s.port} unreachable ({type(exc).__name__})", False) from None
        return smtp

    def ensure_open(self) -> None:
        if self.smtp is None:
            self.smtp = self._open()

    def send(self, message: EmailMessage, recipient: str) -> MailOutcome:
        """Send one message; `MailChannelDown` when the connection cannot be opened."""
        self.ensure_open()
        try:
            sender, sender_utf8 = wire_address(self.settings.sender)
            to, to_utf8 = wire_address(recipient)
        except ValueError as exc:
            return MailOutcome("failed", None, str(exc))
        if (sender_utf8 or to_utf8) and not self.smtp.has_extn("smtputf8"):
            return MailOutcome("failed", None, NO_SMTPUTF8 if to_utf8 else f"SMTP_FROM: {NO_SMTPUTF8}")
        if to != message["To"]:
            del message["To"]
            message["To"] = to  # the header as the envelope: an encoded-word is no address (RFC 2047 §5)
        try:
            refused = self.smtp.send_message(message, from_addr=sender, to_addrs=[to])
        except smtplib.SMTPNotSupportedError as exc:  # an OSError, but the server is there: a person
            return MailOutcome("failed", None, f"the mail server cannot take this message: {exc}"[:200])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            return classify(code, _reply_text(reply))
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            self._reset()
            return classify(exc.smtp_code, _reply_text(exc.smtp_error))
        except smtplib.SMTPResponseException as exc:
            self._drop()
            return classify(exc.smtp_code, _reply_text(exc.smtp_error))
        except (smtplib.SMTPServerDisconnected, OSError, socket.timeout) as exc:
            # the reply to DATA may have been lost after the server took the message
            self._drop()
            return MailOutcome("unknown", None, f"connection lost ({type(exc).__name__}); resent next run "
                                                "with the same Message-ID")
        if refused:
            code, reply = next(iter(refused.values()))
            return classify(code, _reply_text(reply))
        return MailOutcome("sent", 250, "OK")

    def _reset(self) -> None:
        try:
            if self.smtp is not None:
                self.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.close()
            finally:
                self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            finally:
                self._drop()

    def chosen(self) -> str:
        """Which TLS this session uses and why (misbridge.settings), for a person."""
        s = self.settings
        return _(s.tls_chosen or ("implicit TLS" if s.implicit_tls else "STARTTLS" if s.starttls else "no TLS"))

    def probe(self) -> str:
        """Doctor: connect, TLS, EHLO, login, then quit. Returns what the server is."""
        smtp = self._open()
        try:
            return _("{server} ok, {tls}").format(server=f"{self.settings.host}:{self.settings.port}", tls=self.chosen())
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
