"""Issue 17 point 5: settings files. A wrong `--env-file` is one line naming the file and its first
bad line (at once, even for 200,000 lines); unreadable is 78; a folder says so; `unparsed_lines`
lists every line python-dotenv cannot parse (for `doctor`)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from conftest import Cli
from maorders.errors import ConfigError
from maorders.settings import load, read_values, unparsed_lines


def error_lines(done) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.strip()]


def test_issue17_5_a_wrong_file_of_200000_lines_is_one_line_at_once(cli: Cli, tmp_path):
    wrong = tmp_path / "orders.log"
    wrong.write_text("".join(f"2026-12-01 10:00:{i % 60:02d} INFO line {i}\n" for i in range(200_000)),
                     encoding="utf-8")
    started = time.monotonic()
    done = cli.run("--env-file", str(wrong), "pull-orders")
    elapsed = time.monotonic() - started
    assert done.returncode == 78
    assert error_lines(done) == [f"error: env file {wrong}, line 1: not a KEY=value line"]
    assert elapsed < 5, elapsed  # python-dotenv's warning for each of the 200,000 lines took 20 s


def test_issue17_5_the_first_bad_line_is_named_and_its_text_not_shown(cli: Cli, tmp_path):
    settings = tmp_path / "maorders.env"
    settings.write_text("# MegApteka\nMEGAPTEKA_URL=http://127.0.0.1:1/v1\nMEGAPTEKA_SECRET hunter2-secret\n"
                        "MAORDERS_HTTP_RETRIES=1\n", encoding="utf-8")
    done = cli.run("--env-file", str(settings), "pull-orders")
    assert done.returncode == 78
    assert error_lines(done) == [f"error: env file {settings}, line 3: not a KEY=value line"]
    assert "hunter2" not in done.stdout + done.stderr


def test_issue17_5_a_folder_is_a_folder(cli: Cli, tmp_path):
    done = cli.run("--env-file", str(tmp_path), "pull-orders")
    assert done.returncode == 78
    assert error_lines(done) == [f"error: env file {tmp_path} is a folder, not a file of KEY=value lines"]


def test_issue17_5_an_unreadable_file_is_78(cli: Cli, tmp_path):
    path = tmp_path / "maorders.env"
    with socket.socket(socket.AF_UNIX) as listener:  # a path even root cannot read as a file
        listener.bind(str(path))
        done = cli.run("--env-file", str(path), "pull-orders")
    assert done.returncode == 78
    assert error_lines(done)[0].startswith(f"error: env file {path} cannot be read: ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_issue17_5_a_file_without_read_permission_is_78(cli: Cli, tmp_path):
    path = tmp_path / "maorders.env"
    path.write_text("A=1\n", encoding="utf-8")
    path.chmod(0)
    done = cli.run("--env-file", str(path), "pull-orders")
    assert done.returncode == 78
    assert error_lines(done) == [f"error: env file {path} cannot be read: Permission denied"]


def test_issue17_5_unparsed_lines_lists_each_line_dotenv_cannot_parse(tmp_path):
    path = tmp_path / "maorders.env"
    path.write_text('A=1\nthis is wrong\nB="two\nlines"\nC=3 trailing "quote\nD="unclosed\n', encoding="utf-8")
    assert unparsed_lines(path) == [2, 6]
    path.write_text("A=1\nB = 2\nwrong one\n# fine\nwrong two\n\nE='x' y\n", encoding="utf-8")
    assert unparsed_lines(path) == [3, 5, 7]
    with pytest.raises(ConfigError, match="is a folder"):
        unparsed_lines(tmp_path)


def test_issue17_5_a_good_file_still_reads_as_python_dotenv_reads_it(tmp_path):
    from dotenv import dotenv_values

    path = tmp_path / "maorders.env"
    path.write_text('\ufeffMAORDERS_HTTP_RETRIES=3\nexport MEGAPTEKA_DEPARTMENT="Основной  зал"\n'
                    "MAORDERS_HTTP_TIMEOUT=${MAORDERS_HTTP_RETRIES}0 # comment\nEMPTY=\nBARE\n", encoding="utf-8")
    general = load(path, tmp_path / "j.db", environ={}).general
    assert (general.http_retries, general.http_timeout) == (3, 30.0)
    assert read_values(path, {}) == {k: v for k, v in dotenv_values(path).items() if v is not None} == {
        "MAORDERS_HTTP_RETRIES": "3", "MEGAPTEKA_DEPARTMENT": "Основной  зал", "MAORDERS_HTTP_TIMEOUT": "30",
        "EMPTY": ""}


def test_a_wrong_alert_threshold_is_a_settings_error_naming_it(cli):
    """MAORDERS_ALERT_AFTER / _REPEAT were read raw and a bad value silently became the default."""
    done = cli.run("export-stock", MAORDERS_ALERT_AFTER="soon")
    assert done.returncode == 78 and "MAORDERS_ALERT_AFTER" in done.stderr, done.stderr
    done = cli.run("--json", "doctor", MAORDERS_ALERT_REPEAT="0")
    assert done.returncode == 78 and "MAORDERS_ALERT_REPEAT" in done.stdout
    assert cli.run("export-stock", MAORDERS_ALERT_AFTER="0", MAORDERS_ALERT_REPEAT="0.5").returncode == 0
