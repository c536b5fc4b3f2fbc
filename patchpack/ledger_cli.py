"""The command line of pacing, savings and export: `budget --wait-for`, `gain`, `ledger export`.

Click functions only, as in cli.py; the work is in pacing.py, gain.py and export.py, imported
when a command runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from patchpack.config import Settings
from patchpack.git import Repo

F = TypeVar("F", bound=Callable[..., Any])


def budget_options(f: F) -> F:
    """The options `budget` takes for pacing and savings."""
    for option in reversed((
        click.option("--wait-for", "wait_for", type=click.IntRange(min=0), metavar="N",
                     help="Print the seconds until a request of N prompt tokens fits every "
                          "window (0: now), as patchpack.provider counts them."),
        click.option("--sleep", is_flag=True, help="With --wait-for: wait that long, then "
                                                   "exit 0 (Ctrl-C: 130)."),
        click.option("--agent", metavar="NAME",
                     help="With --wait-for: weigh this agent's daily budget too."),
    )):
        f = option(f)
    return f


def budget_extras(ctx: click.Context, *, settings: Settings, as_json: bool,
                  wait_for: int | None, sleep: bool, agent: str | None) -> bool:
    """Run what the options of `budget_options` ask for; False when they ask for nothing."""
    from patchpack.errors import BadInput

    if wait_for is None:
        if sleep or agent is not None:
            raise BadInput("--sleep and --agent go with --wait-for N",
                           hint="e.g. `patchpack budget --wait-for 20000 --sleep`")
        return False
    from patchpack import pacing

    wait, profile, reserved = pacing.for_repo(Repo.discover(), settings, wait_for, agent=agent)
    if as_json:
        click.echo(json.dumps({"wait": wait.seconds, "held_by": wait.held_by or None,
                               "used": wait.used, "limit": wait.limit, "charge": wait.charge,
                               "reserved": reserved, "provider": profile.name}))
    else:
        click.echo(pacing.seconds(wait))
        click.echo(pacing.render(wait, profile, wait_for, reserved), err=True)
    if sleep and wait.seconds:
        time.sleep(wait.seconds)  # Ctrl-C: the CLI's KeyboardInterrupt exits 130
    return True
