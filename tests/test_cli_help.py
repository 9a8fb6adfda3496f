"""Every option's help (#19): a setting's default is shown (options default to None so a --config file can set
them, so typer shows none), and rich markup eats no text ("TOML settings file ([crawl], …)" stays readable)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from siteclass.cli import app
from siteclass.cli.app import HELP_DEFAULTS, escape, format_default, setting_default

# Options with no setting behind them: inputs, outputs, switches of one run. Any other option that defaults to
# None maps to a setting and must show its default.
NO_SETTING = {
    "--config", "--out", "--data", "--model", "--crawl", "--labels", "--table", "--text", "--sites", "--name",
    "--predictions", "--exclude", "--gold", "--scrapyd", "--dir", "--overrides-check", "--recheck-margin",
    "--id", "--keep", "--html",
}


def _is_option(param: Any) -> bool:  # typer ships its own click: duck-typed, not isinstance(click.Option)
    return getattr(param, "param_type_name", "") == "option"


def _commands() -> list[tuple[str, Any]]:
    root = typer.main.get_command(app)
    out: list[tuple[str, Any]] = []

    def walk(cmd: Any, path: str) -> None:
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, f"{path} {name}".strip())
        else:
            out.append((path, cmd))

    walk(root, "")
    return out


COMMANDS = _commands()


def test_every_command_is_walked() -> None:
    names = {name for name, _ in COMMANDS}
    assert {"crawl", "dataset build", "train", "evaluate", "tune", "predict", "serve", "labels agree",
            "labels queue", "scrapyd-conf"} <= names


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_options_show_their_setting_default(name: str, command: Any) -> None:
    for param in command.params:
        if not _is_option(param) or param.name == "help":
            continue
        help_text = param.help or ""
        assert help_text, f"{name} {param.opts[0]} has no help"
        if help_text in HELP_DEFAULTS:  # shown, and it is the default config.py has
            shown = format_default(setting_default(HELP_DEFAULTS[help_text]))
            assert help_text.endswith(escape(f"Default: {shown}.")), (name, param.opts, help_text)
        elif param.default is None and not param.is_flag and not set(param.opts) & NO_SETTING:
            pytest.fail(f"`siteclass {name} {param.opts[0]}` defaults to None (a setting?) but its help shows no "
                        f"default: wrap it in default_help(...): {help_text!r}")


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_rendered_help_keeps_brackets_and_defaults(name: str, command: Any) -> None:
    result = CliRunner().invoke(app, [*name.split(), "--help"], terminal_width=200, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert not re.search(r"\(\s*[,…]", text), f"empty brackets in `siteclass {name} --help`: rich ate markup"
    assert not re.search(r"\(\s*\)|\[\s*\]", text), f"empty brackets in `siteclass {name} --help`"
    if any(p.opts[0] == "--config" for p in command.params):
        assert "[crawl], [dataset], [train]" in text
    for param in command.params:
        if _is_option(param) and (param.help or "") in HELP_DEFAULTS:
            key = HELP_DEFAULTS[param.help or ""]
            shown = format_default(setting_default(key))
            assert f"Default: {shown}." in text, (name, param.opts[0], shown)


def test_examples_of_defaults() -> None:
    crawl = dict(_commands())["crawl"]
    helps = {p.opts[0]: p.help for p in crawl.params if _is_option(p)}
    assert helps["--max-pages"].endswith("Default: 5.")
    train = dict(_commands())["train"]
    helps = {p.opts[0]: p.help for p in train.params if _is_option(p)}
    assert helps["--epochs"].endswith("Default: fasttext 4, transformer 3.")
