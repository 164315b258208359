"""`maorders demo`: the README's first command, every connector's part, through the installed command."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import MAORDERS, base_env


def test_the_demo_runs_every_connector_and_keeps_its_files_in_its_workdir(tmp_path):
    workdir = tmp_path / "demo"
    done = subprocess.run([MAORDERS, "--json", "demo", "--workdir", str(workdir)], env=base_env(tmp_path),
                          capture_output=True, text=True, encoding="utf-8", timeout=300, stdin=subprocess.DEVNULL)

    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    commands = {step["command"].split()[0] for step in result["steps"]}
    assert {"export-stock", "pull-orders", "push-statuses", "expire-bookings", "scan-qr", "resend-receipts",
            "bookings"} <= commands
    assert result["site_counters"]["status"] > 0 and result["shipments"] and result["loyalty_sales"]
    assert result["clinic_invoices"] and result["emails"]
    assert (workdir / "journal.db").is_file() and (workdir / "maorders.env").is_file()
    assert not (tmp_path / "journal.db").exists()  # the demo ignores the settings it was started with


def run_demo(tmp_path, workdir, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([MAORDERS, *args, "demo", "--workdir", str(workdir)], env={**base_env(tmp_path), **env},
                          capture_output=True, text=True, encoding="utf-8", timeout=300, stdin=subprocess.DEVNULL)


def test_the_demo_runs_twice_in_one_workdir_in_either_language(tmp_path):
    """Issue 18: `demo --workdir DIR` run twice works; MAORDERS_LANG=ru and en both exit 0, and the
    closing summary is the demo's result on stdout, in the chosen language."""
    workdir = tmp_path / "demo"
    first = run_demo(tmp_path, workdir, MAORDERS_LANG="en")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Demo finished:" in first.stdout and f"Journal, logs and settings of this demo: {workdir}" in first.stdout
    second = run_demo(tmp_path, workdir, MAORDERS_LANG="ru")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "Демонстрация завершена:" in second.stdout and "Traceback" not in second.stderr


def test_the_demo_leaves_a_folder_with_someone_elses_journal_alone(tmp_path):
    workdir = tmp_path / "real"
    workdir.mkdir()
    (workdir / "journal.db").write_bytes(b"a real journal")
    done = run_demo(tmp_path, workdir, "--json")
    assert done.returncode == 65 and json.loads(done.stdout)["exit_code"] == 65
    assert (workdir / "journal.db").read_bytes() == b"a real journal"


def test_sandbox_prints_settings_that_work_as_printed(tmp_path):
    """Issue 18: the emulators' own fake secrets, not ***, on stdout and in the env file it names;
    a command given that file reaches every emulator and is accepted."""
    import signal

    sandbox = subprocess.Popen([MAORDERS, "sandbox", "--port", "0"], env={**base_env(tmp_path), "MAORDERS_LANG": "en"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                               stdin=subprocess.DEVNULL)
    try:
        line = ""
        while "--env-file" not in line:
            line = sandbox.stderr.readline()
            assert line, "the sandbox ended before printing its settings"
        settings = Path(line.split("--env-file", 1)[1].split()[0])
        printed = settings.read_text(encoding="utf-8")
        assert "***" not in printed and "MEASOFT_PASSWORD=testm" in printed
        assert "MEGAPTEKA_STOCK_FILE=" in printed and "MEGAPTEKA_DEPARTMENT=Основной" in printed
        doctor = subprocess.run([MAORDERS, "--env-file", str(settings), "--json", "doctor"], env=base_env(tmp_path),
                                capture_output=True, text=True, encoding="utf-8", timeout=120)
        checks = json.loads(doctor.stdout)["checks"]
        assert doctor.returncode == 0, checks
        assert {"retailcrm", "measoft", "megainsight"} <= {c["check"] for c in checks if c["ok"]}, checks
        exported = subprocess.run([MAORDERS, "--env-file", str(settings), "--json", "export-stock"],
                                  env=base_env(tmp_path), capture_output=True, text=True, encoding="utf-8", timeout=120)
        assert exported.returncode == 0, exported.stdout + exported.stderr
    finally:
        sandbox.send_signal(signal.SIGINT)
        out, _ = sandbox.communicate(timeout=60)
    assert sandbox.returncode == 0 and out == printed


def test_sandbox_adds_a_test_order_and_invoice_that_pull_orders_takes(tmp_path):
    """Issue 18 point 5: typed `order` and `invoice` add a site order and a ТМ:МИС invoice to the
    running emulators; pull-orders with the printed settings books the one and takes the other."""
    import queue
    import signal
    import threading

    sandbox = subprocess.Popen([MAORDERS, "sandbox", "--port", "0"], env={**base_env(tmp_path), "MAORDERS_LANG": "en"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE, text=True,
                               encoding="utf-8")
    try:
        line = ""
        while "--env-file" not in line:
            line = sandbox.stderr.readline()
            assert line, "the sandbox ended before printing its settings"
        settings = line.split("--env-file", 1)[1].split()[0]
        sandbox.stdin.write("order\ninvoice\n")
        sandbox.stdin.flush()
        lines: queue.Queue = queue.Queue()  # read in a thread: a sandbox that never answers fails, not hangs
        threading.Thread(target=lambda: [lines.put(x) for x in sandbox.stdout], daemon=True).start()
        said = [line]
        while not any(s.startswith("Invoice ") for s in said):
            said.append(lines.get(timeout=60))
        assert any(s.startswith("Order MA-") and "pull-orders" in s for s in said), said

        def run(*args: str) -> dict:
            done = subprocess.run([MAORDERS, "--env-file", settings, "--json", *args], env=base_env(tmp_path),
                                  capture_output=True, text=True, encoding="utf-8", timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
            return json.loads(done.stdout)["connectors"]

        run("export-stock", "--only", "megapteka")
        pulled = run("pull-orders", "--only", "megapteka,misbridge")
        assert pulled["megapteka"]["counts"]["booked_full"] == 1, pulled
        assert pulled["misbridge"]["counts"]["invoices_fetched"] == 2, pulled  # 814 waiting, and the new one
    finally:
        sandbox.send_signal(signal.SIGINT)
        sandbox.communicate(timeout=60)
    assert sandbox.returncode == 0


def test_sandbox_test_data_is_added_by_typing_an_actions_name():
    """A connector's sandbox part may offer actions (add a test order, an invoice): typed by name."""
    from maorders.demo import run_action

    added = []
    actions = {"order": ("a new site order", lambda: added.append(1) or "order MA-2001 is waiting on the site")}
    assert run_action(actions, "order") == "order MA-2001 is waiting on the site" and added == [1]
    assert "order" in run_action(actions, "invoice") and added == [1]
    assert run_action({}, "order")
