"""The staff desk (issue 19) through Flask's test client, over a real journal the installed CLI wrote
against the MegApteka emulator: needs a person, the bookings and their actions, and the desk's safety."""

from __future__ import annotations

import html
import sqlite3
import time
from contextlib import closing

import pytest

from conftest import order_line
from desk_fixtures import DeskClient, rows


def pull(cli, *orders):
    """New site orders (lists of lines) in the emulator, then `maorders pull-orders`."""
    server, app = cli.megapteka
    made = [app.add_order(lines) for lines in orders]
    done = cli.run("pull-orders")
    assert done.returncode == 0, done.stderr
    return made


@pytest.fixture
def pharmacy(cli, megapteka):
    cli.megapteka = megapteka
    assert cli.run("export-stock").returncode == 0
    full, partial = pull(cli, [order_line("A-1001", "4601234567890", 2)], [order_line("A-1002", "4602345678901", 5)])
    return cli, full, partial


def statuses(cli, order_id):
    return [(r["business_key"], r["state"]) for r in rows(
        cli, "SELECT business_key, state FROM outbox WHERE connector = 'megapteka' AND kind = 'status' "
             "AND business_key LIKE ? ORDER BY id", (f"{order_id}/%",))]


# -- needs a person -------------------------------------------------------------------------------
def test_needs_a_person_lists_notifications_newest_first_with_their_action(pharmacy):
    cli, full, partial = pharmacy
    page = DeskClient(cli).get("/").get_data(as_text=True)
    first, second = page.index(partial["number"]), page.index(full["number"])
    assert first < second  # newest first
    assert f'href="/megapteka/bookings?ref={partial["id"]}"' in page  # its action: the booking's page
    assert 'hx-trigger="every' in page  # the list refreshes itself (no reload)


def test_a_new_order_appears_in_the_polled_list_marked_for_the_banner(pharmacy):
    cli, _, _ = pharmacy
    desk = DeskClient(cli)
    before = desk.get("/needs/items").get_data(as_text=True)
    (new,) = pull(cli, [order_line("A-1003", "", 1, protek_code="55501")])
    after = desk.get("/needs/items").get_data(as_text=True)
    assert new["number"] not in before and new["number"] in after
    assert 'data-banner="' in after and f'data-link="/megapteka/bookings?ref={new["id"]}"' in after


def test_done_is_status_ack(pharmacy):
    cli, _, _ = pharmacy
    desk = DeskClient(cli)
    category, text = desk.act("/needs/done")
    assert category == "ok" and "seen" in text
    assert rows(cli, "SELECT COUNT(*) AS n FROM notifications WHERE seen_at IS NULL") == [{"n": 0}]
    assert "Nothing needs a person" in desk.get("/").get_data(as_text=True)
    code, status, _ = cli.json("status", "--check")
    assert code == 0 and status["notifications"] == []


def test_done_on_one_item_marks_only_that_notification_seen(pharmacy):
    cli, _, _ = pharmacy
    desk = DeskClient(cli)
    unseen = rows(cli, "SELECT id FROM notifications WHERE seen_at IS NULL ORDER BY id")
    assert len(unseen) >= 2
    first, rest = unseen[0]["id"], [r["id"] for r in unseen[1:]]
    category, text = desk.act(f"/needs/{first}/done")
    assert category == "ok" and "seen" in text
    left = [r["id"] for r in rows(cli, "SELECT id FROM notifications WHERE seen_at IS NULL ORDER BY id")]
    assert left == rest
    page = desk.get("/").get_data(as_text=True)
    assert f'data-notification="{first}"' not in page and f'data-notification="{rest[0]}"' in page


# -- bookings -------------------------------------------------------------------------------------
def test_bookings_by_state_and_a_bookings_lines_booked_and_missing(pharmacy):
    cli, full, partial = pharmacy
    desk = DeskClient(cli)
    new = desk.get("/megapteka/bookings?state=new").get_data(as_text=True)
    assert full["number"] in new and partial["number"] in new
    only_partial = desk.get("/megapteka/bookings?state=partial").get_data(as_text=True)
    assert partial["number"] in only_partial and full["number"] not in only_partial
    assert 'data-action="request-confirmation"' in only_partial
    detail = desk.get(f"/megapteka/bookings?ref={partial['number']}").get_data(as_text=True)
    # ordered 5, booked the 3 in stock, 2 missing
    assert "<td>5</td>" in detail and "<td>3</td>" in detail and "<td>2</td>" in detail


def test_ready_then_issued_queue_statuses_5_and_2_and_a_wrong_order_is_refused_in_words(pharmacy):
    cli, full, _ = pharmacy
    desk = DeskClient(cli)
    page = f"/megapteka/bookings?ref={full['number']}"
    category, text = desk.act("/megapteka/bookings/issue", {"ref": full["number"]}, page)
    assert category == "problem" and "mark it ready (status 5) before issuing" in text
    assert statuses(cli, full["id"]) == [(f"{full['id']}/1", "pending")]
    category, text = desk.act("/megapteka/bookings/ready", {"ref": full["number"]}, page)
    assert category == "ok" and "status 5 queued" in text
    assert 'data-action="issue"' in desk.get(page).get_data(as_text=True)
    category, _ = desk.act("/megapteka/bookings/issue", {"ref": full["number"]}, page)
    assert category == "ok"
    assert [key for key, _ in statuses(cli, full["id"])] == [f"{full['id']}/1", f"{full['id']}/5", f"{full['id']}/2"]
    assert desk.get("/megapteka/bookings?state=ready").get_data(as_text=True).count(full["number"]) == 0


def test_ask_confirmation_of_a_partial_booking_queues_7_with_its_items(pharmacy):
    cli, _, partial = pharmacy
    desk = DeskClient(cli)
    category, text = desk.act("/megapteka/bookings/request-confirmation", {"ref": partial["number"]})
    assert category == "ok" and "status 7 queued" in text
    import json

    (payload,) = [json.loads(r["payload"]) for r in rows(
        cli, "SELECT payload FROM outbox WHERE business_key = ?", (f"{partial['id']}/7",))]
    assert payload["items"] == [{"line_id": 1, "quantity": 3}] and payload["comment"] == "Есть 3 из 5"


def test_cancelled_by_client_bookings_are_listed_and_disbanded(pharmacy):
    cli, full, _ = pharmacy
    server, app = cli.megapteka
    desk = DeskClient(cli)
    desk.act("/megapteka/bookings/ready", {"ref": full["number"]})
    assert cli.run("push-statuses").returncode == 0
    app.cancel_order(full["id"])
    assert cli.run("push-statuses").returncode == 0  # the site's cancel: an assembled order to disband
    listed = desk.get("/megapteka/bookings?state=cancelled-by-client").get_data(as_text=True)
    assert full["number"] in listed and 'data-action="delete"' in listed
    category, text = desk.act("/megapteka/bookings/delete", {"ref": full["number"]})
    assert category == "ok" and "deleted booking" in text  # the journal's Deleted, in words
    assert rows(cli, "SELECT booking_state FROM mp_orders WHERE id = ?", (full["id"],)) == [{"booking_state": "Deleted"}]
    assert full["number"] not in desk.get("/megapteka/bookings?state=cancelled-by-client").get_data(as_text=True)


def test_remote_text_is_escaped(cli, megapteka):
    cli.megapteka = megapteka
    assert cli.run("export-stock").returncode == 0
    (order,) = pull(cli, [{**order_line("A-1001", "4601234567890", 1), "name": "<script>alert(1)</script>"}])
    page = DeskClient(cli).get(f"/megapteka/bookings?ref={order['number']}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page


# -- safety ---------------------------------------------------------------------------------------
def test_a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing(pharmacy):
    cli, full, _ = pharmacy
    desk = DeskClient(cli)
    desk.token()  # the session has its token; the forged form does not carry it
    for token in ("", "forged"):
        response = desk.post("/megapteka/bookings/ready", {"ref": full["number"]}, token=token)
        assert response.status_code == 403 and "security token" in response.get_data(as_text=True)
    response = DeskClient(cli).post("/needs/done", token="forged")  # a fresh session has none at all
    assert response.status_code == 403
    assert statuses(cli, full["id"]) == [(f"{full['id']}/1", "pending")]
    assert rows(cli, "SELECT COUNT(*) AS n FROM notifications WHERE seen_at IS NULL") == [{"n": 2}]


def test_sign_in_with_the_password_sets_a_strict_httponly_cookie_and_the_audit_line_names_the_user(pharmacy):
    cli, full, _ = pharmacy
    desk = DeskClient(cli, password="correct horse", host="0.0.0.0")
    response = desk.get("/megapteka/bookings")
    assert response.status_code == 302 and "/signin" in response.headers["Location"]
    polled = desk.get("/needs/items", headers={"HX-Request": "true"})
    assert polled.headers["HX-Redirect"] == "/signin" and full["number"] not in polled.get_data(as_text=True)
    token = desk.token("/signin")
    wrong = desk.client.post("/signin", data={"csrf": token, "name": "Анна", "password": "wrong"})
    assert wrong.status_code == 401 and "Wrong password" in wrong.get_data(as_text=True)
    signed = desk.client.post("/signin", data={"csrf": token, "name": "Анна", "password": "correct horse"})
    assert signed.status_code == 303
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert desk.get("/megapteka/bookings").status_code == 200
    category, _ = desk.act("/megapteka/bookings/ready", {"ref": full["number"]})
    assert category == "ok"
    log = cli.log_text()
    assert f"megapteka bookings ready {full['number']} by Анна: done" in log
    assert "correct horse" not in log
    guessing = DeskClient(cli, password="correct horse", host="0.0.0.0")
    token = guessing.token("/signin")
    codes = [guessing.client.post("/signin", data={"csrf": token, "password": f"guess {n}"}).status_code
             for n in range(6)]
    assert codes == [401] * 5 + [429]  # then even the right one waits
    assert guessing.client.post("/signin", data={"csrf": token, "password": "correct horse"}).status_code == 429


def test_the_password_setting_may_be_a_hash_and_another_address_needs_one(cli):
    from maorders.desk import safety
    from maorders.desk.command import read_settings
    from maorders.errors import ConfigError
    from maorders.output import Output
    from maorders.runner import AppState

    state = AppState(Output(quiet=True), env_file=cli.workdir / "none.env")
    hashed = safety.make_hash("s3cret-desk")
    assert safety.password_ok(safety.password_hash(hashed), "s3cret-desk")
    assert not safety.password_ok(safety.password_hash(hashed), "other")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MAORDERS_DESK_PASSWORD", raising=False)
        with pytest.raises(ConfigError, match="MAORDERS_DESK_PASSWORD"):
            read_settings(state, "0.0.0.0", 8765)
        assert read_settings(state, None, None).host == "127.0.0.1"
        assert read_settings(state, None, None).port == 8765
        patch.setenv("MAORDERS_DESK_PASSWORD", hashed)
        assert read_settings(state, "0.0.0.0", 9000).password_hash == hashed


def test_a_page_asked_for_by_another_host_name_is_refused(pharmacy):
    cli, _, _ = pharmacy
    desk = DeskClient(cli)
    assert desk.get("/", headers={"Host": "evil.example:8765"}).status_code == 400  # DNS rebinding
    assert desk.get("/", headers={"Host": "127.0.0.1:8765"}).status_code == 200


def test_an_action_while_the_journal_is_locked_says_try_again_in_a_minute(pharmacy):
    cli, full, _ = pharmacy
    desk = DeskClient(cli, MAORDERS_BUSY_TIMEOUT="0.5")
    token = desk.token()
    with closing(sqlite3.connect(cli.journal, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # a pass writing
        assert "MA-" in desk.get("/megapteka/bookings?state=all").get_data(as_text=True)  # reads go on
        started = time.monotonic()
        response = desk.post("/megapteka/bookings/ready", {"ref": full["number"]}, token=token)
        waited = time.monotonic() - started
        other.execute("ROLLBACK")
    shown = html.unescape(desk.get(response.headers["Location"]).get_data(as_text=True))
    assert "try again in a minute" in shown and waited < 5
    assert statuses(cli, full["id"]) == [(f"{full['id']}/1", "pending")]


def test_the_kernel_desk_names_no_connector_and_each_connectors_pages_load():
    from pathlib import Path

    from maorders import connectors
    from maorders.connector import load
    from maorders.desk import Pages

    kernel = Path(__file__).resolve().parent.parent / "maorders" / "desk"
    text = "".join(p.read_text(encoding="utf-8") for p in kernel.rglob("*") if p.suffix in (".py", ".html", ".js"))
    for name in connectors.registered():
        assert name not in text, f"maorders/desk names the connector {name}"
    for name, connector in connectors.registered().items():
        pages = load(connector.desk)
        assert isinstance(pages, Pages) and pages.pages, name
        slugs = [page.slug for page in pages.pages]
        assert len(slugs) == len(set(slugs)), name


def test_the_desk_command_has_help_with_an_example_and_refuses_another_address_without_a_password(cli):
    import subprocess
    import sys

    def desk(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "maorders.desk", "desk", *args], env=cli.env, cwd=cli.workdir,
                              capture_output=True, text=True, encoding="utf-8", timeout=60, stdin=subprocess.DEVNULL)

    shown = desk("--help")
    assert shown.returncode == 0 and "Example: maorders desk" in shown.stdout and "--hash-password" in shown.stdout
    refused = desk("--host", "0.0.0.0")
    assert refused.returncode == 78 and "MAORDERS_DESK_PASSWORD" in refused.stderr


def test_bookings_expiring_soon_are_listed(pharmacy):
    cli, full, partial = pharmacy
    assert full["number"] not in DeskClient(cli).get("/megapteka/bookings?state=expiring").get_data(as_text=True)
    soon = DeskClient(cli, MEGAPTEKA_BOOKING_TTL_HOURS="6").get("/megapteka/bookings?state=expiring")
    page = soon.get_data(as_text=True)  # kept 6 hours: within the 12 hours counted as soon
    assert full["number"] in page and partial["number"] in page


def test_unknown_things_and_a_bug_are_said_in_words(pharmacy, monkeypatch):
    cli, _, _ = pharmacy
    desk = DeskClient(cli)
    missing = desk.get("/megapteka/bookings?ref=MA-999999").get_data(as_text=True)
    assert "no order &#39;MA-999999&#39; in the journal" in missing
    assert desk.get("/megapteka/nosuch").status_code == 404 and desk.get("/nosuch/page").status_code == 404
    assert desk.post("/megapteka/bookings/nosuch", {"ref": "1"}).status_code == 404
    from maorders.megapteka import desk as bookings

    def broken(journal, ref):
        raise RuntimeError("a bug")

    monkeypatch.setattr(bookings, "detail", broken)
    response = desk.get("/megapteka/bookings?ref=1")
    assert response.status_code == 500 and "Internal error: RuntimeError" in response.get_data(as_text=True)
    assert "RuntimeError: a bug" in cli.log_text()  # the traceback, in the log only
