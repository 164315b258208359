"""Prefect flow: the same as airflow_maorders.py, one server, many shops' CRM accounts.

One settings file and journal per account in /etc/maorders/accounts/<account>.env (see
airflow_maorders.py). The flow maps one task per (account, pass); exit 75 ("run again later")
is retried, every other non-zero code fails that task at once and the others go on.

    prefect deploy scripts/fleet/prefect_maorders.py:maorders_courier_accounts --cron "*/10 * * * *"
    python scripts/fleet/prefect_maorders.py          # one run now
Tested with Prefect 3.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from prefect import flow, get_run_logger, task

MAORDERS = os.environ.get("MAORDERS_BIN", "/usr/local/bin/maorders")
ACCOUNTS = Path(os.environ.get("MAORDERS_ACCOUNTS", "/etc/maorders/accounts"))
PASSES = ("pull-orders", "push-statuses")
RUN_AGAIN_LATER = 75


class RunAgainLater(Exception):
    """Exit 75: the network, the remote, or the same pass already running."""


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
      timeout_seconds=8 * 60, task_run_name="{account} {command}")
def run_pass(account: str, command: str) -> dict:
    env_file = ACCOUNTS / f"{account}.env"
    done = subprocess.run([MAORDERS, "--env-file", str(env_file), "--json", "-q", command],
                          capture_output=True, text=True, encoding="utf-8", timeout=8 * 60)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = json.loads(lines[-1]) if lines else {"exit_code": done.returncode}
    if done.returncode == RUN_AGAIN_LATER:
        raise RunAgainLater(f"{account} {command}: {summary.get('error', 'run again later')}")
    if done.returncode != 0:
        raise NeedsAPerson(f"{account} {command} exited {done.returncode}: {summary.get('error', 'see the log')}")
    return summary


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
            failed.append(f"{account} {command}: {exc}")
    for line in failed:
        logger.error(line)
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(jobs)} passes need attention")


if __name__ == "__main__":
    maorders_courier_accounts()
