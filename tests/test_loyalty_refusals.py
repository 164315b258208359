"""`scan-qr`'s refusals, each with its exit code and one clear line (CONTRACT.md), run in this
process through the same typer app: bad, expired and unknown codes; too many points; options
that do not go together; the service refusing (401, 403) or silent (5xx, 429, timeouts) within
the till's own budget; a silent scanner."""

from __future__ import annotations

import socket
import time

from loyalty_fixtures import CARD, in_process, journal_rows, megainsight  # noqa: F401


def test_bad_expired_and_unknown_codes_and_too_many_points(in_process, megainsight):
    cases = [(("--code", megainsight.qr(ttl=-1)), "expired"), (("--code", "00000000000"), "unknown client"),
             (("--code", "12345"), "8-20 digits"), (("--code", "\x1d0104601234567890"), "marking code"),
             (("--code", CARD, "--redeem", "1520.01"), "insufficient points"),
             (("--code", CARD, "--redeem", "1000"), "insufficient points"),  # over max_redeem (half of 280)
             (("--code", CARD, "--offer", "of-7"), "no such offer"),
             (("--code", CARD, "--line", "AI95:40:56.001"), "PRICE more than 2 decimals")]
    for args, words in cases:
        amount = () if "--line" in args else ("--amount", "280.00")
        code, loyalty = in_process.sale(*args, *amount, "--receipt-number", "0060")
        assert code == 65, (args, loyalty)
        assert words in loyalty["errors"][0], (words, loyalty)
    assert megainsight.app.counters["confirm"] == 0
    assert journal_rows(in_process, "SELECT COUNT(*) FROM loyalty_sales") == [(0,)]


def test_refund_refusals(in_process, megainsight):
    code, sale = in_process.sale("--code", CARD, "--amount", "100.00", "--receipt-number", "0061")
    assert code == 0
    operation = sale["result"]["operation_id"]
    code, loyalty = in_process.sale("--refund", operation, "--amount", "100.01")
    assert code == 65 and "more than was paid" in loyalty["errors"][0]
    code, loyalty = in_process.sale("--refund", "op-999", "--amount", "1")
    assert code == 65 and "unknown operation" in loyalty["errors"][0]
    code, loyalty = in_process.sale("--refund", "op 1")
    assert code == 65 and "not an operation id" in loyalty["errors"][0]
    assert megainsight.app.counters["refund"] == 0


def test_options_that_do_not_go_together_and_a_till_without_yes(in_process, megainsight):
    for args, words in [(("--info", "--code", CARD, "--amount", "5"), "--info takes no sale options"),
                        (("--refund", "op-1", "--reconcile"), "cannot go together"),
                        (("--refund", "op-1", "--line", "A:1:1"), "--refund takes only"),
                        (("--reconcile", "--code", CARD), "takes no --code")]:
        code, summary = in_process.json("scan-qr", *args)
        assert code == 2 and words in summary["connectors"]["loyalty"]["errors"][0]  # usage (issue 15 point 8)
    code, summary = in_process.json("scan-qr", "--code", CARD, "--amount", "5")
    assert code == 65 and "--yes" in summary["connectors"]["loyalty"]["errors"][0]
    assert megainsight.app.counters["requests"] == 0


def test_service_refuses_or_stays_silent(in_process, megainsight):
    app = megainsight.app
    code, loyalty = in_process.sale("--code", CARD, "--amount", "5", MEGAINSIGHT_TOKEN="wrong-token")
    assert code == 69 and "401" in loyalty["errors"][0]
    code, loyalty = in_process.sale("--code", CARD, "--amount", "5", MEGAINSIGHT_PLACE_ID="azs-9")
    assert code == 69 and "403" in loyalty["errors"][0]
    app.faults.error_rate = 1.0
    code, loyalty = in_process.sale("--code", CARD, "--amount", "5", MEGAINSIGHT_BUDGET="2")
    assert code == 75 and "sell without loyalty" in loyalty["errors"][0]
    app.faults.error_rate, app.faults.delay = 0.0, 2.0
    started = time.monotonic()
    code, loyalty = in_process.sale("--code", CARD, "--amount", "5", MEGAINSIGHT_BUDGET="0.5",
                                    MAORDERS_PASS_BUDGET="480")
    assert code == 75 and time.monotonic() - started < 1.5  # the till's budget, whatever the pass's is
    app.faults.delay, app.faults.rate_limit_every, app.faults.retry_after = 0.0, 2, 0
    code, loyalty = in_process.sale("--code", CARD, "--amount", "5", "--receipt-number", "0070")
    assert code == 0, loyalty
    assert app.counters["fault_429"] >= 1 and app.counters["confirm"] == 1
    app.faults.rate_limit_every, app.faults.retry_after = 1, 60  # Retry-After past the budget: give up at once
    started = time.monotonic()
    code, loyalty = in_process.sale("--code", CARD, "--amount", "5", MEGAINSIGHT_BUDGET="3")
    assert code == 75 and time.monotonic() - started < 2.5


def test_silent_scanner_and_no_scanner(in_process, megainsight):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        code, loyalty = in_process.sale("--amount", "5", SCANNER_PORT=f"socket://127.0.0.1:{listener.getsockname()[1]}",
                                        SCANNER_TIMEOUT="0.3")
    finally:
        listener.close()
    assert code == 75 and "no code scanned within 0.3 s" in loyalty["errors"][0]
    code, loyalty = in_process.sale("--amount", "5")
    assert code == 78 and "SCANNER_PORT" in loyalty["errors"][0]
    assert megainsight.app.counters["requests"] == 0
