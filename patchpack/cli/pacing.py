"""`budget --wait-for`, `gain`, `ledger export`: pacing, savings and export of the ledger.

Click functions only; the work is in ledger/pacing.py, gain.py and export.py, imported when a
command runs.
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
    for option in reversed(
        (
            click.option(
                "--wait-for",
                "wait_for",
                type=click.IntRange(min=0),
                metavar="N",
                help="Print the seconds until a request of N prompt tokens fits every "
                "window (0: now), as patchpack.provider counts them.",
            ),
            click.option(
                "--sleep", is_flag=True, help="With --wait-for: wait that long, then exit 0 (Ctrl-C: 130)."
            ),
            click.option(
                "--agent", metavar="NAME", help="With --wait-for: weigh this agent's daily budget too."
            ),
        )
    ):
        f = option(f)
    return f


def budget_extras(
    ctx: click.Context,
    *,
    settings: Settings,
    as_json: bool,
    wait_for: int | None,
    sleep: bool,
    agent: str | None,
) -> bool:
    """Run what the options of `budget_options` ask for; False when they ask for nothing."""
    from patchpack.errors import BadInput

    if wait_for is None:
        if sleep or agent is not None:
            raise BadInput(
                "--sleep and --agent go with --wait-for N",
                hint="e.g. `patchpack budget --wait-for 20000 --sleep`",
            )
        return False
    from patchpack.ledger import pacing

    wait, profile, reserved = pacing.for_repo(Repo.discover(), settings, wait_for, agent=agent)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "wait": wait.seconds,
                    "held_by": wait.held_by or None,
                    "used": wait.used,
                    "limit": wait.limit,
                    "charge": wait.charge,
                    "reserved": reserved,
                    "provider": profile.name,
                }
            )
        )
    else:
        click.echo(pacing.seconds(wait))
        click.echo(pacing.render(wait, profile, wait_for, reserved), err=True)
    if sleep and wait.seconds:
        time.sleep(wait.seconds)  # Ctrl-C: the CLI's KeyboardInterrupt exits 130
    return True


@click.command()
@click.option(
    "--agent",
    "agents",
    multiple=True,
    type=click.Choice(["claude-code", "code-puppy", "none"]),
    help="Weigh against this agent's own truncation (default: each; none: the whole output).",
)
@click.option(
    "--session", metavar="ID", help="Only this session: its billed entries, and runs and packs in its span."
)
@click.option("--since", metavar="DATE", help="Only entries from DATE on (as budget --since).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def gain(agents: tuple[str, ...], session: str | None, since: str | None, as_json: bool) -> None:
    """Tokens patchpack kept out of the agent's context, against what it would have read.

    A run's saving is the agent's view of the whole output less its view of what patchpack
    printed (Claude Code keeps the first 30,000 characters, Code Puppy the last 256 lines of
    256 characters or a 1,000-character preview past 10,000): it can be negative. Every
    figure names the counter that made it.
    """
    from patchpack import clock
    from patchpack.errors import BadInput
    from patchpack.ledger import gain as gaining
    from patchpack.ledger import store as ledger
    from patchpack.ledger.budget import parse_since

    repo = Repo.discover()
    held = ledger.read(repo)
    waiting, _ = ledger.pending(repo)
    entries = [e for _, e in held.entries] + waiting
    if since is not None:
        try:
            floor = ledger.timestamp(parse_since(since, clock.now()))
        except ValueError as e:
            raise BadInput(f"--since: {e}", hint="e.g. `patchpack gain --since 1d`") from None
        entries = [e for e in entries if e.ts >= floor]
    if session is not None:
        entries = gaining.of_session(entries, session)
    kept = gaining.read_views(repo)
    gains = [gaining.gain(entries, kept, agent) for agent in agents or ("claude-code", "code-puppy", "none")]
    click.echo(json.dumps([g.as_json() for g in gains], indent=2) if as_json else gaining.render_text(gains))


@click.command("export")
@click.option(
    "--format",
    "form",
    type=click.Choice(["otel"]),
    required=True,
    help="otel: OpenTelemetry GenAI spans and metrics, OTLP's JSON encoding.",
)
@click.option(
    "--otlp",
    "url",
    metavar="URL",
    help="Send to this OTLP/HTTP collector (URL/v1/traces, URL/v1/metrics) instead "
    "of printing one request a line.",
)
@click.option("--since", metavar="DATE", help="Only entries from DATE on (as budget --since).")
def export(form: str, url: str | None, since: str | None) -> None:
    """Export the ledger's entries (notes and pending) for the tools a team already runs."""
    from patchpack import clock
    from patchpack.errors import BadInput
    from patchpack.ledger import export as exporting
    from patchpack.ledger import pacing
    from patchpack.ledger import store as ledger
    from patchpack.ledger.budget import parse_since

    repo = Repo.discover()
    settings = Settings.load(repo.config_get)
    held = ledger.read(repo)
    waiting, _ = ledger.pending(repo)
    noted: list[tuple[str | None, ledger.Entry]] = [*held.entries, *((None, e) for e in waiting)]
    if since is not None:
        try:
            floor = ledger.timestamp(parse_since(since, clock.now()))
        except ValueError as e:
            raise BadInput(f"--since: {e}", hint="e.g. `--since 1d`") from None
        noted = [(c, e) for c, e in noted if e.ts >= floor]
    payloads = exporting.requests(
        noted, provider=pacing.provider(settings).name, repository=(repo.workdir or repo.git_dir).name
    )
    if url is None:
        for _, body in payloads:
            click.echo(json.dumps(body, separators=(",", ":")))
        return
    sent = exporting.send(url, payloads)
    click.echo(f"exported {len({e.id for _, e in noted}):,} entries in {sent} requests to {url}", err=True)
