"""scripts/linux/install.sh under a temporary root (issue 18, point 4): the places the shipped
schedulers use, idempotent, and the installed command run exactly as the shipped cron line runs it;
maorders.env.example names every setting the product reads."""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from maorders.megapteka.demo import STOCK

ROOT_DIR = Path(__file__).resolve().parent.parent
INSTALL = ROOT_DIR / "scripts" / "linux" / "install.sh"
EXAMPLE = ROOT_DIR / "maorders.env.example"
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32" or not shutil.which("flock"), reason="Linux install")


def premade_venv(root: Path) -> None:
    """The venv the script would make, seeing this test run's packages (a .pth), so that the
    script's own `pip install --upgrade` builds maorders only instead of downloading the world."""
    venv = root / "opt" / "maorders" / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "test-run.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")


def install(root: Path, **env: str) -> subprocess.CompletedProcess:
    user = pwd.getpwuid(os.getuid()).pw_name
    return subprocess.run(["sh", str(INSTALL)], env={"PATH": os.environ["PATH"], "HOME": str(root), "ROOT": str(root),
                                                     "MAORDERS_USER": user, "PYTHON": sys.executable, **env},
                          capture_output=True, text=True, encoding="utf-8", timeout=600)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def cron_command(root: Path, command: str) -> str:
    """The shipped cron line's command for `command`, its system paths under `root`."""
    cron = (root / "etc" / "cron.d" / "maorders").read_text(encoding="utf-8")
    line = next(line for line in cron.splitlines() if line.rstrip().endswith(f" {command}") and not line.startswith("#"))
    text = line.split(None, 6)[6]  # minute hour day month weekday user COMMAND
    assert text.startswith("umask 077; flock -n /run/lock/") and "maorders --env-file /etc/maorders/maorders.env" in text
    return text.replace("/etc/maorders", str(root / "etc" / "maorders")).replace("/run/lock", str(root / "run"))


@POSIX_ONLY
def test_install_sh_makes_the_places_the_schedulers_use_and_the_cron_line_runs(tmp_path, megapteka):
    server, site = megapteka
    root = tmp_path / "root"
    premade_venv(root)
    done = install(root, SCHEDULER="cron")
    assert done.returncode == 0, done.stderr

    command = root / "usr" / "local" / "bin" / "maorders"
    settings = root / "etc" / "maorders" / "maorders.env"
    assert command.is_symlink() and os.access(command, os.X_OK)
    helped = subprocess.run([str(command), "--help"], capture_output=True, text=True, encoding="utf-8", timeout=60,
                            env={"PATH": "/usr/bin:/bin", "MAORDERS_ENV_FILE": str(tmp_path / "none.env")})
    assert "Использование: maorders" in helped.stdout, helped.stderr  # the wheel carries the catalog
    assert settings.read_text(encoding="utf-8") == EXAMPLE.read_text(encoding="utf-8") and mode(settings) == 0o600
    for folder in ("var/lib/maorders", "var/log/maorders"):
        assert (root / folder).is_dir() and mode(root / folder) == 0o700
    assert (root / "etc" / "cron.d" / "maorders").read_text() == (ROOT_DIR / "scripts/linux/maorders.cron").read_text()

    # the pharmacy's settings; a second run keeps them and changes nothing else
    stock = root / "var" / "lib" / "maorders" / "ostatki.csv"
    stock.write_bytes(STOCK.encode("cp1251"))
    settings.write_text(f"MAORDERS_JOURNAL={root}/var/lib/maorders/journal.db\nMAORDERS_LOG_DIR={root}/var/log/maorders\n"
                        f"MEGAPTEKA_URL={server.url}\nMEGAPTEKA_PHARMACY_CODE=1001\nMEGAPTEKA_SECRET=s3cret\n"
                        "MEGAPTEKA_COMPANY_INFO=Московская область, Подольск, Тест Аптека\n"
                        f"MEGAPTEKA_STOCK_FILE={stock}\nMEGAPTEKA_DEPARTMENT=Основной\n", encoding="utf-8")
    settings.chmod(0o644)
    again = install(root, SCHEDULER="cron")
    assert again.returncode == 0, again.stderr
    assert "MEGAPTEKA_URL" in settings.read_text(encoding="utf-8") and mode(settings) == 0o600

    (root / "run").mkdir()
    cron_env = {"SHELL": "/bin/sh", "PATH": f"{root}/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    ran = subprocess.run(["/bin/sh", "-c", cron_command(root, "export-stock")], env=cron_env, capture_output=True,
                         text=True, encoding="utf-8", timeout=300)
    assert ran.returncode == 0 and ran.stdout == "", (ran.stdout, ran.stderr)  # -q: cron mails nothing
    assert len(site.stock_items) == 5
    journal = root / "var" / "lib" / "maorders" / "journal.db"
    assert journal.is_file() and mode(journal) == 0o600 and list((root / "var" / "log" / "maorders").iterdir())


@POSIX_ONLY
def test_install_sh_puts_the_systemd_units_in_place(tmp_path):
    root = tmp_path / "root"
    premade_venv(root)
    done = install(root, SCHEDULER="systemd")
    assert done.returncode == 0, done.stderr
    shipped = sorted(p.name for p in (ROOT_DIR / "scripts" / "linux" / "systemd").glob("maorders-*"))
    assert sorted(p.name for p in (root / "etc" / "systemd" / "system").iterdir()) == shipped
    for unit in (root / "etc" / "systemd" / "system").glob("*.service"):
        start = re.search(r"^ExecStart=(\S+)", unit.read_text(), re.M).group(1)
        assert start == "/usr/local/bin/maorders"  # the link the script made, under ROOT here
    assert (root / "usr" / "local" / "bin" / "maorders").exists()
    desk = root / "etc" / "systemd" / "user" / "maorders-desk.service"  # the staff desk's user unit
    assert re.search(r"^ExecStart=/usr/local/bin/maorders --env-file \S+ desk$", desk.read_text(), re.M)


def test_install_sh_refuses_a_user_that_does_not_exist_under_a_root(tmp_path):
    done = install(tmp_path, MAORDERS_USER="no-such-user-maorders")
    assert done.returncode == 67 and "no user" in done.stderr
    assert not (tmp_path / "opt").exists()


SETTING = re.compile(r"[\"'`]((?:MAORDERS|MEGAPTEKA|RETAILCRM|MEASOFT|COURIER|MEGAINSIGHT|SCANNER|MIS|SMTP|SMS)_[A-Z0-9_]+)[\"'`]")
NOT_SETTINGS = {"MAORDERS_ENV_FILE"}  # names the file itself: an environment variable only


def test_the_env_example_names_every_setting_the_product_reads():
    read = set()
    for package in ("maorders", "courier", "loyalty", "misbridge"):
        for path in (ROOT_DIR / package).rglob("*.py"):
            if "emulator" not in path.name and "demo" not in path.name:
                read |= set(SETTING.findall(path.read_text(encoding="utf-8")))
    example = EXAMPLE.read_text(encoding="utf-8")
    shown = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", example, re.M))
    missing = sorted(read - shown - NOT_SETTINGS)
    assert not missing, f"maorders.env.example lacks {missing}"
    assert all(line.startswith("#") or not line.strip() for line in example.splitlines()), \
        "the example switches nothing on: every setting is commented out"


def test_the_cron_line_is_parsed_as_shipped():
    line = next(line for line in (ROOT_DIR / "scripts/linux/maorders.cron").read_text().splitlines()
                if line.endswith(" pull-orders"))
    assert shlex.split(line)[5] == "maorders"  # the user column the install script makes


DOCS = ("README.md", "docs/reference.md", "docs/megapteka.md", "docs/benchmarks.md")
REPO_PATH = re.compile(r"(?<![\w/.\\])((?:scripts|docs|maorders|tests|courier|loyalty|misbridge)/[\w./*-]*[\w*])")


@pytest.mark.parametrize("doc", DOCS)
def test_the_docs_name_no_file_outside_the_repository_and_every_file_they_name_exists(doc):
    text = (ROOT_DIR / doc).read_text(encoding="utf-8")
    assert "../" not in text and "shared/" not in text, f"{doc} names a file outside the repository"
    missing = sorted({path for path in REPO_PATH.findall(text)
                      if not list(ROOT_DIR.glob(path.rstrip("/"))) and not list((ROOT_DIR / "docs").glob(path))})
    assert not missing, f"{doc} names files that do not exist: {missing}"
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        assert (ROOT_DIR / doc).parent.joinpath(link).exists(), (doc, link)


def test_the_readme_keeps_its_two_set_up_commands():
    readme = (ROOT_DIR / "README.md").read_text(encoding="utf-8")
    assert "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/maorders demo" in readme
    assert "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/pytest -q" in readme
    assert "| maorders --help (median of 10)" not in readme  # the figures live in docs/benchmarks.md
