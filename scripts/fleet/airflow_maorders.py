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

Copy it and maorders_fleet.py (the decision both flows share) to the Airflow dags folder;
MAORDERS_BIN and MAORDERS_ACCOUNTS may point elsewhere. A pass that hangs past 8 minutes is
stopped and retried like a 75; the task logs maorders' one-line `reason`.
Tested with Airflow 2.9 (TaskFlow API, `expand`/`partial`).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.decorators import dag, task
from airflow.exceptions import AirflowException, AirflowFailException

from maorders_fleet import run_maorders

MAORDERS = os.environ.get("MAORDERS_BIN", "/usr/local/bin/maorders")
ACCOUNTS = Path(os.environ.get("MAORDERS_ACCOUNTS", "/etc/maorders/accounts"))
PASSES = ("pull-orders", "push-statuses")  # the courier connector's passes
PASS_TIMEOUT_S = 8 * 60


@dag(schedule="*/10 * * * *", start_date=datetime(2026, 1, 1), catchup=False, max_active_runs=1,
     dagrun_timeout=timedelta(minutes=9), tags=["maorders"])
def maorders_courier_accounts():
    @task
    def accounts() -> list[dict[str, str]]:
        """One mapped task per (account, pass): an env file is an account."""
        return [{"account": env.stem, "command": command}
                for env in sorted(ACCOUNTS.glob("*.env")) for command in PASSES]

    @task(retries=3, retry_delay=timedelta(seconds=60), retry_exponential_backoff=True,
          execution_timeout=timedelta(minutes=8, seconds=30), map_index_template="{{ task.op_kwargs['job']['account'] }}")
    def run_pass(job: dict[str, str]) -> dict:
        decision = run_maorders(MAORDERS, ACCOUNTS / f"{job['account']}.env", job["command"], PASS_TIMEOUT_S)
        line = decision.line(job["account"], job["command"])
        if decision.outcome == "retry":
            raise AirflowException(line)  # retried, with backoff
        if decision.outcome == "fail":  # a person must act: no retry
            raise AirflowFailException(line)
        return {"account": job["account"], "command": job["command"],
                "connectors": {name: c.get("counts", {}) for name, c in decision.summary.get("connectors", {}).items()}}

    run_pass.expand(job=accounts())


maorders_courier_accounts()
