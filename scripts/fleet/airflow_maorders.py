"""Airflow DAG: one server running maorders for many shops' CRM accounts (docs/operations.md).

Each account has its own settings file and journal:
    /etc/maorders/accounts/<account>.env      (0600, owner of the Airflow worker)
      RETAILCRM_URL=…  RETAILCRM_API_KEY=…  MEASOFT_…  MAORDERS_JOURNAL=/var/lib/maorders/<account>/journal.db
      MAORDERS_LOG_DIR=/var/log/maorders/<account>  MAORDERS_METRICS_FILE=/var/lib/node_exporter/maorders-<account>.prom

Every 10 minutes the DAG lists the accounts and maps one task per account and pass (dynamic
task mapping). Exit 75 ("run again later": network, remote down, the pass already running) is
retried by Airflow; any other non-zero code is final for this run (it needs a person: 69
credentials, 78 settings, 65 input, 1 a bug) and fails the task without retries. Passes of one
account never overlap: maorders' own lock answers 75 to a second copy.

Copy to the Airflow dags folder; MAORDERS_BIN and MAORDERS_ACCOUNTS may point elsewhere.
Tested with Airflow 2.9 (TaskFlow API, `expand`/`partial`).
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

from airflow.decorators import dag, task
from airflow.exceptions import AirflowException, AirflowFailException

MAORDERS = os.environ.get("MAORDERS_BIN", "/usr/local/bin/maorders")
ACCOUNTS = Path(os.environ.get("MAORDERS_ACCOUNTS", "/etc/maorders/accounts"))
PASSES = ("pull-orders", "push-statuses")  # the courier connector's passes
RUN_AGAIN_LATER = 75


@dag(schedule="*/10 * * * *", start_date=datetime(2026, 1, 1), catchup=False, max_active_runs=1,
     dagrun_timeout=timedelta(minutes=9), tags=["maorders"])
def maorders_courier_accounts():
    @task
    def accounts() -> list[dict[str, str]]:
        """One mapped task per (account, pass): an env file is an account."""
        return [{"account": env.stem, "command": command}
                for env in sorted(ACCOUNTS.glob("*.env")) for command in PASSES]

    @task(retries=3, retry_delay=timedelta(seconds=60), retry_exponential_backoff=True,
          execution_timeout=timedelta(minutes=8), map_index_template="{{ task.op_kwargs['job']['account'] }}")
    def run_pass(job: dict[str, str]) -> dict:
        env_file = ACCOUNTS / f"{job['account']}.env"
        done = subprocess.run([MAORDERS, "--env-file", str(env_file), "--json", "-q", job["command"]],
                              capture_output=True, text=True, encoding="utf-8", timeout=8 * 60)
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        summary = json.loads(lines[-1]) if lines else {"exit_code": done.returncode}
        if done.returncode == RUN_AGAIN_LATER:
            raise AirflowException(f"{job['account']} {job['command']}: run again later ({summary.get('error', '')})")
        if done.returncode != 0:  # a person must act: no retry
            raise AirflowFailException(f"{job['account']} {job['command']} exited {done.returncode}: "
                                       f"{summary.get('error', 'see the log')}")
        return {"account": job["account"], "command": job["command"],
                "connectors": {name: c.get("counts", {}) for name, c in summary.get("connectors", {}).items()}}

    run_pass.expand(job=accounts())


maorders_courier_accounts()
