"""Issue 17 point 4 through the installed `maorders`: `doctor` tells everything at once — every check
in one table even when settings are missing (one row per missing variable), a log folder it cannot
write is a row (not a bare 73), a passing check carries no exit code in --json, and a bad alert URL
says why Apprise refuses it."""

from __future__ import annotations

import json


def test_point4_doctor_with_three_missing_settings_shows_three_rows_and_every_other_check(cli):
    blocker = cli.workdir / "a-file"
    blocker.write_text("a regular file where the log folder should be")
    done = cli.run("--json", "doctor", MEGAPTEKA_PHARMACY_CODE="", MEGAPTEKA_SECRET="", MEGAPTEKA_COMPANY_INFO="",
                   MAORDERS_LOG_DIR=str(blocker / "logs"), MAORDERS_ALERT_URLS="bogus://nowhere")
    result = json.loads(done.stdout)
    assert done.returncode == 78 == result["exit_code"]
    checks = {c["check"]: c for c in result["checks"]}
    missing = [name for name in checks if name.startswith("setting ")]
    assert sorted(missing) == ["setting MEGAPTEKA_COMPANY_INFO", "setting MEGAPTEKA_PHARMACY_CODE",
                               "setting MEGAPTEKA_SECRET"]
    assert all(checks[name]["exit_code"] == 78 and not checks[name]["ok"] for name in missing)
    assert not checks["log folder"]["ok"] and checks["log folder"]["exit_code"] == 73
    assert "a-file" in checks["log folder"]["detail"]
    assert "Unparseable URL" in checks["alerts channel 1 (bogus)"]["detail"]
    assert "journal" in checks and "desktop pop-ups" in checks
    assert result["reason"]


def test_point4_json_passing_checks_carry_no_exit_code(cli):
    done = cli.run("--json", "doctor")
    result = json.loads(done.stdout)
    assert done.returncode == 0, done.stdout
    passing = [c for c in result["checks"] if c["ok"]]
    assert passing and all("exit_code" not in c for c in passing)
    assert "reason" not in result


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_doctor_says_whether_the_staff_desk_answers_a_warning_not_a_failure(cli):
    """Issue 19 (Safety): `doctor` shows whether the desk answers on MAORDERS_DESK_PORT; when it
    does not run, a warning (the passes do not need it), and once `maorders desk` runs, it answers."""
    import time

    port = str(_free_port())
    code, result, _ = cli.json("doctor", MAORDERS_DESK_PORT=port, MAORDERS_LANG="en")
    desk = next(c for c in result["checks"] if c["check"] == "staff desk")
    assert not desk["ok"] and desk["warning"] and f"127.0.0.1:{port}" in desk["detail"]
    assert "maorders desk" in desk["detail"] and code == result["exit_code"]
    assert "staff desk" not in (result.get("reason") or "")  # a warning never becomes the doctor's failure

    running = cli.popen("desk", MAORDERS_DESK_PORT=port)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and running.poll() is None:
            code, result, _ = cli.json("doctor", MAORDERS_DESK_PORT=port, MAORDERS_LANG="en")
            desk = next(c for c in result["checks"] if c["check"] == "staff desk")
            if desk["ok"]:
                break
        assert desk["ok"] and f"127.0.0.1:{port} answers" in desk["detail"], (desk, running.poll())
    finally:
        running.terminate()
        running.communicate(timeout=30)


def test_issue17_point5_doctor_lists_every_line_of_the_settings_file_it_cannot_parse(cli):
    """A pass stops at the first bad line (78 naming it); doctor lists them all, never their text."""
    settings = cli.workdir / "wrong.env"
    settings.write_text("MAORDERS_LANG=en\nthis is no setting 'secret-words\nGOOD=1\n\"also broken\n",
                        encoding="utf-8")
    done = cli.run("--env-file", str(settings), "--json", "doctor")
    result = json.loads(done.stdout)
    assert done.returncode == 78 == result["exit_code"], done.stderr
    rows = [c for c in result["checks"] if c["check"].startswith("settings file, line")]
    assert [c["check"] for c in rows] == ["settings file, line 2", "settings file, line 4"], result["checks"]
    assert "secret-words" not in done.stdout + done.stderr
    passed = cli.run("--env-file", str(settings), "export-stock")
    assert passed.returncode == 78 and "line 2" in passed.stderr and "secret-words" not in passed.stderr


def _stock_check(cli, **env: str) -> tuple[int, dict]:
    done = cli.run("--json", "doctor", **env)
    result = json.loads(done.stdout)
    (check,) = [c for c in result["checks"] if c["check"] == "megapteka stock file"]
    return done.returncode, check


def test_issue17_point4_doctor_reads_the_stock_file_as_export_stock_does(cli):
    """Doctor said yes to a file whose rows were all of another department, then export-stock
    exited 65: now it reads the file with export-stock's reader and says what it would do."""
    code, check = _stock_check(cli)
    assert check["ok"] and "Windows-1251" in check["detail"] and "«Основной»" in check["detail"], check
    code, check = _stock_check(cli, MEGAPTEKA_DEPARTMENT="Аптека 2")
    assert code == 65 and not check["ok"] and check["exit_code"] == 65
    assert "no row belongs to the department «Аптека 2»" in check["detail"] and "«Основной»" in check["detail"]
    assert cli.run("export-stock", MEGAPTEKA_DEPARTMENT="Аптека 2").returncode == 65  # doctor foretold it
    broken = cli.workdir / "broken.csv"
    broken.write_bytes(b"sku;name;department;quantity;price;barcode\n1;\x98;x;1;1;46\n")
    code, check = _stock_check(cli, MEGAPTEKA_STOCK_FILE=str(broken))
    assert code == 65 and "line 2" in check["detail"] and "0x98" in check["detail"], check


def test_doctor_names_its_checks_in_the_staffs_words_and_json_keeps_the_names(cli):
    """Issue 18 point 1: `doctor`'s rows read in Russian (the default), a missing setting's row too;
    `--json` keeps the machine names scripts match on."""
    shown = cli.run("doctor", MAORDERS_LANG="ru", MEGAPTEKA_SECRET="")
    rows = [line.split("\t")[0] for line in shown.stdout.splitlines()[2:]]
    assert {"папка логов", "всплывающие окна", "журнал", "настройка MEGAPTEKA_SECRET"} <= set(rows), shown.stdout
    assert not {"log folder", "desktop pop-ups", "journal", "setting MEGAPTEKA_SECRET"} & set(rows), shown.stdout
    shown = cli.run("doctor", MAORDERS_LANG="ru")  # whole settings: the connector's own rows, in its words
    rows = [line.split("\t")[0] for line in shown.stdout.splitlines()[2:]]
    assert "файл остатков для МегАптеки" in rows and "megapteka stock file" not in rows, shown.stdout
    names = {c["check"] for c in json.loads(cli.run("--json", "doctor", MAORDERS_LANG="ru",
                                                    MEGAPTEKA_SECRET="").stdout)["checks"]}
    assert {"log folder", "desktop pop-ups", "journal", "setting MEGAPTEKA_SECRET"} <= names
