"""The courier's two remotes for a pass: MeaSoft's XML API and RetailCRM's API, each paced
machine-wide as its service counts requests (per IP).
"""

from __future__ import annotations

from courier.measoft import FAIR_USAGE, MeasoftClient
from courier.retailcrm import RATE_LIMIT, RetailcrmClient
from maorders.ratelimit import paced, window_file
from maorders.runner import PassContext


def measoft_client(ctx: PassContext) -> MeasoftClient:
    s = ctx.config  # the courier's own settings (courier.settings)
    remote = paced(ctx.remote("measoft", s.measoft_url), window_file(ctx.settings.general.journal, "measoft"),
                   windows=FAIR_USAGE)
    return MeasoftClient(remote, s.measoft_login, s.measoft_password, s.measoft_extra, s.measoft_stream_id)


def crm_client(ctx: PassContext) -> RetailcrmClient:
    s = ctx.config  # the courier's own settings (courier.settings)
    remote = paced(ctx.remote("retailcrm", s.retailcrm_url, rate_limit=RATE_LIMIT),
                   window_file(ctx.settings.general.journal, "retailcrm"), RATE_LIMIT)
    return RetailcrmClient(remote, s.retailcrm_api_key, s.retailcrm_site)
