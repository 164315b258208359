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
