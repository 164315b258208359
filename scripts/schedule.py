#!/usr/bin/env python
"""THE schedule: one list of what runs when, and every scheduler's files made from it.

    python scripts/schedule.py            # rewrite the files below from SCHEDULE
    python scripts/schedule.py --check    # exit 1 when a file differs from what SCHEDULE makes

Made from SCHEDULE (do not edit them by hand; tests/test_operations_schedule.py parses
each one and checks it against the list):
- scripts/windows/tasks/*.xml and scripts/windows/install-tasks.ps1 (Task Scheduler);
- scripts/linux/maorders.cron (/etc/cron.d/maorders);
- scripts/linux/systemd/maorders-*.service and *.timer (system units),
  scripts/linux/maorders-{watch,serve,desk}.desktop (XDG autostart, the staff's session) and
  scripts/linux/systemd-user/maorders-desk.service (a systemd user unit: the desk without a log-on).

Linux places (issue 9): settings /etc/maorders/maorders.env, journal /var/lib/maorders,
logs /var/log/maorders, everything created owner-only (umask 077). Windows:
C:\\ProgramData\\maorders, the folder's ACL set by the installer.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent
ENV_FILE = "/etc/maorders/maorders.env"
STATE_DIR = "/var/lib/maorders"
LOG_DIR = "/var/log/maorders"
JOURNAL = f"{STATE_DIR}/journal.db"
BIN = "/usr/local/bin/maorders"
USER = "maorders"


@dataclass(frozen=True)
class Job:
    name: str  # the task/unit name after "maorders-"
    args: tuple[str, ...]  # the maorders command line after the global options
    every_minutes: int = 10  # 0: at log-on (a user's session), not on a timer
    offset_minutes: int = 0  # staggered, so that passes do not start in the same second
    limit_minutes: int = 9  # killed after this (the journal is made for that), before the next run
    help: str = ""
    till_only: bool = False  # only on a till PC (install-tasks.ps1 -Till)
    desk_only: bool = False  # only where the staff desk runs (install-tasks.ps1 -Desk)
    settings: bool = False  # at log-on, reads the settings file (not only the journal)


SCHEDULE: tuple[Job, ...] = (
    Job("export-stock", ("export-stock",), 10, 0, help="upload the stock"),
    Job("pull-orders", ("pull-orders",), 10, 1, help="fetch and book new orders; CRM orders to the courier"),
    Job("push-statuses", ("push-statuses",), 10, 2, help="send statuses, apply site events, courier statuses"),
    Job("expire-bookings", ("expire-bookings",), 10, 3, help="unbook what was not collected in time"),
    Job("resend-receipts", ("resend-receipts",), 10, 4, help="send queued receipts and e-receipts to the MIS"),
    Job("scan-qr-reconcile", ("scan-qr", "--reconcile"), 10, 5, help="settle unfinished loyalty operations"),
    Job("watch", ("watch",), 0, help="desktop pop-ups for the logged-on staff"),
    Job("serve", ("serve",), 0, help="warm workers for the till's scan-qr (docs/loyalty.md)", till_only=True),
    Job("desk", ("desk",), 0, help="the staff desk, a web page at http://127.0.0.1:8765 (docs/operations.md)",
        desk_only=True, settings=True),
)


def passes() -> list[Job]:
    return [job for job in SCHEDULE if job.every_minutes]


def at_logon() -> list[Job]:
    return [job for job in SCHEDULE if not job.every_minutes]


# -- Windows: Task Scheduler ------------------------------------------------------------------
def task_xml(job: Job) -> str:
    """One task. MAORDERS_EXE, PYTHONW_EXE, ENV_FILE, WORK_DIR, JOURNAL are filled in by the installer."""
    if job.every_minutes:
        trigger = f"""    <TimeTrigger>
      <Repetition>
        <Interval>PT{job.every_minutes}M</Interval>
        <StopAtDurationEnd>false</StopAtDurationEnd>
      </Repetition>
      <StartBoundary>2026-01-01T00:{job.offset_minutes:02d}:00</StartBoundary>
      <Enabled>true</Enabled>
    </TimeTrigger>"""
        principal = """    <Principal id="Author">
      <UserId>S-1-5-18</UserId>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>"""
        command, arguments = "MAORDERS_EXE", f'--env-file "ENV_FILE" -q {" ".join(job.args)}'
        limit, policy = f"PT{job.limit_minutes}M", "IgnoreNew"
        note = (f"maorders {' '.join(job.args)} every {job.every_minutes} minutes as SYSTEM: {job.help}. "
                "IgnoreNew: never a second copy; ExecutionTimeLimit ends a hung pass.")
    else:
        trigger = """    <LogonTrigger>
      <Enabled>true</Enabled>
      <Delay>PT30S</Delay>
    </LogonTrigger>"""
        principal = """    <Principal id="Author">
      <GroupId>S-1-5-32-545</GroupId>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>"""
        # pythonw: no console window in the staff's session; the journal only read, no settings needed
        # (the desk acts as the connectors' commands do: it reads the settings file)
        where = '--env-file "ENV_FILE"' if job.settings else '--journal "JOURNAL"'
        command, arguments = "PYTHONW_EXE", f'-m maorders {where} {" ".join(job.args)}'
        limit, policy = "PT0S", "Parallel"  # one watcher per logged-on user
        note = f"maorders {' '.join(job.args)} at log-on of every user, in their session: {job.help}."
        if job.desk_only:  # one desk on one port: at log-on of its one account (the installer's -DeskUser)
            trigger = """    <LogonTrigger>
      <Enabled>true</Enabled>
      <Delay>PT30S</Delay>
      <UserId>DESK_USER</UserId>
    </LogonTrigger>"""
            principal = """    <Principal id="Author">
      <UserId>DESK_USER</UserId>
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>"""
            policy = "IgnoreNew"
            note = f"maorders {' '.join(job.args)} at log-on of the desk's account, in its session: {job.help}."
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Made by scripts/schedule.py from its SCHEDULE; edit that list, not this file. -->
<Task version="1.4" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>{escape(note)}</Description>
    <URI>\\maorders\\{job.name}</URI>
  </RegistrationInfo>
  <Triggers>
{trigger}
  </Triggers>
  <Principals>
{principal}
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>{policy}</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <ExecutionTimeLimit>{limit}</ExecutionTimeLimit>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <WakeToRun>false</WakeToRun>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{command}</Command>
      <Arguments>{escape(arguments)}</Arguments>
      <WorkingDirectory>WORK_DIR</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"""


def installer() -> str:
    names = ", ".join(f'"{job.name}"' for job in passes())
    watch = ", ".join(f'"{job.name}"' for job in at_logon() if not (job.till_only or job.desk_only))
    till = ", ".join(f'"{job.name}"' for job in at_logon() if job.till_only)
    desk = ", ".join(f'"{job.name}"' for job in at_logon() if job.desk_only)
    return f"""<#
.SYNOPSIS
  Registers the maorders tasks made by scripts/schedule.py (edit its SCHEDULE, not this file):
  every pass every {passes()[0].every_minutes} minutes as SYSTEM, and `maorders watch` at log-on of every user;
  with -Till (a fuel till PC) also `maorders serve` at log-on, for the till's scan-qr; with -Desk
  also `maorders desk` at log-on, the staff desk (a web page at http://127.0.0.1:8765).
.DESCRIPTION
  The settings file is made readable by SYSTEM and Administrators only. The data folder
  (journal, WAL, logs, locks) is made owner-only: SYSTEM and Administrators, plus read
  access for -WatchGroup (the counter staff whose `maorders watch` reads the journal) and, with
  -Till, modify access for -TillUser (the account the till program and `maorders serve` run as:
  scan-qr writes the journal) and, with -Desk, modify access for -DeskUser (the account the staff
  desk runs as: its actions write the journal; it reads the settings file, secrets included, so
  name the one account, not a group). With no settings file yet, the example (maorders.env.example) is
  copied there and the script stops: fill it in, then run the script again.
.PARAMETER MaordersExe
  The installed command the tasks run, e.g. "C:\\Program Files\\maorders\\Scripts\\maorders.exe" (a venv
  made as the README says) or pipx's "C:\\Users\\admin\\.local\\bin\\maorders.exe"; default: `maorders` on PATH.
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install-tasks.ps1 -MaordersExe "C:\\Program Files\\maorders\\Scripts\\maorders.exe"
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install-tasks.ps1
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install-tasks.ps1 -Passes pull-orders,push-statuses -NoWatch
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install-tasks.ps1 -Passes scan-qr-reconcile -Till -TillUser "AZS\\cashier"
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install-tasks.ps1 -Desk -DeskUser "APTEKA\\pharmacist"
#>
param(
  [string[]]$Passes = @({names}),
  [string]$MaordersExe = (Get-Command maorders -ErrorAction Stop).Source,
  [string]$EnvFile = "C:\\ProgramData\\maorders\\maorders.env",
  [string]$WorkDir = "C:\\ProgramData\\maorders",
  [string]$WatchGroup = "Users",
  [switch]$NoWatch,
  [switch]$Till,
  [string]$TillUser = "Users",
  [switch]$Desk,
  [string]$DeskUser = ""
)
$ErrorActionPreference = "Stop"
$Known = @({names})
$AtLogon = @({watch})
$TillOnly = @({till})
$DeskOnly = @({desk})
if ($Desk -and -not $DeskUser) {{ throw "-Desk needs -DeskUser DOMAIN\\account: the one account the staff desk runs as" }}
foreach ($pass in $Passes) {{ if ($Known -notcontains $pass) {{ throw "Unknown pass $pass (known: $($Known -join ', '))" }} }}
New-Item -ItemType Directory -Force -Path $WorkDir | Out-Null
if (-not (Test-Path $MaordersExe)) {{ throw "No maorders at $MaordersExe: install it first (README, Windows) or pass -MaordersExe." }}
if (-not (Test-Path $EnvFile)) {{
  $example = Join-Path $PSScriptRoot "..\\..\\maorders.env.example"
  if (-not (Test-Path $example)) {{ throw "Settings file $EnvFile not found: write it first (README, Settings)." }}
  Copy-Item $example $EnvFile
  icacls $EnvFile /inheritance:r /grant:r "*S-1-5-18:(R)" "*S-1-5-32-544:(F)" | Out-Null
  throw "Wrote $EnvFile from the example: fill in the connectors you use, then run this script again."
}}
# Orders and customers' data: the folder for SYSTEM and Administrators, read for the watchers.
$grants = @("*S-1-5-18:(OI)(CI)(F)", "*S-1-5-32-544:(OI)(CI)(F)")
if (-not $NoWatch -and $WatchGroup) {{ $grants += "$($WatchGroup):(OI)(CI)(RX)" }}
if ($Till) {{ $grants += "$($TillUser):(OI)(CI)(M)" }}
if ($Desk) {{ $grants += "$($DeskUser):(OI)(CI)(M)" }}
icacls $WorkDir /inheritance:r /grant:r @grants | Out-Null
# The settings file holds secrets: only SYSTEM and Administrators may read it (not the watchers either).
icacls $EnvFile /inheritance:r /grant:r "*S-1-5-18:(R)" "*S-1-5-32-544:(F)" | Out-Null
# A till's program runs scan-qr as -TillUser: it needs the Megainsight settings too.
if ($Till) {{ icacls $EnvFile /grant "$($TillUser):(R)" | Out-Null }}
# The staff desk acts as the commands do (the same settings): its one account reads the file too.
if ($Desk) {{ icacls $EnvFile /grant "$($DeskUser):(R)" | Out-Null }}
$Pythonw = Join-Path (Split-Path $MaordersExe) "pythonw.exe"
if (-not (Test-Path $Pythonw)) {{ $Pythonw = (Get-Command pythonw -ErrorAction SilentlyContinue).Source }}
$Journal = Join-Path $WorkDir "journal.db"
$names = @($Passes)
if (-not $NoWatch) {{ $names += $AtLogon }}
if ($Till) {{ $names += $TillOnly }}
if ($Desk) {{ $names += $DeskOnly }}
foreach ($name in $names) {{
  $template = Get-Content -Raw -Encoding UTF8 -Path (Join-Path $PSScriptRoot "tasks\\maorders-$name.xml")
  $xml = $template.Replace("MAORDERS_EXE", $MaordersExe).Replace("PYTHONW_EXE", $Pythonw).
    Replace("ENV_FILE", $EnvFile).Replace("WORK_DIR", $WorkDir).Replace("JOURNAL", $Journal).
    Replace("DESK_USER", $DeskUser)
  Register-ScheduledTask -TaskName $name -TaskPath "\\maorders\\" -Xml $xml -Force | Out-Null
  Write-Host "registered \\maorders\\$name"
}}
"""


# -- Linux: cron, systemd, XDG autostart -------------------------------------------------------
def cron() -> str:
    lines = ["# /etc/cron.d/maorders — made by scripts/schedule.py from its SCHEDULE; edit that list.",
             "# flock -n: cron never stacks runs; maorders' own lock (exit 75) covers runs started by hand.",
             f"# Settings in {ENV_FILE} (mode 0600, owner {USER}); journal in {STATE_DIR}, logs in {LOG_DIR}.",
             "# umask 077: the journal, its WAL, logs and locks are readable by their owner only.",
             f"# Before the first run: install -d -m 0700 -o {USER} -g {USER} {STATE_DIR} {LOG_DIR}",
             "SHELL=/bin/sh",
             "PATH=/usr/local/bin:/usr/bin:/bin"]
    for job in passes():
        minutes = f"{job.offset_minutes}-59/{job.every_minutes}"
        lines.append(f"{minutes} * * * * {USER} umask 077; flock -n /run/lock/maorders-{job.name}.lock "
                     f"timeout {job.limit_minutes}m maorders --env-file {ENV_FILE} -q {' '.join(job.args)}")
    lines += ["# A person is needed when status --check exits 1: mail it (cron mails any output).",
              f"*/30 * * * * {USER} umask 077; maorders --env-file {ENV_FILE} -q status --check >/dev/null "
              "|| echo \"maorders needs attention: run 'maorders status'\""]
    return "\n".join(lines) + "\n"


def service(job: Job) -> str:
    return f"""# Made by scripts/schedule.py from its SCHEDULE; edit that list, not this file.
# One run by hand: systemctl start maorders-{job.name}.service
[Unit]
Description=maorders {' '.join(job.args)}: {job.help}
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
User={USER}
Group={USER}
StateDirectory=maorders
StateDirectoryMode=0700
LogsDirectory=maorders
LogsDirectoryMode=0700
UMask=0077
ExecStart={BIN} --env-file {ENV_FILE} -q {' '.join(job.args)}
# 75 is "run again later" (network down, already running): not a unit failure.
SuccessExitStatus=75
TimeoutStartSec={job.limit_minutes}min
"""


def timer(job: Job) -> str:
    return f"""# Made by scripts/schedule.py from its SCHEDULE; edit that list, not this file.
# systemctl enable --now maorders-{job.name}.timer
[Unit]
Description=maorders {' '.join(job.args)} every {job.every_minutes} minutes

[Timer]
OnCalendar=*-*-* *:{job.offset_minutes:02d}/{job.every_minutes}:00
RandomizedDelaySec=20s
Persistent=true

[Install]
WantedBy=timers.target
"""


def desktop(job: Job) -> str:
    if job.till_only:
        where = "# Copy to ~/.config/autostart/ of the user the till program runs as (the journal's owner)."
    elif job.desk_only:
        where = ("# Copy to ~/.config/autostart/ of the one user the staff desk runs as: it reads the settings\n"
                 "# file and writes the journal (docs/operations.md, \"The staff desk\"). Or, without a log-on,\n"
                 "# the user unit systemd-user/maorders-desk.service.")
    else:
        where = ("# Copy to /etc/xdg/autostart/ (every user) or ~/.config/autostart/ (one user). The user needs\n"
                 "# read access to the journal, owner-only by default: see docs/operations.md, \"Who may read\".")
    source = f"--env-file {ENV_FILE}" if job.settings else f"--journal {JOURNAL}"
    return f"""# Made by scripts/schedule.py from its SCHEDULE; edit that list, not this file.
{where}
[Desktop Entry]
Type=Application
Name=maorders {job.name}
Comment=maorders: {job.help}
Exec=maorders {source} {' '.join(job.args)}
Terminal=false
NoDisplay=true
X-GNOME-Autostart-enabled=true
"""


def user_service(job: Job) -> str:
    """A systemd user unit: the desk runs for its one account, at boot with lingering, restarted
    when it stops (a port taken at start, a crash); Ctrl+C's SIGINT and systemd's SIGTERM end it."""
    return f"""# Made by scripts/schedule.py from its SCHEDULE; edit that list, not this file.
# For the one account the staff desk runs as (it reads {ENV_FILE} and writes the journal):
#   install -m 0644 maorders-{job.name}.service /etc/systemd/user/   (install.sh does it)
#   systemctl --user enable --now maorders-{job.name}.service        (as that account)
#   loginctl enable-linger ACCOUNT                                   (to run without a log-on)
[Unit]
Description=maorders {' '.join(job.args)}: {job.help}

[Service]
Type=simple
UMask=0077
ExecStart={BIN} --env-file {ENV_FILE} {' '.join(job.args)}
Restart=on-failure
RestartSec=30s

[Install]
WantedBy=default.target
"""


def files() -> dict[Path, str]:
    """Every file SCHEDULE makes, by its path."""
    made: dict[Path, str] = {}
    for job in SCHEDULE:
        made[ROOT / "windows" / "tasks" / f"maorders-{job.name}.xml"] = task_xml(job)
    made[ROOT / "windows" / "install-tasks.ps1"] = installer()
    made[ROOT / "linux" / "maorders.cron"] = cron()
    for job in passes():
        made[ROOT / "linux" / "systemd" / f"maorders-{job.name}.service"] = service(job)
        made[ROOT / "linux" / "systemd" / f"maorders-{job.name}.timer"] = timer(job)
    for job in at_logon():
        made[ROOT / "linux" / f"maorders-{job.name}.desktop"] = desktop(job)
    for job in at_logon():
        if job.desk_only:
            made[ROOT / "linux" / "systemd-user" / f"maorders-{job.name}.service"] = user_service(job)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make (or --check) every scheduler's files from SCHEDULE.")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file differs")
    args = parser.parse_args(argv)
    drift = []
    for path, text in files().items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        drift.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
    for path in drift:
        print(("differs: " if args.check else "written: ") + str(path.relative_to(ROOT.parent)))
    return 1 if args.check and drift else 0


if __name__ == "__main__":
    sys.exit(main())
