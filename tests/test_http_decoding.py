"""Issue 16 point 2b (the kernel's part): any reply that cannot be decoded is malformed (retried,
then 75), whatever the decoder raises: deep nesting (RecursionError), NaN and Infinity, bad bytes."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import Cli
from maorders.emulation import EmulatorApp, EmulatorServer, Response
from maorders.errors import TransientError
from maorders.http import Budget, Remote, Retryable, json_body

DEEP = "[" * 200_000  # 200 KB of `[[[[`: the stdlib decoder raises RecursionError, not ValueError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30)


def reply(body: bytes, content_type: str = "application/json") -> requests.Response:
    """A reply as the kernel's reader gets it: a real `requests.Response` holding these bytes."""
    response = requests.Response()
    response.status_code, response._content = 200, body
    response.headers["Content-Type"] = content_type
    response.encoding = requests.utils.get_encoding_from_headers(response.headers)
    return response


def parsed_or_malformed(body: bytes, content_type: str = "application/json"):
    """The property: the value, or the kernel's malformed reply; any other exception fails the test."""
    try:
        return json_body(reply(body, content_type))
    except Retryable as exc:
        assert str(exc).startswith("malformed reply")
        return Retryable


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(json_values)
def test_issue16_2b_any_json_value_is_read_back_as_it_was(value):
    assert json_body(reply(json.dumps(value, ensure_ascii=False).encode("utf-8"))) == value


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from(["application/json", "application/json; charset=utf-8",
                                                  "text/plain; charset=no-such-charset", "text/html"]))
def test_issue16_2b_any_bytes_are_parsed_or_malformed(body, content_type):
    parsed_or_malformed(body, content_type)


@SETTINGS
@given(st.integers(min_value=1, max_value=100_000), st.sampled_from(["[", '{"a":', '[{"a":']),
       st.booleans())
def test_issue16_2b_any_depth_is_parsed_or_malformed(depth, opening, closed):
    closing = "".join("]" if part == "[" else "}" for part in reversed(opening.replace('"a":', "")))
    body = opening * depth + ("0" + closing * depth if closed else "")
    result = parsed_or_malformed(body.encode())
    assert result is Retryable or closed  # an unclosed body is never read as a value


@pytest.mark.parametrize("body", ['{"amount": NaN}', '[Infinity]', '{"a": -Infinity}', "1" * 5000, DEEP,
                                  '{"a":' * 5000 + "1" + "}" * 5000])
def test_issue16_2b_nan_infinity_huge_numbers_and_deep_nesting_are_malformed(body):
    assert parsed_or_malformed(body.encode()) is Retryable


class Hostile(EmulatorApp):
    def route(self, request):
        return Response.json(200, {"ok": True})


@pytest.mark.parametrize("body", [DEEP, '{"ok": NaN}'], ids=["deep", "nan"])
def test_issue16_2b_a_hostile_reply_from_a_real_server_is_retried_then_75(body):
    server = EmulatorServer(Hostile()).start()
    try:
        server.app.faults.replace_body = body
        remote = Remote("test", server.url, 5.0, 2, Budget(30))
        with pytest.raises(TransientError, match="failed after 3 attempt.*malformed reply"):
            remote.call("GET", "/x", safe=True, parse=lambda r: json_body(r)["ok"])
        assert server.app.counters["requests"] == 3
        if body == DEEP:  # a parser that reads the body itself is held to the same rule
            with pytest.raises(TransientError, match="malformed reply.*RecursionError"):
                remote.call("GET", "/x", safe=True, parse=lambda r: r.json()["ok"])
    finally:
        server.stop()


def test_issue16_2b_a_deeply_nested_reply_is_75_in_the_installed_command(cli: Cli, megapteka):
    megapteka[1].faults.replace_body = DEEP
    done = cli.run("pull-orders")
    assert done.returncode == 75, done.stderr
    assert "malformed reply" in done.stderr and "Traceback" not in done.stderr
