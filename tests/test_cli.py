from __future__ import annotations

import subprocess
import sys

import pytest

import siteclass
from siteclass.cli import app, run


def _commands() -> list[list[str]]:
    import typer.main

    group = typer.main.get_command(app)
    out: list[list[str]] = []
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        out.append([name])
        for sub in getattr(cmd, "commands", {}):
            out.append([name, sub])
    return out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert siteclass.__version__ in capsys.readouterr().out


@pytest.mark.parametrize("command", _commands(), ids=lambda c: " ".join(c))
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "Usage" in text and len(text) > 80


def test_stage_commands_registered() -> None:
    names = {c[0] for c in _commands()}
    assert {"crawl", "dataset", "train", "evaluate", "tune", "labels", "predict", "serve", "export", "quickstart"} <= names


def test_console_script_and_module_entry() -> None:
    done = subprocess.run([sys.executable, "-m", "siteclass", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and siteclass.__version__ in done.stdout


def test_public_api_resolves() -> None:
    for name in siteclass.__all__:
        assert getattr(siteclass, name) is not None, name


def test_import_is_light() -> None:
    code = "import sys, siteclass, siteclass.cli; print(sorted(m for m in ('torch','scrapy','pyspark','transformers') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
