"""What `maorders status` and `maorders doctor` show of the courier: shipment counts and what
needs a person; whether MeaSoft and RetailCRM accept our credentials.
"""

from __future__ import annotations

from typing import Any

from courier import store
from courier.measoft import FAIR_USAGE, MeasoftClient
from courier.retailcrm import RATE_LIMIT, RetailcrmClient
from maorders.i18n import _, ngettext
from maorders.ratelimit import paced, window_file


def status_view(journal: Any) -> dict[str, Any]:
    counts = {f"shipments {state}": n for state, n in sorted(store.state_counts(journal).items())}
    counts["shipments with a problem"] = store.with_problems(journal)
    unseen = store.with_problems(journal, unseen_only=True)
    attention = ([ngettext("{count} shipment needs a person ({command})",
                           "{count} shipments need a person ({command})", unseen).format(
                               count=unseen, command="maorders shipments list --problems")] if unseen else [])
    return {"counts": counts, "attention": attention}


def doctor_checks(settings: Any, budget: Any) -> list[dict[str, Any]]:
    from maorders.errors import MaordersError
    from maorders.http import Remote

    s, timeout = settings.of("courier"), settings.general.http_timeout
    checks = []
    measoft_remote = paced(Remote("measoft", s.measoft_url, timeout, 1, budget, url_setting="MEASOFT_URL"),
                           window_file(settings.general.journal, "measoft"), windows=FAIR_USAGE)
    crm_remote = paced(Remote("retailcrm", s.retailcrm_url, timeout, 1, budget, rate_limit=RATE_LIMIT,
                              url_setting="RETAILCRM_URL"),
                       window_file(settings.general.journal, "retailcrm"), RATE_LIMIT)
    probes = [
        ("measoft", measoft_remote, lambda: _measoft_probe(MeasoftClient(
            measoft_remote, s.measoft_login, s.measoft_password, s.measoft_extra, s.measoft_stream_id), s)),
        ("retailcrm", crm_remote, lambda: _crm_probe(RetailcrmClient(crm_remote, s.retailcrm_api_key,
                                                                     s.retailcrm_site), s)),
    ]
    for name, remote, probe in probes:
        try:
            checks.append({"check": name, "ok": True, "detail": probe()})
        except MaordersError as exc:
            checks.append({"check": name, "ok": False, "exit_code": exc.exit_code or 69, "detail": str(exc)})
        finally:
            remote.close()
    checks.append(stream_check(s.measoft_stream_id))
    return checks


def stream_check(stream_id: int | None) -> dict[str, Any]:
    """Without MEASOFT_STREAM_ID the ONLY_LAST poll and its commit use MeaSoft's shared default
    stream: another integration on the same MeaSoft account (MeaSoft's own RetailCRM module, a
    shop's site) commits the statuses we have not read, and we theirs (wiki rev. 12353,
    `<streamid>` 100..10000). A warning: it works until someone else polls too."""
    if stream_id is not None:
        return {"check": "measoft stream", "ok": True,
                "detail": _("statuses are polled on stream {stream} of our own").format(stream=stream_id)}
    return {"check": "measoft stream", "ok": False, "warning": True, "exit_code": 78,
            "detail": _("MEASOFT_STREAM_ID is not set: statuses are polled and committed on MeaSoft's shared "
                        "default stream, where another integration on the same account takes them; set "
                        "MEASOFT_STREAM_ID to a number 100..10000 used by nothing else")}


def _measoft_probe(client: MeasoftClient, s: Any) -> str:
    client.find("maorders-doctor")  # a lookup that changes nothing; auth is checked on the way
    if s.measoft_stream_id:
        return _("{url}: login accepted (extra {extra}, stream {stream})").format(
            url=s.measoft_url, extra=s.measoft_extra, stream=s.measoft_stream_id)
    return _("{url}: login accepted (extra {extra})").format(url=s.measoft_url, extra=s.measoft_extra)


def _crm_probe(client: RetailcrmClient, s: Any) -> str:
    page = client.history(0)
    return ngettext("{url}: API key accepted, shop {site}; the change history is readable ({count} change on "
                    "the first page)", "{url}: API key accepted, shop {site}; the change history is readable "
                    "({count} changes on the first page)", len(page.records)).format(
                        url=s.retailcrm_url, site=s.retailcrm_site, count=len(page.records))
