<#
.SYNOPSIS
  Registers one Task Scheduler task per maorders pass, every 10 minutes, as SYSTEM.
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install-tasks.ps1 -Passes export-stock,pull-orders,push-statuses,expire-bookings
#>
param(
  [string[]]$Passes = @("export-stock", "pull-orders", "push-statuses", "expire-bookings"),
  [string]$MaordersExe = (Get-Command maorders -ErrorAction Stop).Source,
  [string]$EnvFile = "C:\ProgramData\maorders\maorders.env",
  [string]$WorkDir = "C:\ProgramData\maorders"
)
$ErrorActionPreference = "Stop"
New-Item -ItemType Directory -Force -Path $WorkDir | Out-Null
if (-not (Test-Path $EnvFile)) { throw "Settings file $EnvFile not found: write it first (see README, Settings)." }
# The settings file holds secrets: only SYSTEM and Administrators may read it.
icacls $EnvFile /inheritance:r /grant:r "SYSTEM:(R)" "Administrators:(F)" | Out-Null
$template = Get-Content -Raw -Path (Join-Path $PSScriptRoot "maorders-pass.xml")
foreach ($pass in $Passes) {
  $xml = $template.Replace("MAORDERS_EXE", $MaordersExe).Replace("ENV_FILE", $EnvFile).
    Replace("WORK_DIR", $WorkDir).Replace("PASS", $pass)
  Register-ScheduledTask -TaskName $pass -TaskPath "\maorders\" -Xml $xml -Force | Out-Null
  Write-Host "registered \maorders\$pass"
}
