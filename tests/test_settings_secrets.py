"""Issue 16 point 12: a malformed URL setting is never echoed with the key its path may hold
(MAORDERS_HEALTHCHECK_URL's ping key): its scheme and host only."""

from __future__ import annotations

import pytest

from conftest import Cli
from maorders.errors import ConfigError
from maorders.settings import load

KEY = "5b0a6c1e-ping-key-0042"


@pytest.mark.parametrize("value, shown", [
    (f"htps://hc-ping.com/{KEY}", "'htps://hc-ping.com/…'"),
    (f"hc-ping.com/{KEY}", "a value without http:// or https://"),
    (f"https:/hc-ping.com/{KEY}", "a value without http:// or https://"),
    (f"ftp://user:{KEY}@hc-ping.com/x", "'ftp://hc-ping.com/…'"),
])
def test_issue16_12_a_malformed_healthcheck_url_is_not_echoed_with_its_key(tmp_path, value, shown):
    (tmp_path / "none.env").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(tmp_path / "none.env", tmp_path / "j.db", environ={"MAORDERS_HEALTHCHECK_URL": value})
    message = str(caught.value)
    assert message.startswith("MAORDERS_HEALTHCHECK_URL must be an http(s) URL") and shown in message
    assert KEY not in message


def test_issue16_12_the_installed_command_names_the_setting_not_the_key(cli: Cli):
    done = cli.run("--json", "pull-orders", MAORDERS_HEALTHCHECK_URL=f"htps://hc-ping.com/{KEY}")
    assert done.returncode == 78
    assert "MAORDERS_HEALTHCHECK_URL" in done.stdout + done.stderr
    assert KEY not in done.stdout + done.stderr + cli.log_text()
