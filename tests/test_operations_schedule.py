"""Every scheduler's files come from scripts/schedule.py's one list: each is parsed (XML with
defusedxml, units and the autostart entry as INI) and checked against that list, and the
list against the passes the installed command has."""

from __future__ import annotations

import configparser
import importlib.util
import re
import shlex
import sys
from pathlib import Path

import pytest
from defusedxml import ElementTree

from maorders import connectors

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


def load_schedule():
    spec = importlib.util.spec_from_file_location("maorders_schedule", SCRIPTS / "schedule.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["maorders_schedule"] = module
    spec.loader.exec_module(module)
    return module


schedule = load_schedule()
JOBS = schedule.SCHEDULE


def ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False, comment_prefixes=("#", ";"))
    parser.optionxform = str  # keys are case-sensitive in units
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def test_the_files_on_disk_are_what_the_list_makes():
    assert schedule.main(["--check"]) == 0, "run: python scripts/schedule.py"
    made = set(schedule.files())
    on_disk = {p for p in (SCRIPTS / "windows" / "tasks").glob("*.xml")}
    on_disk |= {p for p in (SCRIPTS / "linux" / "systemd").iterdir()}
    on_disk |= set((SCRIPTS / "linux").glob("*.desktop"))
    on_disk |= set((SCRIPTS / "linux" / "systemd-user").iterdir())
    assert on_disk <= made, f"left over: {sorted(map(str, on_disk - made))}"


def test_every_pass_the_command_has_is_scheduled_and_every_scheduled_pass_exists():
    scheduled = {job.args[0] for job in schedule.passes()}
    assert scheduled == set(connectors.commands())
    assert [job.args for job in schedule.at_logon()] == [("watch",), ("serve",), ("desk",)]
    assert ("scan-qr", "--reconcile") in [job.args for job in JOBS]
    offsets = [job.offset_minutes for job in schedule.passes()]
    assert len(set(offsets)) == len(offsets)  # staggered


@pytest.mark.parametrize("job", JOBS, ids=lambda j: j.name)
def test_task_scheduler_xml(job):
    root = ElementTree.parse(SCRIPTS / "windows" / "tasks" / f"maorders-{job.name}.xml").getroot()
    assert root.find("t:RegistrationInfo/t:URI", NS).text == f"\\maorders\\{job.name}"
    arguments = shlex.split(root.find("t:Actions/t:Exec/t:Arguments", NS).text)
    assert arguments[-len(job.args):] == list(job.args)
    if job.every_minutes:
        trigger = root.find("t:Triggers/t:TimeTrigger", NS)
        assert trigger.find("t:Repetition/t:Interval", NS).text == f"PT{job.every_minutes}M"
        assert trigger.find("t:StartBoundary", NS).text.endswith(f":{job.offset_minutes:02d}:00")
        assert root.find("t:Principals/t:Principal/t:UserId", NS).text == "S-1-5-18"
        assert root.find("t:Settings/t:ExecutionTimeLimit", NS).text == f"PT{job.limit_minutes}M"
        assert root.find("t:Settings/t:MultipleInstancesPolicy", NS).text == "IgnoreNew"
        assert arguments[:2] == ["--env-file", "ENV_FILE"]
        assert root.find("t:Actions/t:Exec/t:Command", NS).text == "MAORDERS_EXE"
    elif job.desk_only:  # one desk, one port: at log-on of its one account, with the settings
        assert root.find("t:Triggers/t:LogonTrigger/t:UserId", NS).text == "DESK_USER"
        assert root.find("t:Principals/t:Principal/t:UserId", NS).text == "DESK_USER"
        assert root.find("t:Settings/t:MultipleInstancesPolicy", NS).text == "IgnoreNew"
        assert arguments[:4] == ["-m", "maorders", "--env-file", "ENV_FILE"]
    else:
        assert root.find("t:Triggers/t:LogonTrigger", NS) is not None
        assert root.find("t:Principals/t:Principal/t:GroupId", NS).text == "S-1-5-32-545"  # the user's session
        assert arguments[:4] == ["-m", "maorders", "--journal", "JOURNAL"]


def test_the_installer_knows_every_pass():
    text = (SCRIPTS / "windows" / "install-tasks.ps1").read_text(encoding="utf-8")
    known = re.search(r"\$Known = @\(([^)]*)\)", text).group(1)
    assert [name.strip().strip('"') for name in known.split(",")] == [job.name for job in schedule.passes()]
    assert '$AtLogon = @("watch")' in text and '$TillOnly = @("serve")' in text
    assert '$DeskOnly = @("desk")' in text and 'Replace("DESK_USER", $DeskUser)' in text
    assert "if ($Desk) { $names += $DeskOnly }" in text  # -Desk registers the desk's task


def test_cron_lines():
    lines = [line for line in (SCRIPTS / "linux" / "maorders.cron").read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#") and "=" not in line.split()[0]]
    for job in schedule.passes():
        line = next(line for line in lines if f"maorders-{job.name}.lock" in line)
        fields = line.split(None, 6)
        assert fields[0] == f"{job.offset_minutes}-59/{job.every_minutes}" and fields[1:5] == ["*"] * 4
        assert fields[5] == "maorders" and "umask 077;" in fields[6]
        assert shlex.split(fields[6])[-len(job.args):] == list(job.args)


@pytest.mark.parametrize("job", schedule.passes(), ids=lambda j: j.name)
def test_systemd_units(job):
    unit = ini(SCRIPTS / "linux" / "systemd" / f"maorders-{job.name}.service")
    service = unit["Service"]
    assert service["Type"] == "oneshot" and service["UMask"] == "0077"
    assert service["StateDirectory"] == "maorders" and service["LogsDirectory"] == "maorders"
    assert "75" in service["SuccessExitStatus"].split()
    command = shlex.split(service["ExecStart"])
    assert command[-len(job.args):] == list(job.args) and "--env-file" in command
    timer = ini(SCRIPTS / "linux" / "systemd" / f"maorders-{job.name}.timer")
    assert timer["Timer"]["OnCalendar"] == f"*-*-* *:{job.offset_minutes:02d}/{job.every_minutes}:00"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_autostart_entry():
    for job in schedule.at_logon():
        entry = ini(SCRIPTS / "linux" / f"maorders-{job.name}.desktop")["Desktop Entry"]
        assert entry["Type"] == "Application" and entry["Terminal"] == "false"
        assert shlex.split(entry["Exec"])[-len(job.args):] == list(job.args)
        assert ("--env-file" if job.settings else "--journal") in entry["Exec"]


def test_the_desk_has_a_systemd_user_unit():
    """Issue 19: the staff desk started like `serve`, also without a desktop log-on (a user unit)."""
    desk = next(job for job in schedule.at_logon() if job.desk_only)
    unit = ini(SCRIPTS / "linux" / "systemd-user" / f"maorders-{desk.name}.service")
    command = shlex.split(unit["Service"]["ExecStart"])
    assert command[0] == schedule.BIN and command[-1] == "desk" and "--env-file" in command
    assert unit["Service"]["Restart"] == "on-failure" and unit["Install"]["WantedBy"] == "default.target"


def test_prometheus_rules_use_only_metrics_maorders_writes():
    import yaml

    rules = yaml.safe_load((SCRIPTS / "prometheus" / "maorders.rules.yml").read_text(encoding="utf-8"))
    written = set(re.findall(r'"(maorders_\w+)"', (SCRIPTS.parent / "maorders" / "metrics.py").read_text()))
    written |= {f"maorders_pass_{m}" for m in re.findall(r'\("(last_\w+)",', (SCRIPTS.parent / "maorders" /
                                                                             "metrics.py").read_text())}
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {"MaordersPassFailing", "MaordersBacklogGrowing", "MaordersNeedsAPerson"} <= {a["alert"] for a in alerts}
    for rule in alerts:
        used = set(re.findall(r"maorders_\w+", rule["expr"]))
        assert used and used <= written, (rule["alert"], used - written)


@pytest.mark.parametrize("name", ["airflow_maorders.py", "prefect_maorders.py"])
def test_fleet_examples_are_python_that_retries_only_75(name):
    import ast

    text = (SCRIPTS / "fleet" / name).read_text(encoding="utf-8")
    ast.parse(text)
    shared = (SCRIPTS / "fleet" / "maorders_fleet.py").read_text(encoding="utf-8")
    assert "from maorders_fleet import run_maorders" in text  # one decision for both (tests/test_fleet_decision.py)
    assert "RUN_AGAIN_LATER = 75" in shared and "--env-file" in shared
