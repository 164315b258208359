<#
.SYNOPSIS
  Registers the maorders tasks made by scripts/schedule.py (edit its SCHEDULE, not this file):
  every pass every 10 minutes as SYSTEM, and `maorders watch` at log-on of every user;
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
  The installed command the tasks run, e.g. "C:\Program Files\maorders\Scripts\maorders.exe" (a venv
  made as the README says) or pipx's "C:\Users\admin\.local\bin\maorders.exe"; default: `maorders` on PATH.
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install-tasks.ps1 -MaordersExe "C:\Program Files\maorders\Scripts\maorders.exe"
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install-tasks.ps1
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install-tasks.ps1 -Passes pull-orders,push-statuses -NoWatch
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install-tasks.ps1 -Passes scan-qr-reconcile -Till -TillUser "AZS\cashier"
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install-tasks.ps1 -Desk -DeskUser "APTEKA\pharmacist"
#>
param(
  [string[]]$Passes = @("export-stock", "pull-orders", "push-statuses", "expire-bookings", "resend-receipts", "scan-qr-reconcile"),
  [string]$MaordersExe = (Get-Command maorders -ErrorAction Stop).Source,
  [string]$EnvFile = "C:\ProgramData\maorders\maorders.env",
  [string]$WorkDir = "C:\ProgramData\maorders",
  [string]$WatchGroup = "Users",
  [switch]$NoWatch,
  [switch]$Till,
  [string]$TillUser = "Users",
  [switch]$Desk,
  [string]$DeskUser = ""
)
$ErrorActionPreference = "Stop"
$Known = @("export-stock", "pull-orders", "push-statuses", "expire-bookings", "resend-receipts", "scan-qr-reconcile")
$AtLogon = @("watch")
$TillOnly = @("serve")
$DeskOnly = @("desk")
if ($Desk -and -not $DeskUser) { throw "-Desk needs -DeskUser DOMAIN\account: the one account the staff desk runs as" }
foreach ($pass in $Passes) { if ($Known -notcontains $pass) { throw "Unknown pass $pass (known: $($Known -join ', '))" } }
New-Item -ItemType Directory -Force -Path $WorkDir | Out-Null
if (-not (Test-Path $MaordersExe)) { throw "No maorders at $MaordersExe: install it first (README, Windows) or pass -MaordersExe." }
if (-not (Test-Path $EnvFile)) {
  $example = Join-Path $PSScriptRoot "..\..\maorders.env.example"
  if (-not (Test-Path $example)) { throw "Settings file $EnvFile not found: write it first (README, Settings)." }
  Copy-Item $example $EnvFile
  icacls $EnvFile /inheritance:r /grant:r "*S-1-5-18:(R)" "*S-1-5-32-544:(F)" | Out-Null
  throw "Wrote $EnvFile from the example: fill in the connectors you use, then run this script again."
}
# Orders and customers' data: the folder for SYSTEM and Administrators, read for the watchers.
$grants = @("*S-1-5-18:(OI)(CI)(F)", "*S-1-5-32-544:(OI)(CI)(F)")
if (-not $NoWatch -and $WatchGroup) { $grants += "$($WatchGroup):(OI)(CI)(RX)" }
if ($Till) { $grants += "$($TillUser):(OI)(CI)(M)" }
if ($Desk) { $grants += "$($DeskUser):(OI)(CI)(M)" }
icacls $WorkDir /inheritance:r /grant:r @grants | Out-Null
# The settings file holds secrets: only SYSTEM and Administrators may read it (not the watchers either).
icacls $EnvFile /inheritance:r /grant:r "*S-1-5-18:(R)" "*S-1-5-32-544:(F)" | Out-Null
# A till's program runs scan-qr as -TillUser: it needs the Megainsight settings too.
if ($Till) { icacls $EnvFile /grant "$($TillUser):(R)" | Out-Null }
# The staff desk acts as the commands do (the same settings): its one account reads the file too.
if ($Desk) { icacls $EnvFile /grant "$($DeskUser):(R)" | Out-Null }
$Pythonw = Join-Path (Split-Path $MaordersExe) "pythonw.exe"
if (-not (Test-Path $Pythonw)) { $Pythonw = (Get-Command pythonw -ErrorAction SilentlyContinue).Source }
$Journal = Join-Path $WorkDir "journal.db"
$names = @($Passes)
if (-not $NoWatch) { $names += $AtLogon }
if ($Till) { $names += $TillOnly }
if ($Desk) { $names += $DeskOnly }
foreach ($name in $names) {
  $template = Get-Content -Raw -Encoding UTF8 -Path (Join-Path $PSScriptRoot "tasks\maorders-$name.xml")
  $xml = $template.Replace("MAORDERS_EXE", $MaordersExe).Replace("PYTHONW_EXE", $Pythonw).
    Replace("ENV_FILE", $EnvFile).Replace("WORK_DIR", $WorkDir).Replace("JOURNAL", $Journal).
    Replace("DESK_USER", $DeskUser)
  Register-ScheduledTask -TaskName $name -TaskPath "\maorders\" -Xml $xml -Force | Out-Null
  Write-Host "registered \maorders\$name"
}
