"""Cash-desk benchmark: `resend-receipts` with N queued Pays and N e-mails, through the real CLI.

The ТМ:МИС emulator and a local SMTP server (aiosmtpd) run in this process. The journal is
filled (not timed) with N invoices taken by pull-orders and N receipts with an e-mail each;
then `maorders resend-receipts --only misbridge` (a subprocess, interpreter start included)
sends the N Pays and the N e-mails. The baseline, in its own subprocess, does the same work
naively: one requests session posting the same N Pay bodies, one smtplib connection sending
the same N messages, no journal; it runs against a fresh emulator and a fresh SMTP server.
Limit: 1.3× the baseline; and one SMTP connection for the whole pass.

    python scripts/bench_misbridge.py            # 1,000 Pays and 1,000 e-mails
    python scripts/bench_misbridge.py --small    # 50 of each, a smoke run
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_rows import clean_environment  # scripts/ is on the path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from misbridge.emulator import CASHDESK, OGRN, OID, SmtpServer, serve_mis, service  # noqa: E402

LIMIT = 1.3
MAORDERS = shutil.which("maorders", path=str(Path(sys.executable).parent)) or shutil.which("maorders")


def misbridge_benchmark(small: bool) -> list[dict[str, Any]]:
    """Rows: metric, maorders, baseline, ratio, limit, ok."""
    n = 50 if small else 1000
    workdir = Path(tempfile.mkdtemp(prefix="maorders-bench-misbridge-"))
    try:
        ours = _ours(workdir, n)
        base = _baseline(workdir, n)
        ratio = ours["seconds"] / base["seconds"]
        return [
            {"metric": f"resend-receipts, {n:,} Pays + {n:,} e-mails (wall, interpreter start included)",
             "maorders": round(ours["seconds"], 2), "baseline": round(base["seconds"], 2),
             "ratio": round(ratio, 3), "limit": LIMIT, "ok": ratio <= LIMIT},
            {"metric": "SMTP connections for the pass", "maorders": ours["connections"], "baseline": 1,
             "ratio": ours["connections"], "limit": 1, "ok": ours["connections"] == 1},
        ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _environment(workdir: Path, mis_url: str, smtp_port: int) -> dict[str, str]:
    return {**clean_environment(workdir),
            "MIS_URL": mis_url, "MIS_OGRN": OGRN, "MIS_OID": OID, "MIS_CASHDESK_GUID": CASHDESK,
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_STARTTLS": "no",
            "SMTP_FROM": "kassa@clinic.example"}


def _invoices(mis: Any, n: int) -> list[dict[str, Any]]:
    return [mis.add_invoice(10_000 + i, [service("B01.065.008", 2000, tax="0%"), service("A16.07.002", 3000)])
            for i in range(n)]


def _ours(workdir: Path, n: int) -> dict[str, Any]:
    from maorders.journal import Journal
    from maorders.settings import Env
    from misbridge import desk, settings

    mis_server, mis = serve_mis()
    smtp = SmtpServer().start()
    try:
        env = _environment(workdir, mis_server.url, smtp.port)
        _invoices(mis, n)
        _cli(env, "pull-orders")
        journal = Journal.open(Path(env["MAORDERS_JOURNAL"]), ["misbridge.migrations:migrations"])
        try:
            config = settings.read(Env(env))
            for i in range(n):
                desk.record_receipt(journal, config, str(10_000 + i), i + 1, ["cash:1000", "card:4000"],
                                    email=f"buyer{i}@example.org")
        finally:
            journal.close()
        started = time.perf_counter()
        counts = _cli(env, "resend-receipts")
        seconds = time.perf_counter() - started
        assert counts.get("pay_sent") == n and counts.get("email_sent") == n, counts
        assert mis.counters["pay"] == n and len(smtp.messages) == n
        return {"seconds": seconds, "connections": smtp.connections}
    finally:
        mis_server.stop()
        smtp.stop()


def _cli(env: dict[str, str], command: str) -> dict[str, int]:
    done = subprocess.run([MAORDERS, "--json", command, "--only", "misbridge"], env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{command} exited {done.returncode}: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return json.loads(done.stdout)["connectors"]["misbridge"]["counts"]


def _baseline(workdir: Path, n: int) -> dict[str, Any]:
    mis_server, mis = serve_mis()
    smtp = SmtpServer().start()
    try:
        invoices = _invoices(mis, n)
        mis.received.update(i["invoiceGuid"] for i in invoices)
        spec = workdir / "baseline.json"
        spec.write_text(json.dumps({"url": mis_server.url, "port": smtp.port,
                                    "invoices": [[i["invoiceGuid"], i["invoiceNum"]] for i in invoices]}))
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--baseline", str(spec)], check=True, timeout=3600)
        seconds = time.perf_counter() - started
        assert mis.counters["pay"] == n and len(smtp.messages) == n
        return {"seconds": seconds}
    finally:
        mis_server.stop()
        smtp.stop()


def naive(spec_path: str) -> None:
    """The baseline: what a script with no journal does (one session, one SMTP connection)."""
    import smtplib
    from datetime import datetime
    from email.message import EmailMessage
    from email.utils import make_msgid

    import requests

    spec = json.loads(Path(spec_path).read_text())
    session = requests.Session()
    ids = {"OGRN": OGRN, "OID": OID}
    for number, (guid, invoice_num) in enumerate(spec["invoices"], 1):
        payments = {"BillDate": datetime.now().strftime("%Y-%m-%dT%H:%M:%S"), "CheckNum": number, "Type": 1,
                    "cashdeskGuid": CASHDESK, "Payments": [{"PaymentType": 1, "paySum": 1000.0},
                                                           {"PaymentType": 2, "paySum": 4000.0}]}
        reply = session.post(f"{spec['url']}/api/paidServices/IntegrationInvoice/v2/Pay", timeout=30,
                             json=ids | {"invoiceGuid": guid, "invoiceNum": invoice_num, "Payments": payments})
        assert reply.json()["Result"] == 1
    smtp = smtplib.SMTP("127.0.0.1", spec["port"], timeout=30)
    smtp.ehlo()
    for number in range(1, len(spec["invoices"]) + 1):
        message = EmailMessage()
        message["From"], message["To"] = "kassa@clinic.example", f"buyer{number}@example.org"
        message["Subject"], message["Message-ID"] = f"Кассовый чек № {number}", make_msgid(domain="clinic.example")
        message.set_content(f"Кассовый чек № {number}\nИТОГО: 5 000,00\n")
        message.add_alternative(f"<html><body><p>Кассовый чек № {number}</p></body></html>", subtype="html")
        smtp.send_message(message)
    smtp.quit()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--baseline"]:
        naive(sys.argv[2])
    else:
        from bench_rows import run_alone

        sys.exit(run_alone(misbridge_benchmark))
