"""`maorders demo`: the README's first command, every connector's part, through the installed command."""

from __future__ import annotations

import json
import subprocess

from conftest import MAORDERS, base_env


def test_the_demo_runs_every_connector_and_keeps_its_files_in_its_workdir(tmp_path):
    workdir = tmp_path / "demo"
    done = subprocess.run([MAORDERS, "--json", "demo", "--workdir", str(workdir)], env=base_env(tmp_path),
                          capture_output=True, text=True, encoding="utf-8", timeout=300, stdin=subprocess.DEVNULL)

    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    commands = {step["command"].split()[0] for step in result["steps"]}
    assert {"export-stock", "pull-orders", "push-statuses", "expire-bookings", "scan-qr", "resend-receipts",
            "bookings"} <= commands
    assert result["site_counters"]["status"] > 0 and result["shipments"] and result["loyalty_sales"]
    assert result["clinic_invoices"] and result["emails"]
    assert (workdir / "journal.db").is_file() and (workdir / "maorders.env").is_file()
    assert not (tmp_path / "journal.db").exists()  # the demo ignores the settings it was started with
