"""`check` and `init`: the micro-patch limits and the hooks that hold commits to them."""

from __future__ import annotations

import click

from patchpack.cli.common import (
    load_settings,
    read_input,
    repo_or_none,
)
from patchpack.errors import EXIT_FAILED, BadInput
from patchpack.git import Repo

# -- check ------------------------------------------------------------------------------------


@click.command()
@click.argument("rev_range", required=False)
@click.option("--staged", is_flag=True, help="Check the staged change (the default).")
@click.option(
    "--diff",
    "diff_file",
    metavar="FILE",
    help="Check a unified diff file or `git format-patch` mails; - reads stdin.",
)
@click.option("--max-files", type=click.IntRange(min=0), help="Most files a change may touch.")
@click.option("--max-lines", type=click.IntRange(min=0), help="Most diff lines a change may have.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def check(
    ctx: click.Context,
    rev_range: str | None,
    staged: bool,
    diff_file: str | None,
    max_files: int | None,
    max_lines: int | None,
    as_json: bool,
) -> None:
    """Judge a change against the micro-patch limits.

    With no argument (or --staged): the staged change, what the next commit will hold.
    With REV_RANGE (A..B, or one revision): each commit in it on its own.
    """
    from patchpack.limits import check as checking
    from patchpack.limits.diffs import Limits

    if sum([staged, rev_range is not None, diff_file is not None]) > 1:
        raise BadInput("give only one of --staged, REV_RANGE and --diff")
    repo = Repo.discover() if diff_file is None else repo_or_none()
    settings = load_settings(repo, max_files=max_files, max_lines=max_lines)
    limits = Limits(settings.max_files, settings.max_lines)
    if diff_file is not None:
        results = checking.diff_text(read_input(diff_file), diff_file, limits)
    else:
        assert repo is not None  # discovered above: only --diff may go without one
        results = (
            checking.revision_range(repo, rev_range, limits)
            if rev_range is not None
            else checking.staged(repo, limits)
        )
    click.echo(checking.render_json(results) if as_json else checking.render_text(results))
    if not checking.all_ok(results):
        click.echo(
            checking.next_step(results, staged_change=rev_range is None and diff_file is None), err=True
        )
        ctx.exit(EXIT_FAILED)


# -- init -------------------------------------------------------------------------------------


@click.command()
@click.option("--uninstall", is_flag=True, help="Remove patchpack's hooks, and only those.")
@click.option(
    "--show-notes", is_flag=True, help="Also make plain `git log` show the token ledger (notes.displayRef)."
)
def init(uninstall: bool, show_notes: bool) -> None:
    """Install patchpack's git hooks and the git config its ledger needs.

    Respects core.hooksPath. A hook that was already there is kept and still runs.
    """
    from patchpack.limits import hooks

    repo = Repo.discover()
    actions = hooks.uninstall(repo) if uninstall else hooks.install(repo)
    for action in actions:
        click.echo(f"{action.hook}: {action.what}")
    if not uninstall:
        click.echo(f"notes.rewriteRef includes {hooks.NOTES_REF}")
    if show_notes and not uninstall:
        hooks.show_notes(repo)
        click.echo(f"notes.displayRef includes {hooks.NOTES_REF}: `git log` shows the ledger")
