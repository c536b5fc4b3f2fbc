"""`guard`, `prompt`, `integrate`, `mcp`, `status`: the agent's side."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from patchpack.cli.common import (
    json_option,
    load_settings,
    repo_or_none,
)
from patchpack.errors import BadInput
from patchpack.git import Repo, decode

# -- agent workflow ---------------------------------------------------------------------------

if TYPE_CHECKING:
    from pathlib import Path

    from patchpack.agents.integrate import Integration


@click.command()
@click.option("--limit-all", is_flag=True, help="Send every other shell command through `patchpack run` too.")
@click.pass_context
def guard(ctx: click.Context, limit_all: bool) -> None:
    """Answer an agent's PreToolUse hook: the event as JSON on stdin.

    Refuses an edit that would take the uncommitted change over the micro-patch limits and a
    whole-file read over max-file-lines; sends test runs through `patchpack test`. Unknown
    events and tools pass; malformed input passes with a note on stderr (exit 0).
    """
    from patchpack.agents import guard as guarding

    result = guarding.answer(decode(sys.stdin.buffer.read()), limit_all=limit_all)
    if result.stdout:
        click.echo(result.stdout)
    if result.stderr:
        click.echo(result.stderr, err=True)
    ctx.exit(result.exit_code)


@click.command()
def prompt() -> None:
    """Print the token-economy instructions for an agent, with the configured numbers."""
    from patchpack.agents import loop as agents

    click.echo(agents.prompt(load_settings(repo_or_none())), nl=False)


@click.group(name="integrate")
def integrate_group() -> None:
    """Set up an agent to follow the patchpack workflow."""


@integrate_group.command("code-puppy")
@click.option(
    "--global",
    "global_",
    is_flag=True,
    help="Write to the user's agents directory (~/.code_puppy/agents, or "
    "$XDG_DATA_HOME/code_puppy/agents) instead of the project's.",
)
@click.option("--model", help="Pin the agent to this model.")
@click.option("--dry-run", is_flag=True, help="Print what would be written; write nothing.")
@click.option(
    "--mcp",
    "with_mcp",
    is_flag=True,
    help="Also register `patchpack mcp` in the user's mcp_servers.json (in "
    "~/.code_puppy, or $XDG_CONFIG_HOME/code_puppy) and bind it to the agent.",
)
@click.option(
    "--plugin",
    is_flag=True,
    help="Also install patchpack's plugin as a user plugin (~/.code_puppy/plugins), "
    "for a Code Puppy installed outside this Python environment.",
)
def integrate_code_puppy(
    global_: bool, model: str | None, dry_run: bool, with_mcp: bool, plugin: bool
) -> None:
    """Write a Code Puppy agent whose prompt is `patchpack prompt` (with the plugin: whose
    prompt is the workflow only), and the plugin or the MCP server when asked."""
    import pathlib

    from patchpack.agents import integrate

    repo = repo_or_none()
    home, env = pathlib.Path.home(), dict(os.environ)
    path = integrate.code_puppy_path(root=_project_root(repo), home=home, global_=global_, env=env)
    if with_mcp:
        _report(
            integrate.register_mcp(
                integrate.code_puppy_mcp_path(home=home, env=env),
                keys=integrate.CODE_PUPPY_MCP_KEYS,
                dry_run=dry_run,
            ),
            dry_run=dry_run,
        )
    if plugin:  # the plugin enforces the rules: the profile's prompt is the workflow only
        from patchpack.agents.code_puppy import install, profile

        _report(install.install(home, dry_run=dry_run), dry_run=dry_run)
        written = integrate.write_json(
            path.with_name(f"{profile.NAME}.json"),
            profile.agent(load_settings(repo), model=model),
            dry_run=dry_run,
        )
    else:
        written = integrate.integrate_code_puppy(
            path, load_settings(repo), model=model, dry_run=dry_run, mcp=with_mcp
        )
    _report(written, dry_run=dry_run)
    if not dry_run:
        _steps(
            integrate.code_puppy_steps(
                _project_root(repo),
                global_=global_,
                land=integrate.to_land(repo, [written]),
                agent=written.path.stem,
                plugin=plugin,
            )
        )


@integrate_group.command("claude-code")
@click.option(
    "--limit-all", is_flag=True, help="Have the guard send every shell command through `patchpack run`."
)
@click.option("--dry-run", is_flag=True, help="Print what would be written; write nothing.")
@click.option(
    "--mcp", "with_mcp", is_flag=True, help="Also register `patchpack mcp` in the project's .mcp.json."
)
def integrate_claude_code(limit_all: bool, dry_run: bool, with_mcp: bool) -> None:
    """Add the `patchpack guard` PreToolUse hook to .claude/settings.json, keeping what is there."""
    from patchpack.agents import integrate

    repo = repo_or_none()
    root = _project_root(repo)
    written = []
    if with_mcp:
        written.append(
            integrate.register_mcp(root / ".mcp.json", keys=integrate.CLAUDE_MCP_KEYS, dry_run=dry_run)
        )
        _report(written[-1], dry_run=dry_run)
    written.append(
        integrate.integrate_claude_code(
            root / ".claude" / "settings.json", limit_all=limit_all, dry_run=dry_run
        )
    )
    _report(written[-1], dry_run=dry_run)
    if not dry_run:
        _steps(integrate.claude_code_steps(root, mcp=with_mcp, land=integrate.to_land(repo, written)))


def _project_root(repo: Repo | None) -> Path:
    import pathlib

    return repo.workdir if repo is not None and repo.workdir is not None else pathlib.Path.cwd()


def _steps(steps: list[str]) -> None:
    click.echo("next steps:")
    for n, step in enumerate(steps, 1):
        click.echo(f"  {n}. {step}")


def _report(result: Integration, *, dry_run: bool) -> None:
    verb = "would write" if dry_run else "wrote"
    if not result.changed:
        verb = "unchanged"
    click.echo(f"{verb} {result.path}")
    click.echo(result.text, nl=False)


# -- mcp --------------------------------------------------------------------------------------


@click.command()
@click.option(
    "--repo",
    "repo_path",
    type=click.Path(exists=True, file_okay=False),
    help="The repository to serve (default: the current directory's).",
)
def mcp(repo_path: str | None) -> None:
    """Serve patchpack's tools over MCP on stdin/stdout (needs `pip install patchpack[mcp]`)."""
    try:
        from patchpack.agents import mcp as mcp_server
    except ImportError as e:
        raise BadInput(
            f"the MCP server needs the `mcp` package ({e.name} is missing)",
            hint="pip install 'patchpack[mcp]'",
        ) from None
    Repo.discover(repo_path or ".")  # fail early, with exit 2, outside a repository
    mcp_server.serve(repo_path)


# -- status -----------------------------------------------------------------------------------


@click.command()
@click.option("--tracked-only", is_flag=True, help="Leave untracked files out of the measure.")
@json_option
def status(tracked_only: bool, as_json: bool) -> None:
    """Where you stand: branch, queue position and next patch, uncommitted size against the
    limits, pending and today's spend, and the truncation cadence."""
    from patchpack.agents import status as stating

    repo = Repo.discover()
    found = stating.read(repo, load_settings(repo), untracked=not tracked_only)
    click.echo(stating.render_json(found) if as_json else stating.render_text(found))
