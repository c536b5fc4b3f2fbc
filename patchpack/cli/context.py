"""`tokens` and `context`: what an agent reads, counted and fitted to a budget."""

from __future__ import annotations

from typing import BinaryIO

import click

from patchpack.cli.common import (
    budget_line,
    load_settings,
    over_budget_option,
    repo_or_none,
)
from patchpack.errors import EXIT_FAILED, BadInput
from patchpack.git import Repo

# -- context ----------------------------------------------------------------------------------


@click.command()
@click.argument("files", nargs=-1, type=click.File("rb"))
@click.option("-v", "--verbose", is_flag=True, help="Print a count per file, then the total.")
@click.option(
    "--tokenizer",
    metavar="NAME",
    help="cl100k_base (default, offline), another tiktoken encoding, or chars:N.",
)
def tokens(files: tuple[BinaryIO, ...], verbose: bool, tokenizer: str | None) -> None:
    """Count the tokens of FILES (standard input when none or -)."""
    from patchpack.tokens import count_text, get_counter

    counter = get_counter(load_settings(repo_or_none(), tokenizer=tokenizer).tokenizer)
    sources = files or (click.File("rb")("-"),)
    total = 0
    for source in sources:
        n = count_text(source.read(), counter)
        total += n
        if verbose:
            click.echo(f"{n:>8}  {source.name}")
    click.echo(f"{total:>8}  total ({counter.name})" if verbose else f"{total} tokens ({counter.name})")


@click.command()
@click.option("--base", metavar="REV", help="Diff the work against REV (default HEAD).")
@click.option("--cached", is_flag=True, help="Only the staged change.")
@click.option("--worktree", is_flag=True, help="Only the unstaged change (work tree vs index).")
@click.option(
    "--tracked-only",
    is_flag=True,
    help="Leave untracked files out of the diff (by default they show as new files).",
)
@click.option(
    "-W", "--function-context", is_flag=True, help="Widen each diff hunk to its enclosing function or class."
)
@click.option(
    "--grep",
    "greps",
    multiple=True,
    metavar="PATTERN",
    help="Add the code around each match of this regex (git grep -E) in tracked "
    "files, widened to its function or block. Repeatable.",
)
@click.option(
    "--path",
    "paths",
    multiple=True,
    metavar="GLOB",
    help="Limit --grep to these pathspecs (e.g. '*.py', src/). Repeatable.",
)
@click.option(
    "--at",
    "ats",
    multiple=True,
    metavar="FILE[:START-END|:SYMBOL]",
    help="Add these lines of FILE, or a Python def/class. Repeatable.",
)
@click.option("--budget", type=click.IntRange(min=0), help="Most tokens (default 50000).")
@click.option(
    "--max-file-lines", type=click.IntRange(min=1), help="Refuse whole files longer than this (default 200)."
)
@click.option(
    "--max-hunk-lines", type=click.IntRange(min=1), help="Cut located blocks to this many lines (default 80)."
)
@click.option(
    "--related/--no-related",
    default=None,
    help="With --grep, add each located Python file's imports and the module-level "
    "definitions the located code uses, dropped first (default on).",
)
@click.option(
    "--fill/--no-fill",
    default=None,
    help="With --grep, spend what the budget leaves on the code around the located "
    "hunks: headers, file ends, the last test of their test files, module "
    "level, the rest of their blocks, their classes, call trees, then "
    "neighbours (default off).",
)
@click.option("--tokenizer", metavar="NAME", help="The token counter (default cl100k_base).")
@click.option("--json", "as_json", is_flag=True, help="Print sections, ranges and counts as JSON.")
@over_budget_option
@click.pass_context
def context(
    ctx: click.Context,
    base: str | None,
    cached: bool,
    worktree: bool,
    tracked_only: bool,
    function_context: bool,
    greps: tuple[str, ...],
    paths: tuple[str, ...],
    ats: tuple[str, ...],
    budget: int | None,
    max_file_lines: int | None,
    max_hunk_lines: int | None,
    related: bool | None,
    fill: bool | None,
    tokenizer: str | None,
    as_json: bool,
    over_budget: bool,
) -> None:
    """Print the context an agent needs: the work diff and located code, within a token budget.

    Sections by priority: the diff against --base (staged and unstaged), the blocks around
    --grep matches, the --at ranges, then what the located Python code uses from its file
    (--related). What does not fit is listed at the end with the command that asks for it.
    """
    from patchpack.agents import workflow
    from patchpack.context import parts
    from patchpack.tokens import get_counter

    if cached and worktree:
        raise BadInput("give only one of --cached and --worktree")
    repo = Repo.discover()
    settings = load_settings(
        repo,
        context_budget=budget,
        max_file_lines=max_file_lines,
        max_hunk_lines=max_hunk_lines,
        context_related=related,
        context_fill=fill,
        tokenizer=tokenizer,
    )
    counter = get_counter(settings.tokenizer)
    request = parts.Request(
        base=base,
        side="cached" if cached else "worktree" if worktree else "both",
        function_context=function_context,
        greps=greps,
        paths=paths,
        ats=ats,
        budget=settings.context_budget,
        max_file_lines=settings.max_file_lines,
        max_hunk_lines=settings.max_hunk_lines,
        related=settings.context_related,
        fill=settings.context_fill,
        untracked=not tracked_only,
    )
    pack = workflow.context(repo, settings, request, counter, over_budget=over_budget)
    if as_json:
        click.echo(pack.as_json())
    elif pack.text:
        click.echo(pack.text, nl=False)
    for line in [*pack.notes, *pack.warnings()]:
        click.echo(f"patchpack: {line}", err=True)
    click.echo(f"patchpack: context {pack.tokens} tokens ({pack.counter}) of budget {pack.budget}", err=True)
    # A filled pack is near its budget on purpose: no advice to narrow it.
    budget_line(repo, settings, context_tokens=None if pack.filled else pack.tokens)
    if pack.unmatched:
        click.echo(
            "patchpack: no match in tracked files for --grep " + ", ".join(repr(u) for u in pack.unmatched),
            err=True,
        )
        click.echo("hint: check the pattern with `git grep -n -E PATTERN`, or widen --path", err=True)
        ctx.exit(EXIT_FAILED)
