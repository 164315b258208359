"""Issue 17 point 6: a refused connection says which host and which setting, not `broken
transfer (ConnectionError)`, and takes the retries it is given (no more, no fewer)."""

from __future__ import annotations

import logging
import socket

import pytest

from conftest import Cli
from maorders.errors import TransientError
from maorders.http import Budget, Remote
from maorders.settings import Env


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("retries", [0, 2])
def test_issue17_6_a_refused_connection_names_host_and_setting_and_takes_its_retries(closed_port, retries, caplog):
    remote = Remote("test", f"http://127.0.0.1:{closed_port}/api", 5.0, retries, Budget(60), url_setting="TEST_URL")
    with caplog.at_level(logging.WARNING, "maorders.http"), pytest.raises(TransientError) as caught:
        remote.call("GET", "/x", safe=True)
    message = str(caught.value)
    assert f"failed after {retries + 1} attempt(s)" in message
    assert f"cannot connect to 127.0.0.1:{closed_port} (connection refused); check TEST_URL" in message
    assert "broken transfer" not in message
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == retries


def test_issue17_6_the_setting_is_found_from_the_settings_when_the_connector_does_not_say(closed_port):
    url = Env({"SOMEWHERE_URL": f"http://127.0.0.1:{closed_port}/v1"}).url("SOMEWHERE_URL")
    remote = Remote("somewhere", url + "/api", 5.0, 0, Budget(60))  # a connector that names no setting
    with pytest.raises(TransientError, match="check SOMEWHERE_URL"):
        remote.call("GET", "/x", safe=True)


def test_issue17_6_a_host_that_does_not_resolve_says_so():
    remote = Remote("test", "http://no-such-host.invalid/api", 5.0, 0, Budget(60), url_setting="TEST_URL")
    with pytest.raises(TransientError, match=r"cannot connect to no-such-host.invalid \(host name not found\); "
                                             "check TEST_URL"):
        remote.call("GET", "/x", safe=True)


def test_issue17_6_the_installed_command_names_the_host_and_megapteka_url(cli: Cli, closed_port):
    done = cli.run("pull-orders", MEGAPTEKA_URL=f"http://127.0.0.1:{closed_port}/v1", MAORDERS_HTTP_RETRIES="1")
    assert done.returncode == 75
    line = done.stderr.strip().splitlines()[0]
    assert "failed after 2 attempt(s)" in line
    assert f"cannot connect to 127.0.0.1:{closed_port} (connection refused); check MEGAPTEKA_URL" in line
