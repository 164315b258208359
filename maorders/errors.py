"""The errors a pass can end with, each tied to its sysexits exit code (CONTRACT.md)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_DATAERR = 65
EXIT_UNAVAILABLE = 69
EXIT_CANTCREAT = 73
EXIT_TEMPFAIL = 75
EXIT_CONFIG = 78


class MaordersError(Exception):
    """Base of every expected failure; the message is one line, safe to show."""

    exit_code = EXIT_BUG


class UsageError(MaordersError):
    """The command line names something that does not exist (e.g. --only nosuch)."""

    exit_code = EXIT_USAGE


class InputError(MaordersError):
    """Local input unusable as a whole (stock file unreadable, bad operator input)."""

    exit_code = EXIT_DATAERR


class RefusedError(MaordersError):
    """A service refused us for good (401 after a token refresh, 403)."""

    exit_code = EXIT_UNAVAILABLE


class JournalError(MaordersError):
    """The journal or log directory cannot be created or written."""

    exit_code = EXIT_CANTCREAT


class TransientError(MaordersError):
    """Network, 5xx, 429, a malformed reply after retries, or the pass already running."""

    exit_code = EXIT_TEMPFAIL


class ConfigError(MaordersError):
    """A setting is missing or invalid; the message names the variable."""

    exit_code = EXIT_CONFIG


class PermanentError(MaordersError):
    """The remote rejected one item for good (400/404/409/422): recorded, not retried.

    Not fatal to a pass: the pass records it against the item and goes on.
    """

    exit_code = EXIT_OK

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
