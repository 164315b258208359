"""The habits of a good CLI (issue 18, point 3), through the installed `maorders`: results on
stdout, global options after the command, --version and -h, completion, a closed pipe, Cyrillic
under LC_ALL=C, choices in any case."""

from __future__ import annotations

import enum
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from conftest import MAORDERS, base_env


def test_status_results_go_to_stdout_so_a_file_gets_them(cli):
    assert cli.run("export-stock").returncode == 0
    with (cli.workdir / "status.txt").open("w", encoding="utf-8") as target:
        done = subprocess.run([MAORDERS, "status"], env=cli.env, cwd=cli.workdir, stdout=target,
                              stderr=subprocess.PIPE, text=True, encoding="utf-8", timeout=60)
    assert done.returncode == 0, done.stderr
    written = (cli.workdir / "status.txt").read_text(encoding="utf-8")
    assert "export-stock" in written and "Outbox" in written, written  # the last runs and their table


def test_doctor_and_lists_answer_on_stdout(cli):
    done = cli.run("doctor")
    assert "megapteka" in done.stdout and "megapteka" not in done.stderr, (done.stdout, done.stderr)
    cli.run("export-stock")
    listed = cli.run("bookings", "list")
    assert listed.returncode == 0 and listed.stdout.strip(), listed.stderr


def test_global_options_also_after_the_command(cli):
    done = cli.run("export-stock", "--json", "-v")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and json.loads(lines[0])["command"] == "export-stock"
    done = cli.run("status", "--journal", str(cli.workdir / "other.db"), "--json")
    assert done.returncode == 0 and (cli.workdir / "other.db").exists()


def test_version_and_short_help(cli):
    done = cli.run("--version")
    assert done.returncode == 0 and done.stdout.startswith("maorders ") and done.stdout.split()[1][0].isdigit()
    for args in (("-h",), ("status", "-h"), ("bookings", "list", "-h")):
        done = cli.run(*args, MAORDERS_LANG="en")
        assert done.returncode == 0 and "Usage: maorders" in done.stdout, (args, done.stderr)


def test_shell_completion_is_typers_own(cli):
    # typer finds the shell among the command's parents (shellingham), as in a person's bash; not a
    # lone command, which bash would exec in its own place (then no shell is left to find)
    done = subprocess.run(["bash", "-c", f"'{MAORDERS}' --show-completion; exit $?"], env=cli.env, capture_output=True,
                          text=True, encoding="utf-8", timeout=60)
    assert done.returncode == 0 and "_MAORDERS_COMPLETE" in done.stdout, done.stderr
    done = subprocess.run([MAORDERS], env={**cli.env, "_MAORDERS_COMPLETE": "complete_bash",
                                           "COMP_WORDS": "maorders sta", "COMP_CWORD": "1"},
                          capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert done.stdout.split() == ["status"], done.stdout


def test_a_closed_pipe_ends_quietly_with_0(tmp_path):
    """`maorders demo | head -1`: the reader goes after one line while the demo still prints."""
    env = base_env(tmp_path)
    reader = subprocess.Popen([MAORDERS, "demo", "--workdir", str(tmp_path / "demo")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    first = reader.stdout.readline()
    reader.stdout.close()  # as head -1 does
    stderr = reader.stderr.read().decode("utf-8")
    assert reader.wait(timeout=300) == 0, stderr[-2000:]
    assert first.strip()
    logs = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "demo" / "logs").glob("*.log*"))
    for text in (stderr, logs):
        assert "Traceback" not in text and "BrokenPipe" not in text and "internal error" not in text


def test_help_through_head_exits_0_with_nothing_on_stderr(tmp_path):
    done = subprocess.run(f"'{MAORDERS}' --help | head -c 10; exit ${{PIPESTATUS[0]}}", shell=True,
                          executable="/bin/bash", env=base_env(tmp_path), capture_output=True, timeout=60)
    assert done.returncode == 0 and done.stderr == b"", done.stderr


def test_cyrillic_prints_right_under_lc_all_c(tmp_path):
    env = {k: v for k, v in base_env(tmp_path).items() if k not in ("PYTHONIOENCODING", "LANG", "MAORDERS_LANG")}
    for extra in ({"LC_ALL": "C"}, {"LC_ALL": "C", "PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "PYTHONUTF8": "0"}):
        done = subprocess.run([MAORDERS, "--help"], env={**env, **extra}, capture_output=True, timeout=60)
        assert done.returncode == 0, (extra, done.stderr)
        assert "Использование: maorders" in done.stdout.decode("utf-8"), extra


def test_a_stream_that_cannot_hold_the_rouble_sign_does_not_fail_the_command(tmp_path):
    """A Windows log redirected in its code page (cp1251 has Cyrillic but no ₽)."""
    done = subprocess.run([MAORDERS, "--help"], env={**base_env(tmp_path), "PYTHONIOENCODING": "cp1251",
                                                     "MAORDERS_LANG": "ru"},
                          capture_output=True, timeout=60)
    assert done.returncode == 0 and "Использование" in done.stdout.decode("cp1251")


class Payment(str, enum.Enum):
    cash = "cash"
    card = "card"


def test_a_choice_takes_any_case_or_is_refused(capsys):
    """Every choice option of the command tree: typer's choices are made case-insensitive."""
    from maorders.cli import _any_case_choices

    app = typer.Typer()

    @app.command()
    def pay(kind: Payment = typer.Option(Payment.cash, "--kind")) -> None:
        print(kind.value)

    command = typer.main.get_command(app)
    _any_case_choices(command)
    command(["--kind", "CARD"], standalone_mode=False)
    assert capsys.readouterr().out.strip() == "card"
    with pytest.raises(typer.exceptions.TyperException) as refused:
        command(["--kind", "cheque"], standalone_mode=False)
    assert refused.value.exit_code == 2


def test_python_dash_m_and_the_command_share_the_habits(tmp_path):
    done = subprocess.run([sys.executable, "-m", "maorders", "--version"], env=base_env(tmp_path),
                          capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("maorders ")
    assert os.path.basename(MAORDERS).startswith("maorders") and Path(MAORDERS).exists()


# -- help: examples that run, unbroken; --only naming who takes part; paths that exist -------------
import contextlib  # noqa: E402
import io  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402

import maorders.cli  # noqa: E402

ROOT_DIR = Path(__file__).resolve().parent.parent
EXAMPLE = re.compile(r"(?:Example|Пример): (maorders[^\n]*)")


def command_tree() -> list[tuple[tuple[str, ...], object]]:
    found = []

    def walk(path, command):
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk((*path, name), sub)

    walk((), typer.main.get_command(maorders.cli.app))
    return found


def rendered_help(*path: str) -> tuple[object, str]:
    """`maorders PATH --help` as the command prints it (in this process's language), 80 columns."""
    root = typer.main.get_command(maorders.cli.app)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            code = root(args=[*path, "--help"], prog_name="maorders", standalone_mode=False, terminal_width=80)
        except typer.Exit as exc:
            code = exc.exit_code
    return code, printed.getvalue()


def test_every_example_in_the_help_is_a_command_that_parses_and_is_printed_unbroken():
    for path, command in command_tree():
        example = EXAMPLE.search(command.help or "")
        assert example, f"maorders {' '.join(path)} has no example"
        words = shlex.split(example.group(1).replace("\\", "/"))[1:]
        code, printed = rendered_help(*maorders.cli.global_options_first(words))
        assert code in (0, None), (path, example.group(1), printed)  # --help after it: every option exists
        assert f"maorders {' '.join(path)}".strip() in printed.splitlines()[0], (path, example.group(1))
        shown = rendered_help(*path)[1].split()
        for word in example.group(1).split():
            assert word in shown, f"maorders {' '.join(path)}: {word!r} of the example is broken in the help"


def test_only_names_just_the_connectors_that_take_part_in_the_pass():
    from maorders import connectors

    for command in connectors.commands():
        taking_part = connectors.taking_part(command)
        text = next(p for p in typer.main.get_command(maorders.cli.app).commands[command].params if p.name == "only").help
        named = re.search(r"\(([^)]*)\)", text).group(1).split(", ")
        assert named == taking_part, (command, text)


def test_file_paths_named_in_the_clis_own_help_exist():
    own = {(), *((c,) for c in ("status", "doctor", "serve", "demo", "sandbox"))}
    own |= {(c,) for c in __import__("maorders.connectors").connectors.commands()}
    for path, command in command_tree():
        if path in own:
            for named in re.findall(r"(?:scripts|docs)/[\w./-]*\w", command.help or ""):
                assert (ROOT_DIR / named).exists(), (path, named)


def test_maorders_alone_prints_its_help(tmp_path):
    done = subprocess.run([MAORDERS], env={**base_env(tmp_path), "MAORDERS_LANG": "ru"}, capture_output=True,
                          text=True, encoding="utf-8", timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("Использование: maorders")
    assert "Ошибка" not in done.stderr and "export-stock" in done.stderr


def test_a_yes_no_question_is_asked_and_answered_in_the_peoples_language(monkeypatch):
    import io as stdio

    from rich.console import Console

    from maorders import i18n
    from maorders.output import Output

    try:
        i18n.set_language("ru")
        for typed, expected in (("д\n", True), ("Да\n", True), ("y\n", True), ("н\n", False), ("\n", False),
                                ("может быть\nнет\n", False)):
            out = Output()
            shown = stdio.StringIO()
            out._console = Console(file=shown, force_terminal=False, width=100)
            monkeypatch.setattr("sys.stdin", stdio.StringIO(typed))
            assert out.confirm("К оплате 1 816,00 ₽?") is expected, typed
            assert "[д/н]" in shown.getvalue()
        assert "Ответьте д или н" in shown.getvalue()  # the answer that was neither, asked again
    finally:
        i18n.set_language(None)


def test_a_journal_time_in_a_line_for_people_reads_local(monkeypatch, capsys):
    from maorders import i18n
    from maorders.output import Output

    monkeypatch.setenv("MAORDERS_TZ", "Europe/Moscow")
    try:
        i18n.set_language("ru")
        out = Output()
        out.terminal = False
        out.warn("failing since 2026-12-06T08:41:06+00:00 (exit 75)")
        out.error("the site refused at 2026-12-06T08:41:06.5Z")
        out.emit_json({"since": "2026-12-06T08:41:06+00:00"})
    finally:
        i18n.set_language(None)
    printed = capsys.readouterr()
    assert printed.err.splitlines() == ["failing since 06.12.2026 11:41 (exit 75)",
                                        "error: the site refused at 06.12.2026 11:41"]
    assert json.loads(printed.out) == {"since": "2026-12-06T08:41:06+00:00"}  # machine forms stay ISO UTC


def test_a_usage_error_reads_in_the_peoples_language_and_json_keeps_clicks_words(tmp_path):
    env = {**base_env(tmp_path), "MAORDERS_LANG": "ru"}
    done = subprocess.run([MAORDERS, "statis"], env=env, capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == "Ошибка: Нет команды 'statis'. Может быть, 'status'?", done.stderr
    assert "Справка: 'maorders --help'." in done.stderr
    done = subprocess.run([MAORDERS, "sandbox", "--port", "eighty", "--json"], env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=60)
    assert done.returncode == 2 and "Неверное значение '--port': 'eighty'" in done.stderr
    answer = json.loads(done.stdout)
    assert answer["error"].startswith("Invalid value for '--port'") and answer["reason"] == answer["error"]


def test_a_table_cell_reads_yes_or_no_and_local_time_in_the_peoples_language(monkeypatch):
    from maorders import i18n
    from maorders.output import cell

    monkeypatch.setenv("MAORDERS_TZ", "Europe/Moscow")
    try:
        i18n.set_language("ru")
        assert [cell(True), cell(False), cell(None), cell(7), cell("2026-12-06T08:41:06+00:00")] == \
            ["да", "нет", "", "7", "06.12.2026 11:41"]
        i18n.set_language("en")
        assert [cell(True), cell("2026-12-06T08:41:06+00:00")] == ["yes", "06/12/2026 11:41"]
    finally:
        i18n.set_language(None)
