"""The staff desk's test helpers: the real Flask app over a real journal, driven by its test client."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from typing import Any

from conftest import Cli

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
FLASH = re.compile(r'data-flash="(\w+)">([^<]*)<')


class DeskClient:
    """The desk app built from `cli`'s settings, and its Flask test client."""

    def __init__(self, cli: Cli, password: str | None = None, host: str = "127.0.0.1", **extra_env: str):
        from maorders import settings
        from maorders.desk import safety
        from maorders.desk.command import DeskSettings, build
        from maorders.output import Output
        from maorders.runner import AppState

        self.cli = cli
        state = AppState(Output(quiet=True))
        state._settings = settings.load(environ={**cli.env, **extra_env})
        self.app = build(state, DeskSettings(host, 8765, safety.password_hash(password)))
        self.app.config["TESTING"] = True
        self.client = self.app.test_client()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def token(self, path: str = "/") -> str:
        found = CSRF.search(self.get(path).get_data(as_text=True))
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None, token: str | None = None, page: str = "/") -> Any:
        """A form posted as the browser posts it (with the page's token unless `token` is given)."""
        fields = {"csrf": self.token(page) if token is None else token, **(data or {})}
        return self.client.post(path, data=fields)

    def act(self, path: str, data: dict[str, Any] | None = None, page: str = "/") -> tuple[str, str]:
        """Post, follow the redirect, and read the one message shown: (ok|problem, text)."""
        response = self.post(path, data, page=page)
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        shown = FLASH.findall(self.get(response.headers["Location"]).get_data(as_text=True))
        assert len(shown) == 1, shown
        category, text = shown[0]
        import html

        return category, html.unescape(text)


def rows(cli: Cli, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(cli.journal)) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(sql, params).fetchall()]
