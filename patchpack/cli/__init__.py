"""The command line: parse options, call the core, print, exit. Nothing else lives here.

One module per command group (``limits``, ``queue``, ``context``, ``output``, ``ledger``,
``agents``, ``demo``); a command's module is imported only when that command runs, so the
guard an agent runs before every tool call loads neither the queue nor the tokenizer.
"""

from __future__ import annotations

import importlib
import io
import sys
import traceback
from typing import Any

import click

from patchpack import __version__
from patchpack.errors import EXIT_BUG, EXIT_INTERRUPTED, PatchpackError

COMMANDS = {
    "check": "limits:check",
    "init": "limits:init",
    "add": "queue:add",
    "split": "queue:split",
    "list": "queue:list_",
    "next": "queue:next_",
    "apply": "queue:apply",
    "drop": "queue:drop",
    "undo": "queue:undo",
    "log": "queue:log",
    "tokens": "context:tokens",
    "context": "context:context",
    "run": "output:run",
    "test": "output:test_command",
    "record": "ledger:record",
    "ledger": "ledger:ledger_group",
    "budget": "ledger:budget",
    "sync": "ledger:sync",
    "gain": "pacing:gain",
    "guard": "agents:guard",
    "prompt": "agents:prompt",
    "integrate": "agents:integrate_group",
    "mcp": "agents:mcp",
    "status": "agents:status",
    "demo": "demo:demo",
}
"""Each command and where it lives: ``module:function`` in this package."""


class _Group(click.Group):
    """Loads a command's module when the command is asked for, and turns a PatchpackError
    into its message on stderr and its exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, name = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(f"patchpack.cli.{module}"), name)
        assert isinstance(command, click.Command), cmd_name
        return command

    def invoke(self, ctx: click.Context) -> Any:
        # A title or a name may hold bytes that are not UTF-8 (kept by surrogateescape):
        # they go out as those bytes, as git prints them, not as an encoding error.
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(errors="surrogateescape")
        try:
            return super().invoke(ctx)
        except PatchpackError as e:
            click.echo(e.render(), err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("patchpack: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="patchpack")
def cli() -> None:
    """Micro-patches, diff-driven context and a token ledger for AI coding agents, in git."""


def main(argv: list[str] | None = None) -> None:
    """The console script: exit codes 0, 1, 2, 130, and 3 with a traceback for a bug."""
    try:
        code = cli.main(args=argv, prog_name="patchpack", standalone_mode=False)
    except click.ClickException as e:
        e.show()
        code = e.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("patchpack: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except Exception:
        traceback.print_exc()
        click.echo("patchpack: internal error (a bug in patchpack); please report it", err=True)
        code = EXIT_BUG
    sys.exit(code if isinstance(code, int) else 0)
