"""What the command modules share: the repository, settings, input, the budget line."""

from __future__ import annotations

import sys
from typing import Any

import click

from patchpack.config import Settings
from patchpack.errors import BadInput, NotARepository
from patchpack.git import Repo, decode, global_config_get


def repo_or_none() -> Repo | None:
    try:
        return Repo.discover()
    except NotARepository:
        return None


def read_input(path: str) -> str:
    """The text of a file named on the command line, or of stdin for ``-``; bytes kept."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as e:
        raise BadInput(f"cannot read {path}: {e.strerror}") from None
    return decode(data)


def load_settings(repo: Repo | None, **flags: Any) -> Settings:
    return Settings.load(repo.config_get if repo is not None else global_config_get, **flags)


over_budget_option = click.option(
    "--over-budget", is_flag=True, help="Go on although the daily or per-agent token budget is used up."
)


def budget_line(repo: Repo, settings: Settings, *, context_tokens: int | None = None) -> None:
    """The budget guard: one line on stderr when any budget is over 70%."""
    from patchpack.agents import loop as agents

    line = agents.line_for(repo, settings, context_tokens=context_tokens)
    if line:
        click.echo(line, err=True)


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
