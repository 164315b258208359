"""The clinic cash-desk bridge (ТМ:МИС ↔ the cash desk) as the kernel sees it (see `maorders.connector`)."""

from __future__ import annotations

from maorders.connector import Connector, Pass

CONNECTOR = Connector(
    name="misbridge",
    purpose="clinic cash desk ↔ ТМ:МИС: invoices in, Receive and Pay back, the buyer's e-receipt by e-mail or SMS",
    switched_on_by=("MIS_URL",),
    settings="misbridge.settings:read",
    secrets=("smtp_password", "sms_api_id"),
    migrations="misbridge.migrations:migrations",
    passes={
        "pull-orders": Pass("misbridge.passes:pull_orders",
                            "take the ТМ:МИС invoices waiting for this cash desk and send their Receive.",
                            example="--only misbridge"),
        "resend-receipts": Pass("misbridge.passes:resend_receipts",
                                "send every queued or failed Receive and Pay to ТМ:МИС, then the queued "
                                "e-receipts (e-mail, SMS), then drop history older than MIS_RETENTION_DAYS.",
                                example="--only misbridge"),
    },
    groups={"receipts": "misbridge.cli:receipts", "cashdesks": "misbridge.cli:cashdesks"},
    status="misbridge.passes:status_view",
    doctor="misbridge.passes:doctor_checks",
    demo="misbridge.demo:ClinicDemo",
    sandbox="misbridge.demo:sandbox",
    desk="misbridge.web:PAGES",
    loggers=("misbridge",),
    words="misbridge.words:WORDS",
)
