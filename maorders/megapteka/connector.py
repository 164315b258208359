"""The MegApteka connector as the kernel sees it (see `maorders.connector`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from maorders.connector import Connector, Option, Pass
from maorders.i18n import N_

PASSES = "maorders.megapteka.passes"

CONNECTOR = Connector(
    name="megapteka",
    purpose="pharmacy ↔ MegApteka.ru: stock export, internet orders booked against stock, statuses both ways",
    switched_on_by=("MEGAPTEKA_URL",),
    settings="maorders.megapteka.settings:read",
    secrets=("secret",),
    migrations="maorders.megapteka.migrations:migrations",
    passes={
        "export-stock": Pass(
            f"{PASSES}:export_stock",
            "upload the pharmacy's stock (default department, less what bookings hold) to MegApteka.",
            example="--stock-file ostatki.csv",
            options=(Option("stock_file", Optional[Path], typer.Option(
                None, "--stock-file", help=N_("Read this stock export instead of MEGAPTEKA_STOCK_FILE. "
                                           "Example: --stock-file ostatki.csv"))),)),
        "pull-orders": Pass(f"{PASSES}:pull_orders",
                            "apply the site's events first (a cancel read before its order waits for it), then "
                            "book new site orders against stock (all / part / none) and queue their statuses.",
                            example="--only megapteka"),
        "push-statuses": Pass(f"{PASSES}:push_statuses",
                              "apply the site's events (3 cancel, 8 confirm), then send queued statuses."),
        "expire-bookings": Pass(f"{PASSES}:expire_bookings",
                                "delete bookings past MEGAPTEKA_BOOKING_TTL_HOURS, release their stock, "
                                "queue status 3."),
    },
    groups={"bookings": "maorders.megapteka.cli:bookings"},
    status=f"{PASSES}:status_view",
    doctor=f"{PASSES}:doctor_checks",
    demo="maorders.megapteka.demo:PharmacyDemo",
    sandbox="maorders.megapteka.demo:sandbox",
    desk="maorders.megapteka.web:PAGES",
    words="maorders.megapteka.words:WORDS",
)
