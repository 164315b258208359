"""The staff desk end to end in a real headless Chromium (Selenium, Debian's chromium-driver), issue 19.

The desk runs as its own process (`python -m maorders.desk desk`: the maorders CLI with the desk
command); the passes are the installed `maorders`. A screenshot of each page is written under the
test's temporary folder. `.ci/run` installs chromium and chromium-driver; without them the tests skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import MAORDERS, order_line
from misbridge_fixtures import clinic, clinic_cli_for, visit  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path("/usr/bin/chromedriver")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists() or not DRIVER.exists(),
                                reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, "
                                       "/usr/bin/chromedriver): apt-get install chromium chromium-driver")
WAIT = 30.0  # seconds any one thing may take to show in the page


@pytest.fixture
def desk_server(request):
    """Start `maorders desk` for a Cli's settings; the URL. Stopped (by its pid) after the test."""
    started: list[subprocess.Popen] = []

    def start(cli) -> str:
        said = cli.workdir / "desk.stderr"
        with said.open("wb") as stderr:  # --port 0: the desk takes a free port and says which
            proc = subprocess.Popen([sys.executable, "-m", "maorders.desk", "desk", "--port", "0"],
                                    env={**cli.env, "MAORDERS_DESK_POLL_SECONDS": "1"}, cwd=cli.workdir,
                                    stdout=subprocess.DEVNULL, stderr=stderr, stdin=subprocess.DEVNULL)
        started.append(proc)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            found = re.search(r"http://127\.0\.0\.1:\d+", said.read_text(encoding="utf-8", errors="replace"))
            if found:
                assert requests.get(found.group(0) + "/static/desk.css", timeout=5).status_code == 200
                return found.group(0)
            assert proc.poll() is None, said.read_text(encoding="utf-8", errors="replace")
            time.sleep(0.05)
        raise AssertionError("the desk did not start")

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the page's console: errors, CSP refusals
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.shots = tmp_path / "screenshots"
    driver.shots.mkdir()
    yield driver
    driver.quit()


def shot(driver, name: str) -> Path:
    path = driver.shots / f"{name}.png"
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 0
    if name == "needs-a-person" and os.environ.get("MAORDERS_DESK_SCREENSHOT"):  # docs/desk.png, by hand
        shutil.copy(path, os.environ["MAORDERS_DESK_SCREENSHOT"])
    return path


def console_errors(driver) -> list[str]:
    """Script errors and Content-Security-Policy refusals the page's console showed."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def until(driver, condition, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(condition, message=what)


def flash(driver) -> tuple[str, str]:
    from selenium.webdriver.common.by import By

    element = until(driver, lambda d: d.find_element(By.CSS_SELECTOR, "[data-flash]"), "a message after the action")
    return element.get_attribute("data-flash"), element.text


def test_new_order_banner_without_reload_then_ready_from_the_page_reaches_the_site(cli, megapteka, desk_server,
                                                                                   browser):
    from selenium.webdriver.common.by import By

    server, site = megapteka
    assert cli.run("export-stock").returncode == 0
    first = site.add_order([order_line("A-1002", "4602345678901", 5)])  # a partial booking: needs a person
    assert cli.run("pull-orders").returncode == 0
    url = desk_server(cli)
    browser.get(url + "/")
    assert first["number"] in browser.page_source
    banner = browser.find_element(By.ID, "banner")
    assert not banner.is_displayed()  # what was there on opening is not news
    browser.execute_script("window.deskOpenedOnce = true;")  # gone if the page reloads

    order = site.add_order([order_line("A-1001", "4601234567890", 2)], comment="<b>позвонить</b>")
    done = subprocess.run([MAORDERS, "pull-orders"], env=cli.env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    until(browser, lambda d: d.find_element(By.ID, "banner").is_displayed(), "the new-order banner")
    assert order["number"] in browser.find_element(By.ID, "banner-text").text
    assert browser.execute_script("return window.deskOpenedOnce === true;")  # no reload
    shot(browser, "needs-a-person")

    browser.find_element(By.ID, "banner-link").click()
    until(browser, lambda d: f"Order {order['number']}" in d.page_source, "the booking's page")
    lines = browser.find_element(By.XPATH, "//h2[text()='Lines']/following-sibling::table").text
    assert "A-1001" in lines
    shot(browser, "booking")
    browser.find_element(By.CSS_SELECTOR, "button[data-action='ready']").click()
    category, text = flash(browser)
    assert category == "ok" and "Готов к выдаче" in text and "status 5 queued" in text
    shot(browser, "booking-ready")
    browser.get(url + "/megapteka/bookings?state=ready")
    assert order["number"] in browser.page_source
    shot(browser, "bookings-ready")

    done = subprocess.run([MAORDERS, "push-statuses"], env=cli.env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert [s["status"] for s in site.order_statuses[order["id"]]] == [1, 5]  # the site has «Готов к выдаче»
    assert console_errors(browser) == []


def test_failed_pay_shows_in_the_history_and_process_all_sends_it_once_the_mis_is_back(tmp_path, clinic,
                                                                                        desk_server, browser):
    from selenium.webdriver.common.by import By

    cli = clinic_cli_for(tmp_path, clinic, inproc=False)
    visit(clinic, 6902)
    assert cli.run("pull-orders", "--only", "misbridge").returncode == 0
    url = desk_server(cli)
    browser.get(url + "/misbridge/invoices?ref=6902")
    shot(browser, "invoice")
    form = browser.find_element(By.CSS_SELECTOR, "form[action$='/pay']")
    form.find_element(By.NAME, "check_num").send_keys("235")
    form.find_elements(By.NAME, "payment")[0].send_keys("cash:5000")
    clinic.mis.faults.error_rate = 1.0  # the MIS goes down
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    category, text = flash(browser)
    assert category == "ok" and "Pay queued" in text
    browser.find_element(By.LINK_TEXT, "Clinic cash desk").click()
    browser.find_element(By.CSS_SELECTOR, "button[data-action='process-all']").click()
    category, text = flash(browser)
    assert category == "problem" and "500" in text
    browser.get(url + "/misbridge/invoices?ref=6902")
    history = browser.find_element(By.XPATH, "//h2[starts-with(text(), 'История МИС')]/following-sibling::table").text
    assert "Pay" in history and "500 internal" in history
    assert "Ошибка отправки «Оплаты»" in browser.page_source
    shot(browser, "invoice-history")
    clinic.mis.faults.error_rate = 0.0  # back
    browser.find_element(By.LINK_TEXT, "Clinic cash desk").click()
    browser.find_element(By.CSS_SELECTOR, "button[data-action='process-all']").click()
    category, text = flash(browser)
    assert category == "ok" and re.search(r"Pay sent 1\b", text)
    assert clinic.mis.counters["pay"] == 1
    browser.get(url + "/misbridge/ereceipts")
    shot(browser, "ereceipts")
    assert console_errors(browser) == []
