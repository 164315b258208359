"""The kernel on its own: settings, redaction, HTTP retries against a real local server, the journal."""

import logging
import time

import pytest

from maorders.emulation import EmulatorApp, EmulatorServer, Response
from maorders.errors import ConfigError, PermanentError, RefusedError, TransientError
from maorders.http import Budget, Remote, json_body, retry_after_seconds
from maorders.ratelimit import RateLimiter
from maorders.journal import Journal
from maorders.redact import RedactingFormatter, redact, register_secret
from maorders.settings import load

MEGAPTEKA = {"MEGAPTEKA_URL": "http://127.0.0.1:1/v1", "MEGAPTEKA_PHARMACY_CODE": "1001",
             "MEGAPTEKA_SECRET": "s3cret", "MEGAPTEKA_COMPANY_INFO": "Регион, Город, Бренд",
             "MEGAPTEKA_DEPARTMENT": "Основной"}


# -- settings --------------------------------------------------------------------------------
def test_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / "maorders.env"
    env_file.write_text("MEGAPTEKA_DEPARTMENT=Из файла\nMEGAPTEKA_BOOKING_TTL_HOURS=12\n", encoding="utf-8")
    settings = load(env_file, tmp_path / "j.db", environ={**MEGAPTEKA})
    assert settings.megapteka.department == "Основной"
    assert settings.megapteka.booking_ttl_hours == 12


def test_a_connector_is_configured_only_when_its_url_is_set(tmp_path):
    settings = load(_empty(tmp_path), tmp_path / "j.db", environ={})
    assert settings.configured() == []


def _empty(tmp_path):
    path = tmp_path / "empty.env"
    path.write_text("", encoding="utf-8")
    return path


@pytest.mark.parametrize("name, value, words", [
    ("MEGAPTEKA_SECRET", "", "MEGAPTEKA_SECRET is not set"),
    ("MEGAPTEKA_BOOKING_TTL_HOURS", "двое суток", "MEGAPTEKA_BOOKING_TTL_HOURS must be a number"),
    ("MEGAPTEKA_BOOKING_TTL_HOURS", "-1", "MEGAPTEKA_BOOKING_TTL_HOURS must be a number from 0 to 8784"),
    ("MEGAPTEKA_URL", "ftp://x", "MEGAPTEKA_URL must be an http\\(s\\) URL"),
    ("MEGAPTEKA_COMPANY_INFO", "только регион", "MEGAPTEKA_COMPANY_INFO"),
    ("MAORDERS_HTTP_RETRIES", "many", "MAORDERS_HTTP_RETRIES must be a whole number"),
])
def test_invalid_settings_name_the_variable(tmp_path, name, value, words):
    with pytest.raises(ConfigError, match=words):
        load(_empty(tmp_path), tmp_path / "j.db", environ={**MEGAPTEKA, name: value})


def test_decimal_ttl_with_a_comma(tmp_path):
    settings = load(_empty(tmp_path), tmp_path / "j.db", environ={**MEGAPTEKA, "MEGAPTEKA_BOOKING_TTL_HOURS": "0,5"})
    assert settings.megapteka.booking_ttl_hours == 0.5


def test_an_explicit_env_file_that_does_not_exist_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "missing.env", tmp_path / "j.db", environ={})


# -- redaction ---------------------------------------------------------------------------------
def test_secrets_phones_and_emails_are_masked():
    register_secret("tok-very-secret-123")
    text = redact("Bearer tok-very-secret-123 for +7 (999) 000-11-22 and ivanova@example.ru, X-API-KEY: abcdef")
    assert "tok-very-secret-123" not in text and "000-11-22" not in text and "ivanova@" not in text
    assert "abcdef" not in text


def test_the_log_formatter_masks_tracebacks_too():
    register_secret("p4ssw0rd-in-trace")
    try:
        raise ValueError("login failed for p4ssw0rd-in-trace")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, __import__("sys").exc_info())
    assert "p4ssw0rd-in-trace" not in RedactingFormatter().format(record)


# -- HTTP against a real local server -------------------------------------------------------------
class Scripted(EmulatorApp):
    """Answers with the scripted statuses in turn, then 200."""

    def __init__(self, *script):
        super().__init__()
        self.script = list(script)

    def route(self, request):
        if self.script:
            status, headers = self.script.pop(0)
            return Response.json(status, {"error": "e", "message": f"scripted {status}"}, headers)
        return Response.json(200, {"ok": True})


@pytest.fixture
def scripted():
    servers = []

    def start(*script):
        server = EmulatorServer(Scripted(*script)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def remote(server, retries=3, budget=30.0, timeout=2.0):
    return Remote("test", server.url, timeout, retries, Budget(budget))


def test_5xx_and_429_are_retried_and_then_succeed(scripted):
    server = scripted((503, {}), (429, {"Retry-After": "0"}), (500, {}))
    assert remote(server).call("GET", "/x", safe=True, parse=json_body) == {"ok": True}
    assert server.app.counters["requests"] == 4


def test_retries_spent_is_transient_with_the_remotes_words(scripted):
    server = scripted(*[(503, {})] * 5)
    with pytest.raises(TransientError, match="after 3 attempt.*scripted 503"):
        remote(server, retries=2).call("GET", "/x", safe=True)


def test_an_unsafe_call_is_not_retried(scripted):
    server = scripted((503, {}))
    with pytest.raises(TransientError):
        remote(server).call("POST", "/x", safe=False)
    assert server.app.counters["requests"] == 1


@pytest.mark.parametrize("status, error", [(400, PermanentError), (404, PermanentError), (409, PermanentError),
                                           (403, RefusedError)])
def test_4xx_is_final_for_the_item(scripted, status, error):
    server = scripted((status, {}))
    with pytest.raises(error):
        remote(server).call("GET", "/x", safe=True)
    assert server.app.counters["requests"] == 1


def test_retry_after_longer_than_the_budget_gives_up_at_once(scripted):
    server = scripted((429, {"Retry-After": "120"}))
    with pytest.raises(TransientError, match="budget"):
        remote(server, budget=5).call("GET", "/x", safe=True)


def test_a_timeout_is_transient(scripted):
    server = scripted()
    server.app.faults.delay = 1.0
    with pytest.raises(TransientError, match="Timeout"):
        remote(server, retries=1, timeout=0.2).call("GET", "/x", safe=True)


def test_a_malformed_body_is_retried_then_transient(scripted):
    server = scripted()
    server.app.faults.malformed_rate = 1.0
    with pytest.raises(TransientError, match="malformed"):
        remote(server, retries=1).call("GET", "/x", safe=True, parse=json_body)


def test_retry_after_as_seconds_and_as_http_date():
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert retry_after_seconds("soon") is None


def test_rate_limiter_never_lets_more_than_n_in_any_second():
    limiter, sent = RateLimiter(5), []
    for _ in range(12):
        limiter.wait()
        sent.append(time.monotonic())
    windows = [sum(1 for t in sent if s <= t < s + 1.0) for s in sent]
    assert max(windows) <= 5


# -- the journal --------------------------------------------------------------------------------------
def test_journal_pragmas_and_outbox_key_made_once(tmp_path):
    journal = Journal.open(tmp_path / "j.db")
    assert journal.value("PRAGMA journal_mode") == "wal"
    assert journal.value("PRAGMA synchronous") == 2  # FULL
    with journal.write() as db:
        assert journal.enqueue(db, "c", "k", "order-1", {"a": 1})
        assert not journal.enqueue(db, "c", "k", "order-1", {"a": 2})
    (item,) = journal.due("c")
    journal.begin_send(item)
    (again,) = journal.due("c")  # a killed send is 'unknown' and is sent again, with the same key
    assert again.idempotency_key == item.idempotency_key and again.state == "unknown"
    journal.finish_send(again, "sent", 200)
    assert journal.due("c") == []
    assert journal.value("SELECT COUNT(*) FROM attempts") == 1


def test_a_failed_write_leaves_the_journal_as_it_was(tmp_path):
    journal = Journal.open(tmp_path / "j.db")
    with pytest.raises(RuntimeError):
        with journal.write() as db:
            journal.set_cursor(db, "c", "feed", "10")
            raise RuntimeError("killed half-way")
    assert journal.cursor("c", "feed") == "0"


def test_a_migration_added_to_a_set_is_applied_though_the_journal_knew_the_set(tmp_path, monkeypatch):
    """Opening skips sets whose file is unchanged (no sqlite-utils import); an edited file is checked."""
    package = tmp_path / "shop_migrations_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    first = ('from sqlite_utils.migrations import Migrations\n\nmigrations = Migrations("shop")\n\n\n'
             '@migrations()\ndef m001(db):\n    db.execute("CREATE TABLE shelves (id INTEGER PRIMARY KEY)")\n')
    (package / "migrations.py").write_text(first)
    monkeypatch.syspath_prepend(str(tmp_path))
    reference = "shop_migrations_pkg.migrations:migrations"
    Journal.open(tmp_path / "j.db", [reference]).close()
    second = first + ('\n\n@migrations()\ndef m002(db):\n'
                      '    db.execute("CREATE TABLE boxes (id INTEGER PRIMARY KEY)")\n')
    (package / "migrations.py").write_text(second)
    import importlib
    import sys

    sys.modules.pop("shop_migrations_pkg.migrations", None)  # a new maorders version, a new process
    importlib.invalidate_caches()
    journal = Journal.open(tmp_path / "j.db", [reference])
    assert journal.value("SELECT COUNT(*) FROM sqlite_master WHERE name = 'boxes'") == 1
    assert journal.value("SELECT COUNT(*) FROM _sqlite_migrations WHERE migration_set = 'shop'") == 2
    journal.close()
    sys.modules.pop("shop_migrations_pkg.migrations", None)


def test_opening_a_journal_whose_sets_are_unchanged_imports_no_sqlite_utils(tmp_path):
    """A till's scan-qr pays ~70 ms for importing sqlite-utils; an up-to-date journal needs none of it."""
    import subprocess
    import sys

    script = ("import sys; from pathlib import Path; from maorders.journal import Journal\n"
              f"Journal.open(Path({str(tmp_path / 'j.db')!r}), ['loyalty.migrations:migrations']).close()\n"
              "print('sqlite_utils' in sys.modules)")
    made, opened = (subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
                    for _ in range(2))
    assert (made.stdout.strip(), opened.stdout.strip()) == ("True", "False")
