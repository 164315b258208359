"""The barcode/QR scanner on a serial port: one code, ended by CR or LF.

The port is anything pyserial's `serial_for_url` opens: `COM12` (the seed's «COM порт:
12»), `/dev/ttyACM0`, `socket://host:port`, `loop://`. A scanner in USB-CDC mode is a
virtual COM port, 9600 8N1 by default, and ends each code with a configurable suffix (CR
by default on most models; shared/research/retail_apis.md §4). We read until that
terminator arrives, never for a fixed time, and give up after SCANNER_TIMEOUT.

What was read is checked before it goes anywhere (shared/research/reliability.md §4.5,
OWASP input validation): ASCII only; control characters stripped, except GS (0x1D) which
separates the fields of a marking code, so that a product's DataMatrix scanned by mistake
is recognised and named; then a whole-string allowlist: the app's QR text (1-128
printable ASCII) or a card number (8-20 digits). The code identifies a person, so it is
shown only masked.
"""

from __future__ import annotations

import re
import time

from maorders.errors import ConfigError, InputError, TransientError
from maorders.i18n import _

TERMINATORS = b"\r\n"
GS = "\x1d"
MAX_CODE = 128
MAX_READ = 512  # a noisy or hostile device cannot grow memory past this
QR_TEXT = re.compile(r"[\x20-\x7e]{1,128}")
CARD = re.compile(r"\d{8,20}")
CONTROL = re.compile(r"[\x00-\x1c\x1e\x1f\x7f]")  # every C0 control and DEL except GS


def mask(text: str) -> str:
    """A code as it may be shown: its length, its first 3 and last 2 characters, escaped."""
    if len(text) <= 6:
        return _("{shown} ({count} characters)").format(shown="*" * len(text), count=len(text))
    return _("{shown} ({count} characters)").format(shown=f"{_escaped(text[:3])}…{_escaped(text[-2:])}",
                                                    count=len(text))


def _escaped(text: str) -> str:
    return "".join(c if " " <= c <= "~" else f"<{ord(c):02X}>" for c in text)


def validate(raw: str, source: str = "--code") -> str:
    """The code to send, or InputError (65) naming what was read, masked."""
    text = CONTROL.sub("", raw).strip(" ")
    if not text:
        raise InputError(_("{source}: nothing but control characters was read; scan again").format(source=source))
    if GS in text:
        raise InputError(_("{source}: read a product marking code ({code}), not a loyalty QR or card; "
                           "scan the customer's code").format(source=source, code=mask(text)))
    if text.isdigit() and not CARD.fullmatch(text):
        raise InputError(_("{source}: {code} is digits only but a card number has 8-20 digits").format(
            source=source, code=mask(text)))
    if not QR_TEXT.fullmatch(text):
        raise InputError(_("{source}: {code} is not a loyalty QR text (1-{most} printable ASCII "
                           "characters) or a card number (8-20 digits)").format(source=source, code=mask(text),
                                                                               most=MAX_CODE))
    return text


def describe(port: str) -> str:
    """The port as people may see it (a socket:// URL's host stays; nothing secret there)."""
    return port


def open_port(port: str, baud: int):
    """The open port, or a ConfigError (78) for a name pyserial cannot use at all."""
    import serial

    try:
        return serial.serial_for_url(port, baudrate=baud, timeout=0, exclusive=None)
    except ValueError as exc:
        raise ConfigError(_("SCANNER_PORT {port} is not a port pyserial can open: {error}").format(
            port=repr(port), error=exc)) from None
    except (serial.SerialException, OSError) as exc:
        # unplugged, or held by another program: may work the next time
        raise TransientError(_("scanner port {port} cannot be opened ({reason}); "
                               "is the scanner plugged in and the port free?").format(
            port=port, reason=_reason(exc))) from None


def read_code(port: str, baud: int, timeout: float, clock=time.monotonic) -> str:
    """Wait up to `timeout` seconds for one code on `port`; return it validated."""
    return read_from(open_port(port, baud), port, timeout, clock)


def read_from(device, port: str, timeout: float, clock=time.monotonic) -> str:
    """One code from an open port (closed afterwards). pyserial empties the input buffer when it
    opens a port, so only what the scanner sends from then on counts."""
    import serial

    try:
        raw = _read_until_terminator(device, timeout, clock)
    except (serial.SerialException, OSError) as exc:
        raise TransientError(_("scanner port {port}: {reason}").format(port=port, reason=_reason(exc))) from None
    finally:
        device.close()
    if raw is None:
        raise TransientError(_("no code scanned within {seconds} s on {port}").format(
            seconds=f"{timeout:g}", port=describe(port)))
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        raise InputError(_("scanner on {port}: read {code} with bytes that are not ASCII; "
                           "is SCANNER_BAUD right for the scanner?").format(port=port, code=mask(text))) from None
    return validate(text, _("scanner on {port}").format(port=port))


def _read_until_terminator(device, timeout: float, clock) -> bytes | None:
    """The bytes before the first CR or LF; None when the time runs out first.

    Terminators left over from an earlier scan (the LF of a CR LF) are skipped.
    Blocking reads with the time left, so no CPU is spent waiting and no sleep is guessed.
    """
    deadline = clock() + timeout
    buffer = bytearray()
    while True:
        left = deadline - clock()
        if left <= 0:
            return None
        device.timeout = left
        chunk = device.read(max(1, min(device.in_waiting, MAX_READ)))
        if not chunk:
            continue
        buffer += chunk
        while buffer[:1] and buffer[:1] in (b"\r", b"\n"):
            del buffer[:1]
        ends = [i for i in (buffer.find(b"\r"), buffer.find(b"\n")) if i >= 0]
        if ends:
            return bytes(buffer[:min(ends)])
        if len(buffer) > MAX_READ:
            text = bytes(buffer[:64]).decode("latin-1")
            raise InputError(_("scanner sent more than {most} bytes without CR or LF ({code}…); "
                               "set the scanner's suffix to CR or LF").format(most=MAX_READ, code=mask(text)))


def _reason(exc: Exception) -> str:
    return (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).splitlines()[0][:200]
