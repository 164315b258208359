"""Issue 16 point 13: a remote's error text is masked before every journal write (runs.summary,
attempts, outbox.last_error, notifications), by the journal itself: a service that echoes our
token puts it nowhere on disk."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Cli
from maorders.journal import Journal
from maorders.redact import register_secret


def journal_text(journal: Path) -> str:
    """Every byte SQLite keeps for the journal (the main file and its write-ahead log)."""
    files = [journal, journal.with_name(journal.name + "-wal")]
    return "".join(f.read_bytes().decode("utf-8", "replace") for f in files if f.exists())


def test_issue16_13_a_secret_echoed_by_the_service_is_not_in_the_journal(cli: Cli, megapteka):
    megapteka[1].faults.echo_status = 500  # every request answered with what it carried
    done = cli.run("--json", "pull-orders")
    assert done.returncode == 75, done.stderr
    assert "refused: " in json.loads(done.stdout)["connectors"]["megapteka"]["errors"][0]  # the remote's words
    text = journal_text(cli.journal)
    assert "refused: " in text  # the run's summary, with the remote's words, is in the journal
    assert "s3cret" not in text and "s3cret" not in done.stdout + done.stderr + cli.log_text()


def test_issue16_13_an_item_refused_with_the_token_echoed_keeps_no_token(cli: Cli, megapteka):
    _, site = megapteka
    assert cli.run("export-stock").returncode == 0
    site.add_order([{"sku": "A-1001", "name": "A", "barcode": "4601234567890", "protek_code": "",
                     "katren_code": "", "egk_code": "", "quantity": 1, "price": 100.0}])
    assert cli.run("pull-orders").returncode == 0
    site.faults.echo_status, site.faults.echo_path = 422, "/statuses"  # the status refused, token quoted
    done = cli.run("push-statuses")
    tokens = list(site.tokens)
    assert tokens and site.counters["fault_echo"] >= 1, done.stderr
    text = journal_text(cli.journal)
    rows = Journal.open(cli.journal).rows("SELECT last_error FROM outbox WHERE last_error IS NOT NULL")
    assert rows and all("refused: " in row["last_error"] for row in rows)
    assert not any(token in text for token in tokens)


def test_issue16_13_the_journal_masks_what_it_is_given(tmp_path):
    register_secret("tok-echoed-by-the-remote")
    journal = Journal.open(tmp_path / "j.db")
    said = 'HTTP 500: {"message": "bad token tok-echoed-by-the-remote", "auth": "Bearer tok-echoed-by-the-remote"}'
    run = journal.start_run("pass")
    journal.finish_run(run, 75, {"megapteka": {"error": said, "problems": [said]}})
    with journal.write() as db:
        journal.enqueue(db, "c", "k", "1", {})
        journal.notify(db, "c", "1", "refused", said)
    item = journal.due("c")[0]
    journal.begin_send(item)
    journal.finish_send(item, "failed", 500, said)
    journal.close()
    text = journal_text(tmp_path / "j.db")
    assert "tok-echoed-by-the-remote" not in text
    reopened = Journal.open(tmp_path / "j.db")
    summary = json.loads(reopened.value("SELECT summary FROM runs"))  # still JSON after masking
    assert summary["megapteka"]["error"].startswith("HTTP 500: ")
    assert reopened.value("SELECT message FROM attempts").startswith("HTTP 500: ")
    assert reopened.value("SELECT message FROM notifications").startswith("HTTP 500: ")
