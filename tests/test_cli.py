"""The command line as a user meets it: --version, a description for every command, and
the same placeholders in `--help` as in the README's CLI reference."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from otel_plugins.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def commands() -> dict[str, argparse.ArgumentParser]:
    """Every command and subcommand parser, by its full name ("collector render")."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found[f"{prefix}{name}"] = sub
                    walk(sub, f"{prefix}{name} ")

    walk(build_parser(), "")
    return found


def test_version():
    done = subprocess.run([sys.executable, "-m", "otel_plugins", "--version"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0 and re.fullmatch(r"otel-plugins \S+\n", done.stdout), done.stdout


def test_every_command_has_a_description():
    for name, parser in commands().items():
        assert parser.description and len(parser.description) > 40, name


def option_metavars(parser: argparse.ArgumentParser) -> dict[str, str | None]:
    """--option -> its placeholder as --help prints it (None: a flag)."""
    out = {}
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--") and option not in ("--help", "--version"):
                out[option] = None if action.nargs == 0 else (action.metavar or action.dest.upper())
    return out


def test_readme_placeholders_are_the_commands():
    """Every `--option PLACEHOLDER` the README's CLI reference shows is the command's own
    option with the placeholder its --help prints, and every command's options appear there."""
    reference = README.split("## CLI reference", 1)[1].split("\n## ", 1)[0]
    for name, parser in commands().items():
        if name == "collector":
            continue
        options = option_metavars(parser)
        usage = next((line for line in reference.splitlines() if f"`otel-plugins {name} " in line or f"`otel-plugins {name}`" in line), None)
        assert usage is not None, f"the README's CLI reference has no row for {name}"
        for option, placeholder in re.findall(r"(--[a-z][a-z-]*)(?:[ =]([A-Z][A-Z0-9:,.\[\]|-]*))?", usage.split("|")[1]):
            assert option in options, f"{name}: the README shows {option}, the command has no such option"
            while placeholder.count("]") > placeholder.count("["):  # the optional group's bracket
                placeholder = placeholder[:-1]
            if placeholder:
                assert options[option] == placeholder, f"{name} {option}: README {placeholder}, --help {options[option]}"
        documented = set(re.findall(r"--[a-z][a-z-]*", reference.split(f"`otel-plugins {name}", 1)[1].split("\n| `otel-plugins", 1)[0]))
        assert set(options) <= documented | _documented_elsewhere(name), f"{name}: {sorted(set(options) - documented)} not in the README"


def _documented_elsewhere(name: str) -> set[str]:
    """`run`'s options are described in the paragraph after the table."""
    if name != "run":
        return set()
    paragraph = README.split("`run` options:", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"--[a-z][a-z-]*", paragraph))


def test_a_command_imports_only_what_it_runs(tmp_path):
    """`classify` is a dry run: it builds no parser of another command and loads no exporter."""
    log = tmp_path / "one.log"
    log.write_text("0.00.000.001 I srv  log_server_r: request: GET /health 127.0.0.1 200\n")
    probe = (
        "import sys; from otel_plugins.cli import main; code = main(['classify', sys.argv[1]]);"
        "loaded = sorted(m for m in sys.modules if m.startswith(('otel_plugins.commands.', 'grpc', 'opentelemetry.exporter')));"
        "print(code, loaded, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(log)], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "0 ['otel_plugins.commands.classify', 'otel_plugins.commands.common']"


def test_the_program_leaves_with_its_code_while_a_thread_is_still_inside_native_code():
    """A pump the command stopped waiting for may still be matching in RE2 (the GIL released)
    when the program ends: it leaves with the command's code, its exit handlers run and its
    output flushed, not with SIGABRT from the interpreter's teardown stopping that thread."""
    program = (
        "import atexit, re2, sys, threading\n"
        "from otel_plugins.cli import leave\n"
        "scan = re2.compile(r'(?:x+y)+z')\n"
        "text = 'x' * 200000 + 'y'\n"
        "started = threading.Event()\n"
        "def spin():\n"
        "    while True:\n"
        "        started.set()\n"
        "        scan.search(text)\n"
        "threading.Thread(target=spin, daemon=True).start()\n"
        "started.wait(10)\n"
        "atexit.register(lambda: print('exit handler ran', file=sys.stderr))\n"
        "print('buffered, not yet flushed', end='')\n"
        "leave(7)\n"
    )
    for _ in range(5):
        done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, cwd=REPO)
        assert done.returncode == 7, done.stderr
        assert done.stdout == "buffered, not yet flushed"
        assert "exit handler ran" in done.stderr


def test_classify_reads_a_file_ahead_and_a_pipe_as_it_comes(tmp_path):
    """A file is read once ahead (a repeated poll is a probe from its first request); the same
    lines on a pipe are decided as a live stream decides them."""
    log = tmp_path / "poll.log"
    log.write_text("".join(
        f'[2026-01-01 00:00:{s}] INFO:     10.0.0.7:5 - "GET /v1/models HTTP/1.1" 200 OK\n' for s in (10, 20, 30)
    ))  # fmt: skip
    command = [sys.executable, "-m", "otel_plugins", "classify", "--json"]
    from_file = subprocess.run([*command, str(log)], capture_output=True, text=True, timeout=60, check=False)
    from_pipe = subprocess.run([*command, "-"], input=log.read_text(), capture_output=True, text=True, timeout=60, check=False)
    assert from_file.returncode == from_pipe.returncode == 0
    kinds = [[re.search(r'"kind":"(\w+)"', row).group(1) for row in run.stdout.splitlines()] for run in (from_file, from_pipe)]
    assert kinds == [["probe", "probe", "probe"], ["http", "http", "probe"]]
    assert "polls known by looking ahead: 2" in from_file.stderr and "looking ahead" not in from_pipe.stderr


def test_the_look_ahead_is_bounded_and_leaves_the_file_where_it_was(tmp_path):
    """`lines_ahead` reads at most its limit, then rewinds; a pipe is not read at all."""
    import os

    from otel_plugins.sources.replay import lines_ahead

    path = tmp_path / "log"
    path.write_bytes(b"a\nb\nc\n")
    with path.open("rb") as stream:
        stream.readline()
        assert list(lines_ahead(stream, limit=1)) == [b"b\n"]
        assert stream.read() == b"b\nc\n"
    read, write = os.pipe()
    os.write(write, b"x\n")
    with os.fdopen(read, "rb") as pipe:
        assert list(lines_ahead(pipe)) == []
        assert pipe.readline() == b"x\n"
    os.close(write)
