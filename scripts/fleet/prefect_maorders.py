"""Prefect flow: the same as airflow_maorders.py, one server, many shops' CRM accounts.

One settings file and journal per account in /etc/maorders/accounts/<account>.env (see
airflow_maorders.py). The flow maps one task per (account, pass); exit 75 ("run again later")
and a pass that hung past its timeout are retried, every other non-zero code fails that task at
once (its reason logged) and the others go on. The decision is `maorders_fleet.decide`, shared
with the Airflow DAG; keep maorders_fleet.py beside this file.

MAORDERS_BIN (default /usr/local/bin/maorders) and MAORDERS_ACCOUNTS (default
/etc/maorders/accounts) may point elsewhere; they are read from the environment of the process
that runs the flow (the worker's, when deployed).

One run now, without a Prefect server (Prefect starts a temporary one on 127.0.0.1):
    MAORDERS_BIN=… MAORDERS_ACCOUNTS=… python scripts/fleet/prefect_maorders.py
Every 10 minutes, with a Prefect server (PREFECT_API_URL) and a process work pool:
    prefect work-pool create default --type process                 # once
    cd scripts/fleet && prefect deploy prefect_maorders.py:maorders_courier_accounts \
        --name maorders-accounts --pool default --cron "*/10 * * * *"
    MAORDERS_BIN=… MAORDERS_ACCOUNTS=… prefect worker start --pool default
Run by hand with Prefect 3.9.1 (Python 3.11.7) against `maorders sandbox` on 2026-12-06, both
ways (docs/operations.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect import flow, get_run_logger, task

from maorders_fleet import run_maorders

MAORDERS = os.environ.get("MAORDERS_BIN", "/usr/local/bin/maorders")
ACCOUNTS = Path(os.environ.get("MAORDERS_ACCOUNTS", "/etc/maorders/accounts"))
PASSES = ("pull-orders", "push-statuses")
PASS_TIMEOUT_S = 8 * 60  # the subprocess is stopped then (Prefect 3's task timeout only warns)


class RunAgainLater(Exception):
    """Exit 75, or a pass stopped at its timeout: the network, the remote, the same pass running."""


class NeedsAPerson(Exception):
    """Any other non-zero exit: credentials (69), settings (78), input (65), a bug (1)."""


def only_run_again_later(task, task_run, state) -> bool:
    """Retry 75, never the rest."""
    try:
        state.result()
    except RunAgainLater:
        return True
    except Exception:
        return False
    return False


@task(retries=3, retry_delay_seconds=[60, 120, 240], retry_condition_fn=only_run_again_later,
      task_run_name="{account} {command}")
def run_pass(account: str, command: str) -> dict:
    decision = run_maorders(MAORDERS, ACCOUNTS / f"{account}.env", command, PASS_TIMEOUT_S)
    if decision.outcome != "ok":
        get_run_logger().warning(decision.line(account, command))
    if decision.outcome == "retry":
        raise RunAgainLater(decision.line(account, command))
    if decision.outcome == "fail":
        raise NeedsAPerson(decision.line(account, command))
    return decision.summary


@flow(name="maorders courier accounts")
def maorders_courier_accounts() -> None:
    logger = get_run_logger()
    jobs = [(env.stem, command) for env in sorted(ACCOUNTS.glob("*.env")) for command in PASSES]
    futures = run_pass.map([account for account, _ in jobs], [command for _, command in jobs])
    failed = []
    for (account, command), future in zip(jobs, futures):
        try:
            future.result()
        except Exception as exc:  # one account's trouble never stops the others
            failed.append(str(exc))
    for line in failed:
        logger.error(line)
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(jobs)} passes need attention")


if __name__ == "__main__":
    maorders_courier_accounts()
