"""Issue 15 point 5: every remote call has a total deadline from the pass's budget, not only a
per-read timeout. A reply trickled one byte at a time is cut at the budget (± 1 s): 75."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time

import pytest

from conftest import Cli
from maorders.emulation import EmulatorApp, EmulatorServer, Response
from maorders.errors import TransientError
from maorders.http import Budget, Remote, json_body


class Slow(EmulatorApp):
    """A JSON reply of a few hundred bytes: trickled, it takes far longer than any budget here."""

    def route(self, request):
        return Response.json(200, {"items": list(range(100))})


@pytest.fixture
def slow():
    server = EmulatorServer(Slow()).start()
    yield server
    server.stop()


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers-and-body"])
def test_issue15_5_a_trickled_reply_is_cut_at_the_budget(slow, headers_too):
    slow.app.faults.trickle = 0.05  # ~400 bytes: 20 s whole; each byte well inside the read timeout
    slow.app.faults.trickle_headers = headers_too
    remote = Remote("test", slow.url, 5.0, 3, Budget(1.5), url_setting="TEST_URL")
    started = time.monotonic()
    with pytest.raises(TransientError, match="no whole reply within the time budget of 1.5 s"):
        remote.call("GET", "/items", safe=True, parse=json_body)
    elapsed = time.monotonic() - started
    assert 1.4 <= elapsed <= 2.5, elapsed
    assert slow.app.counters["requests"] == 1  # the budget is spent: no retry after the cut


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl makes the test certificate")
def test_issue15_5_a_trickled_reply_over_tls_is_cut_at_the_budget(tmp_path, monkeypatch):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # verification stays on, against our own CA
    server = EmulatorServer(Slow())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    server.start()
    try:
        remote = Remote("test", f"https://127.0.0.1:{server.port}", 5.0, 3, Budget(1.5))
        assert remote.call("GET", "/items", safe=True, parse=json_body) == {"items": list(range(100))}
        server.app.faults.trickle = 0.05
        started = time.monotonic()
        with pytest.raises(TransientError, match="no whole reply within the time budget"):
            remote.call("GET", "/items", safe=True, parse=json_body)
        assert time.monotonic() - started <= 2.5
    finally:
        server.stop()


def test_issue15_5_the_deadline_leaves_a_quick_reply_and_its_connection_alone(slow):
    remote = Remote("test", slow.url, 5.0, 0, Budget(0.5))
    for _ in range(3):  # keep-alive: a finished attempt's timer never cuts the pooled connection
        assert remote.call("GET", "/items", safe=True, parse=json_body) == {"items": list(range(100))}
    time.sleep(0.6)  # past the budget: had a timer still been armed, the socket would be shut now
    assert remote.session.get(slow.url + "/items", timeout=5).json() == {"items": list(range(100))}


def test_issue15_5_the_pass_budget_holds_a_trickled_reply_in_the_installed_command(cli: Cli, megapteka):
    _, app = megapteka
    app.faults.trickle = 0.2  # the token's reply alone would take over 20 s
    started = time.monotonic()
    done = cli.run("pull-orders", MAORDERS_PASS_BUDGET="3", MAORDERS_HTTP_TIMEOUT="5")
    elapsed = time.monotonic() - started
    assert done.returncode == 75, done.stderr
    assert "no whole reply within the time budget of 3 s" in done.stderr
    assert elapsed < 3 + 1 + 2, elapsed  # the budget, its second, and the command's own start-up
