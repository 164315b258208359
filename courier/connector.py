"""The courier connector (RetailCRM ↔ MeaSoft) as the kernel sees it (see `maorders.connector`)."""

from __future__ import annotations

from maorders.connector import Connector, Pass

CONNECTOR = Connector(
    name="courier",
    purpose="RetailCRM ↔ MeaSoft: orders sent to the courier, delivery statuses and payments back",
    switched_on_by=("RETAILCRM_URL", "MEASOFT_URL"),
    settings="courier.settings:read",
    secrets=("retailcrm_api_key", "measoft_password"),
    migrations="courier.migrations:migrations",
    passes={
        "pull-orders": Pass("courier.passes:pull_orders",
                            "send RetailCRM orders that reached a send status to MeaSoft."),
        "push-statuses": Pass("courier.passes:push_statuses",
                              "MeaSoft's changed statuses and payments to RetailCRM, then commit the poll."),
    },
    groups={"shipments": "courier.cli:shipments"},
    status="courier.passes:status_view",
    doctor="courier.passes:doctor_checks",
    demo="courier.demo:CourierDemo",
    sandbox="courier.demo:sandbox",
    desk="courier.web:PAGES",
    words="courier.words:WORDS",
)
