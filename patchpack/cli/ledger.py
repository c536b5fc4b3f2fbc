"""`record`, `ledger`, `budget`, `sync`: the token ledger."""

from __future__ import annotations

from typing import Any

import click

from patchpack.cli import pacing
from patchpack.cli.common import (
    load_settings,
)
from patchpack.cli.usage import import_usage, record_usage_json
from patchpack.errors import EXIT_FAILED, BadInput
from patchpack.git import Repo

# -- ledger -----------------------------------------------------------------------------------


@click.command()
@click.option(
    "--in", "tokens_in", type=click.IntRange(min=0), metavar="N", help="Input (prompt) tokens spent."
)
@click.option(
    "--out", "tokens_out", type=click.IntRange(min=0), metavar="M", help="Output (completion) tokens spent."
)
@click.option(
    "--usage-json",
    metavar="FILE|-",
    help="Instead of --in/--out: a response's `usage` object (OpenAI, Cerebras, "
    "Anthropic) or the whole response, as the provider sent it.",
)
@click.option("--model", help="The model that spent them.")
@click.option("--agent", help="The agent that spent them (per-agent budgets use this name).")
@click.option("--session", help="The agent session they belong to.")
@click.option(
    "--requests",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    metavar="K",
    help="Requests these tokens took (per-minute request limit).",
)
@click.option("--kind", default="request", show_default=True, help="What the spend was.")
@click.option(
    "--counter",
    default="usage",
    show_default=True,
    help="What made the figures: `usage` as billed by the provider, or a tokenizer.",
)
def record(
    tokens_in: int | None,
    tokens_out: int | None,
    usage_json: str | None,
    model: str | None,
    agent: str | None,
    session: str | None,
    requests: int,
    kind: str,
    counter: str,
) -> None:
    """Record tokens spent; they join the ledger note of the next commit."""
    from patchpack.ledger import store as ledger

    if usage_json is not None:
        return record_usage_json(usage_json, model=model, agent=agent, session=session)
    if tokens_in is None or tokens_out is None:
        raise BadInput(
            "give --in N and --out M, or --usage-json FILE", hint="`patchpack record --in 5400 --out 820`"
        )

    entry = ledger.add_pending(
        Repo.discover(),
        kind=kind,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        counter=counter,
        model=model,
        agent=agent,
        session=session,
        requests=requests,
    )
    click.echo(
        f"pending {entry.id}: {entry.tokens_in:,} in, {entry.tokens_out:,} out "
        f"({entry.counter}); it joins the note of the next commit"
    )


@click.group(name="ledger")
def ledger_group() -> None:
    """The token ledger in git notes (refs/notes/patchpack)."""


ledger_group.add_command(import_usage)
ledger_group.add_command(pacing.export)


@ledger_group.command()
@click.argument("rev", default="HEAD")
@click.option(
    "--from",
    "old",
    metavar="OLD",
    help="Copy OLD's entries instead: OLD was rewritten into REV in a way notes do "
    "not follow (cherry-pick, reset --soft and commit).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing (for the post-commit hook).")
def attach(rev: str, old: str | None, quiet: bool) -> None:
    """Move the pending entries into the note of REV (default HEAD), appending to it."""
    from patchpack.ledger import store as ledger

    repo = Repo.discover()
    if rev == "HEAD" and repo.head_oid() is None:
        waiting = len(ledger.pending(repo)[0])
        if not quiet:
            click.echo(f"no commit yet: {waiting} pending entries wait for the first one")
        return
    oid = repo.resolve_commit(rev)
    if old is not None:
        entries = ledger.attach_from(repo, repo.resolve_commit(old), oid)
    else:
        entries = ledger.attach_pending(repo, oid)
    if not quiet:
        tokens = sum(e.tokens for e in entries)
        click.echo(
            f"attached {len(entries)} entries ({tokens:,} tokens) to {oid[:12]}"
            if entries
            else "nothing to attach"
        )


@click.command()
@click.argument("rev_range", required=False)
@click.option(
    "--since", metavar="DATE", help="Only entries from DATE on: 2026-11-24, 2026-11-24T10:00, today, 3d, 12h."
)
@click.option(
    "--by",
    type=click.Choice(["commit", "day", "agent", "model", "kind"]),
    default="day",
    show_default=True,
    help="Group the totals by this.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--check", is_flag=True, help="Exit 1 when a budget is exhausted.")
@click.option(
    "--daily-budget",
    type=click.IntRange(min=0),
    metavar="N",
    help="Tokens per UTC day (patchpack.dailyBudget).",
)
@pacing.budget_options
@click.pass_context
def budget(
    ctx: click.Context,
    /,
    rev_range: str | None,
    since: str | None,
    by: str,
    as_json: bool,
    check: bool,
    daily_budget: int | None,
    **extra: Any,
) -> None:
    """Tokens spent per group, and today's spend against the limits.

    With REV_RANGE (A..B, or one revision and its history) only the notes of those commits
    are totalled; the limits always weigh all spend, pending included.
    """
    from patchpack.ledger import budget as budgeting

    repo = Repo.discover()
    if pacing.budget_extras(
        ctx, settings=load_settings(repo, daily_budget=daily_budget), as_json=as_json, **extra
    ):
        return
    report = budgeting.for_repo(
        repo, settings=load_settings(repo, daily_budget=daily_budget), by=by, since=since, rev_range=rev_range
    )
    click.echo(budgeting.render_json(report) if as_json else budgeting.render_text(report))
    for line in budgeting.problems(report):
        click.echo(line, err=True)
    if check and report.exhausted:
        click.echo(
            "hint: wait for the window to pass (a minute, or UTC midnight), or raise "
            "the limit, e.g. `git config patchpack.dailyBudget N`",
            err=True,
        )
        ctx.exit(EXIT_FAILED)


@click.command()
@click.argument("remote", required=False)
@click.option(
    "--configure",
    is_flag=True,
    help="Also add a fetch refspec so plain `git fetch REMOTE` brings the ledger.",
)
def sync(remote: str | None, configure: bool) -> None:
    """Share the ledger: fetch REMOTE's notes, merge them (cat_sort_uniq), push the union.

    REMOTE defaults to the branch's remote, else origin. Never forces a push.
    """
    from patchpack.ledger import store as ledger

    done = ledger.sync(Repo.discover(), remote, configure=configure)
    click.echo(
        f"{done.remote}: "
        + ", ".join(
            [
                "merged its entries into ours" if done.merged else "nothing new from it",
                "pushed ours" if done.pushed else "nothing new to push",
            ]
        )
    )
    if configure:
        click.echo(f"`git fetch {done.remote}` now brings the ledger to {ledger.tracking_ref(done.remote)}")
