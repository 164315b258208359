"""The till's exchange with Megainsight: one client per run, its own short budget, errors in the
cashier's words.

Once the code is read the cashier waits for the service, so the exchange has a budget of
its own (MEGAINSIGHT_BUDGET, default 15 s, whatever MAORDERS_PASS_BUDGET says): every
retry and every timeout fits inside it, and when it is spent the run ends with 75 and one
line, so the cashier sells without loyalty. The service's refusals become the exit codes
CONTRACT.md lists: an unknown or expired client, too many points, an unknown operation or
more than was paid 65; a refused token or place id 69.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from loyalty.megainsight import MegainsightClient
from loyalty.settings import LoyaltySettings
from maorders.errors import InputError, PermanentError, RefusedError, TransientError
from maorders.http import Budget
from maorders.i18n import N_, _
from maorders.redact import register_secret

REMOTE = "megainsight"
FRIENDLY = {
    "client_not_found": N_("unknown client: the code is not a Megainsight client or card"),
    "code_expired": N_("the QR code has expired: ask the customer to show a fresh one"),
    "insufficient_points": N_("insufficient points"),
    "offer_not_available": N_("the client has no such offer"),
    "operation_not_found": N_("unknown operation"),
    "amount_exceeds_paid": N_("more than was paid"),
    "already_refunded": N_("the operation is already refunded in full"),
    "client_token_expired": N_("the client's session has expired: scan the code again"),
    "client_token_unknown": N_("the client's session is unknown: scan the code again"),
    "calculation_expired": N_("the calculation has expired: run the sale again"),
}

REFUSED = N_("the loyalty service refused")  # a refusal FRIENDLY does not name (the catalog's extractor
# skips an N_() nested in another call's arguments: named here)


def headers(config: LoyaltySettings) -> dict[str, str]:
    register_secret(config.token)
    return {"Authorization": f"Token {config.token}", "Accept": "application/json"}


def client(ctx, budget: Budget | None = None) -> MegainsightClient:
    """A client whose calls share `budget` (a fresh till budget when None)."""
    config: LoyaltySettings = ctx.config
    if budget is None:  # the till's wait starts now: the journal's writes count against it too
        budget = Budget(config.budget)
        ctx.journal.budget = budget
    remote = ctx.remote(REMOTE, config.url, budget=budget, headers=headers(config))
    return MegainsightClient(remote, config.place_id)


def standalone(config: LoyaltySettings, timeout: float, retries: int, budget: Budget):
    """A client outside a pass (doctor); the caller closes `client.remote`."""
    from maorders.http import Remote

    remote = Remote(REMOTE, config.url, timeout, retries, budget, headers=headers(config))
    return MegainsightClient(remote, config.place_id)


@contextmanager
def cashier_words(config: LoyaltySettings, doing: str) -> Iterator[None]:
    """The service's refusals and silences as one line with the right exit code."""
    try:
        yield
    except PermanentError as exc:
        reason = _(FRIENDLY.get(exc.code or "", REFUSED))
        raise InputError(_("{doing}: {reason} ({error})").format(doing=doing, reason=reason, error=exc)) from None
    except RefusedError as exc:
        raise RefusedError(_("{doing}: {error}; check MEGAINSIGHT_TOKEN and MEGAINSIGHT_PLACE_ID").format(
            doing=doing, error=exc)) from None
    except TransientError as exc:
        raise TransientError(_("{doing}: the loyalty service is unreachable or failing (MEGAINSIGHT_BUDGET "
                               "{budget} s): sell without loyalty or run again ({error})").format(
            doing=doing, budget=f"{config.budget:g}", error=exc)) from None


# The service keeps the first request under a request id (409 for another body: "the first
# request was applied or is still being applied"); after a resend of the same body, an expired
# calculation says nothing of the first either (shared/protocols/megainsight.md, Confirm).
IN_FLIGHT = ("request_id_reused",)
IN_FLIGHT_ON_RESEND = ("calculation_expired",)


@contextmanager
def keyed_effect(journal, config: LoyaltySettings, table: str, row_id: int, item, doing: str,
                 again: str) -> Iterator[None]:
    """One confirm or refund sent under its request id: a silence, or the service saying the
    request id is taken, leaves its outcome unknown (the rerun asks the service by the request
    id); a refusal closes it as not applied."""
    from loyalty import store

    resent = item.attempts > 0
    try:
        with cashier_words(config, doing):
            try:
                yield
            except PermanentError as exc:
                if exc.code in IN_FLIGHT or (resent and exc.code in IN_FLIGHT_ON_RESEND):
                    raise TransientError(_("the service holds an earlier request under this request id "
                                           "({code}); it may be applied").format(code=exc.code)) from None
                raise
    except TransientError as exc:
        store.outcome_unknown(journal, item, str(exc))
        again_text = (_("it will not confirm twice") if again == "confirm" else _("it will not refund twice"))
        raise TransientError(_("{error}; the outcome is not known: run the same command again, {again}").format(
            error=exc, again=again_text)) from None
    except (InputError, RefusedError) as exc:
        store.close_unapplied(journal, table, row_id, item, "failed", str(exc))
        raise
