"""The fault knobs every emulator shares (maorders.emulation), through a real local server."""

from __future__ import annotations

import json

import requests

from maorders.emulation import EmulatorApp, EmulatorServer, Response


class Words(EmulatorApp):
    def route(self, request):
        return Response.json(409, {"Result": False, "Message": "Номер чека 42 уже зафиксирован"})


def test_ascii_json_escapes_every_non_ascii_character_as_a_dotnet_serialiser_does():
    server = EmulatorServer(Words()).start()
    try:
        assert "Номер" in requests.get(server.url + "/x", timeout=5).text
        reply = requests.post(server.url + "/_emulator/faults", json={"ascii_json": "true"}, timeout=5)
        assert reply.json()["ascii_json"] is True
        reply = requests.get(server.url + "/x", timeout=5)
        assert reply.content.isascii() and b"\\u041d" in reply.content  # «Н» as \u041d
        assert reply.json()["Message"] == "Номер чека 42 уже зафиксирован"
        requests.post(server.url + "/_emulator/faults", json={"ascii_json": "false"}, timeout=5)
        assert "Номер" in requests.get(server.url + "/x", timeout=5).text
    finally:
        server.stop()


def test_echo_quotes_the_credentials_only_on_the_paths_asked_for():
    server = EmulatorServer(Words()).start()
    try:
        server.app.faults.echo_status, server.app.faults.echo_path = 500, "/token"
        echoed = requests.post(server.url + "/auth/token", json={"secret": "s3"}, headers={"X-API-KEY": "k3y"},
                               timeout=5)
        assert echoed.status_code == 500 and echoed.json()["message"] == 'refused: k3y {"secret": "s3"}'
        assert requests.get(server.url + "/orders", timeout=5).status_code == 409
        assert json.loads(requests.get(server.url + "/_emulator/counters", timeout=5).text)["fault_echo"] == 1
    finally:
        server.stop()
