"""Issue 7's kernel items: every remote failure has its code, settings fail as settings, one
budget per pass, remote text shown as text, secrets masked in every encoding and every hop."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time

import pytest

from conftest import MAORDERS, Cli
from maorders.emulation import EmulatorApp, EmulatorServer, Response
from maorders.errors import ConfigError, RefusedError, TransientError
from maorders.http import Budget, Remote, json_body
from maorders.journal import Journal
from maorders.redact import redact, register_secret


class Echo(EmulatorApp):
    """200 with a small JSON body; `big` bytes of body when asked for /big."""

    def __init__(self, status: int = 200, big: int = 0):
        super().__init__()
        self.status, self.big, self.headers_seen = status, big, []

    def route(self, request):
        self.headers_seen.append(request.headers)
        if request.path.endswith("/big"):
            return Response(200, b"x" * self.big, {"Content-Type": "text/plain"})
        return Response.json(self.status, {"items": [1, 2, 3], "error": "e", "message": f"said {self.status}"})


@pytest.fixture
def serve():
    servers = []

    def start(app):
        server = EmulatorServer(app).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def remote(server, retries=1, **kwargs):
    return Remote("test", server.url, 2.0, retries, Budget(30), url_setting="TEST_URL", **kwargs)


# -- every remote failure has its code ------------------------------------------------------------
def test_a_body_cut_mid_transfer_is_retried_then_transient(serve):
    server = serve(Echo())
    server.app.faults.cut_body_rate = 1.0
    with pytest.raises(TransientError, match="broken transfer"):
        remote(server).call("GET", "/x", safe=True, parse=json_body)
    assert server.app.counters["requests"] == 2


def test_a_reply_of_the_wrong_shape_is_retried_then_transient(serve):
    server = serve(Echo())
    server.app.faults.wrong_shape_rate = 1.0
    with pytest.raises(TransientError, match="unexpected shape"):
        remote(server).call("GET", "/x", safe=True, parse=lambda r: json_body(r)["items"][0])
    assert server.app.counters["requests"] == 2


@pytest.mark.parametrize("status, error, words", [(404, ConfigError, "check TEST_URL"),
                                                  (405, ConfigError, "check TEST_URL"),
                                                  (400, RefusedError, "400")])
def test_a_whole_pass_4xx_refuses_the_pass(serve, status, error, words):
    server = serve(Echo(status))
    with pytest.raises(error, match=words):
        remote(server).call("POST", "/auth/token", safe=True, whole_pass=True)


def test_a_reply_over_the_limit_stops_while_read(serve):
    server = serve(Echo(big=3_000_000))
    with pytest.raises(TransientError, match="limit"):
        remote(server, max_reply_bytes=1_000_000).call("GET", "/big", safe=True)
    assert remote(server).call("GET", "/big", safe=True).content == b"x" * 3_000_000


# -- credentials stay with their host ------------------------------------------------------------
def test_a_redirect_to_another_host_carries_no_credentials(serve):
    other = serve(Echo())
    moved = serve(Echo())
    moved.app.faults.redirect_to = other.url.replace("127.0.0.1", "localhost")
    client = Remote("test", moved.url, 2.0, 0, Budget(30), headers={"X-API-KEY": "k3y-secret"},
                    url_setting="TEST_URL")
    with pytest.raises(ConfigError, match="redirected .* to http://localhost.*TEST_URL"):
        client.call("POST", "/orders", safe=True, data={"password": "p4ss"})
    with pytest.raises(ConfigError, match="TEST_URL"):
        client.call("GET", "/orders", safe=True)
    assert other.app.counters["requests"] == 0


class Moved(EmulatorApp):
    """/x moved to /v2/x on the same server."""

    def route(self, request):
        if request.path == "/x":
            return Response(301, b"", {"Location": "/v2/x?page=2"})
        return Response.json(200, {"path": request.path, "query": request.query})


def test_a_same_origin_get_redirect_is_followed(serve):
    server = serve(Moved())
    assert remote(server).call("GET", "/x", safe=True, parse=json_body, params={"page": "1"}) == {
        "path": "/v2/x", "query": {"page": ["2"]}}


def test_the_installed_command_refuses_a_redirect_naming_the_setting(cli: Cli, megapteka, serve):
    other = serve(Echo())
    megapteka[1].faults.redirect_to = other.url.replace("127.0.0.1", "localhost")

    code, result, stderr = cli.json("pull-orders")

    assert code == 78
    assert "MEGAPTEKA_URL" in stderr and "s3cret" not in stderr + json.dumps(result)
    assert other.app.counters["requests"] == 0


# -- secrets in every encoding ------------------------------------------------------------------------
def test_secrets_are_masked_url_json_and_xml_encoded():
    register_secret('p&ss w"rd/é')
    for text in ("login=x&password=p%26ss%20w%22rd%2F%C3%A9", "password=p%26ss+w%22rd%2F%C3%A9",
                 '{"password": "p&ss w\\"rd/\\u00e9"}', "<password>p&amp;ss w&quot;rd/é</password>"):
        assert "***" in redact(text) and "ss" not in redact(text).split("password")[-1], text


# -- settings fail as settings -----------------------------------------------------------------------------
def test_a_notepad_cp1251_env_file_is_read(cli: Cli):
    env_file = cli.workdir / "notepad.env"
    env_file.write_bytes("MEGAPTEKA_DEPARTMENT=Основной\r\nMEGAPTEKA_COMPANY_INFO=Область, Город, Аптека\r\n"
                         .encode("cp1251"))
    env = {k: v for k, v in cli.env.items() if k not in ("MEGAPTEKA_DEPARTMENT", "MEGAPTEKA_COMPANY_INFO")}
    done = subprocess.run([MAORDERS, "--json", "--env-file", str(env_file), "export-stock"], env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["connectors"]["megapteka"]["counts"]["exported"] > 0


@pytest.mark.parametrize("content, words", [(b"\x00\x01binary\x00", "not a text file"),
                                            (b"MEGAPTEKA_DEPARTMENT=\x98\x98", "neither UTF-8 nor Windows-1251")])
def test_an_env_file_that_is_not_text_is_78_naming_it(cli: Cli, content, words):
    env_file = cli.workdir / "bad.env"
    env_file.write_bytes(content)
    code, result, stderr = cli.json("--env-file", str(env_file), "pull-orders")
    assert code == 78 and words in stderr and "bad.env" in stderr
    assert "Traceback" not in stderr and not cli.journal.exists()


@pytest.mark.parametrize("name, value", [("MEGAPTEKA_BOOKING_TTL_HOURS", "1e12"), ("MAORDERS_HTTP_TIMEOUT", "nan"),
                                         ("MAORDERS_PASS_BUDGET", "1e300"), ("MAORDERS_BUSY_TIMEOUT", "-5")])
def test_absurd_numbers_are_78_naming_the_variable(cli: Cli, name, value):
    code, result, stderr = cli.json("expire-bookings", **{name: value})
    assert code == 78 and name in stderr and "Traceback" not in stderr


# -- one budget for the whole pass ------------------------------------------------------------------------------
def test_connectors_of_one_pass_share_one_budget(cli: Cli, megapteka, courier_emulators):
    megapteka[1].faults.delay = 2.0  # MegApteka's first reply comes after the whole budget: its wait spends it
    code, result, _ = cli.json("pull-orders", MAORDERS_PASS_BUDGET="1", MAORDERS_HTTP_TIMEOUT="5",
                               **courier_emulators.env())
    assert code == 75
    courier = result["connectors"]["courier"]
    assert not courier["ok"] and "budget is spent" in courier["errors"][0]
    assert courier_emulators.crm.counters["requests"] == 0


# -- remote text is shown as text; tracebacks only in the log -----------------------------------------------
def read_all(fd: int, proc: subprocess.Popen) -> str:
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    return b"".join(chunks).decode("utf-8", "replace")


def test_status_on_a_terminal_shows_square_brackets(cli: Cli):
    journal = Journal.open(cli.journal)
    with journal.write() as db:
        journal.notify(db, "courier", "1002A", "rejected", "field [receiver phone] has no valid phone number")
    journal.close()
    main, child = pty.openpty()
    proc = subprocess.Popen([MAORDERS, "status"], env={**cli.env, "COLUMNS": "200"}, stdin=child, stdout=child,
                            stderr=child, cwd=cli.workdir)
    os.close(child)
    try:
        screen = read_all(main, proc)
    finally:
        os.close(main)
    assert "field [receiver phone] has no valid phone number" in screen
