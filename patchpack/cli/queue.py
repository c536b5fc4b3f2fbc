"""`add`, `split`, `list`, `next`, `apply`...: the micro-patch queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

import click

from patchpack.cli.common import (
    budget_line,
    json_option,
    load_settings,
    over_budget_option,
)
from patchpack.errors import BadInput
from patchpack.git import Repo, decode

if TYPE_CHECKING:
    from patchpack.limits.diffs import Limits
    from patchpack.queue.intake import Added

# -- the micro-patch queue --------------------------------------------------------------------


def _queue_git() -> Repo:
    return Repo.discover()


def _limits(repo: Repo, max_files: int | None, max_lines: int | None) -> Limits:
    from patchpack.limits.diffs import Limits

    settings = load_settings(repo, max_files=max_files, max_lines=max_lines)
    return Limits(settings.max_files, settings.max_lines)


_max_files = click.option(
    "--max-files", type=click.IntRange(min=1), help="Most files a micro-patch may touch."
)
_max_lines = click.option(
    "--max-lines", type=click.IntRange(min=1), help="Most diff lines a micro-patch may have."
)


def _echo_added(added: Added) -> None:
    for patch in added.patches:
        click.echo(f"queued  {patch.lines:>4} lines  {patch.title}")
    queued = len(added.state.queued())
    click.echo(f"{queued} queued; see the next with `patchpack next`, commit it with `patchpack apply`")


@click.command()
@click.argument("diff_file", type=click.File("rb"), default="-", metavar="[FILE|-]")
@click.option(
    "-m",
    "--message",
    "title",
    help="Title of the change (default: the mail's subject, or its files and lines, `a.py, b.py: +12 -3`).",
)
@click.option(
    "--split",
    "split_big",
    is_flag=True,
    help="Cut a change over the limits into micro-patches instead of refusing it.",
)
@_max_files
@_max_lines
def add(
    diff_file: BinaryIO, title: str | None, split_big: bool, max_files: int | None, max_lines: int | None
) -> None:
    """Put a change on the queue: a git diff, a plain `diff -u`, or `git format-patch` mails.

    FILE is read from stdin when it is - or not given. A change that does not apply to
    HEAD is refused with the hunk that failed; one over the limits is refused unless --split.
    """
    from patchpack.limits.hunks import quote
    from patchpack.queue import intake

    repo = _queue_git()
    name = getattr(diff_file, "name", "<stdin>")
    # Quoted as git shows names: one that is not UTF-8 cannot go into the commit message.
    source = "stdin" if name in ("<stdin>", "-") else quote(name)
    added = intake.add(
        repo,
        text=decode(diff_file.read()),
        source=source,
        title=title,
        limits=_limits(repo, max_files, max_lines),
        split_big=split_big,
        tokenizer=load_settings(repo).tokenizer,
    )
    _echo_added(added)


@click.command()
@click.option(
    "-m",
    "--message",
    "title",
    help="Title of the change; each micro-patch is titled `TITLE (3/7): FILES` "
    "(default: `FILES: +12 -3 (3/7)`).",
)
@click.option("--tracked-only", is_flag=True, help="Leave untracked files out.")
@_max_files
@_max_lines
def split(title: str | None, tracked_only: bool, max_files: int | None, max_lines: int | None) -> None:
    """Move the uncommitted changes into the queue as micro-patches; the work tree goes back
    to HEAD.

    Staged and unstaged changes are taken, and new untracked files unless --tracked-only.
    `patchpack undo` gives the work tree back.
    """
    from patchpack.queue import intake

    repo = _queue_git()
    added = intake.split_worktree(
        repo,
        title=title,
        limits=_limits(repo, max_files, max_lines),
        untracked=not tracked_only,
        tokenizer=load_settings(repo).tokenizer,
    )
    _echo_added(added)


@click.command(name="list")
@json_option
def list_(as_json: bool) -> None:
    """The series: position, state, title, files, diff lines, tokens of each patch."""
    from patchpack.queue import store as queue
    from patchpack.tokens import get_counter

    repo = _queue_git()
    counter = get_counter(load_settings(repo).tokenizer)
    rows = queue.listing(repo, queue.load(repo), counter)
    render = queue.list_json if as_json else queue.render_list
    click.echo(render(rows, counter.name))


@click.command(name="next")
@json_option
def next_(as_json: bool) -> None:
    """The next queued micro-patch and the diff `patchpack apply` will commit."""
    from patchpack.agents import loop as agents
    from patchpack.queue import store as queue

    repo = _queue_git()
    found = queue.next_patch(repo, queue.load(repo))
    click.echo(queue.next_json(found) if as_json else queue.render_next(found))
    settings = load_settings(repo)
    if agents.cadence(repo, settings).reminder_due:
        click.echo(agents.reminder(settings), err=True)
    budget_line(repo, settings)


@click.command()
@click.option(
    "-n", "count", type=click.IntRange(min=1), default=None, help="Apply the next N patches (default 1)."
)
@click.option(
    "--all",
    "all_",
    is_flag=True,
    help="Apply every queued patch, stopping at the first failure with everything before it committed.",
)
@click.option("--no-verify", is_flag=True, help="Skip the pre-commit and commit-msg hooks.")
@over_budget_option
@click.pass_context
def apply(ctx: click.Context, count: int | None, all_: bool, no_verify: bool, over_budget: bool) -> None:
    """Commit the next queued micro-patch, its commit hooks run as `git commit` runs them.

    When HEAD moved since the patch was made it is replayed with a 3-way merge. On a conflict
    or a rejecting hook nothing changes and the exit code is 1.
    """
    from patchpack.agents import workflow
    from patchpack.queue import apply as applying

    if all_ and count is not None:
        raise BadInput("give -n N or --all, not both")
    repo = _queue_git()
    settings = load_settings(repo)
    applied = workflow.apply(
        repo, settings, count=None if all_ else (count or 1), verify=not no_verify, over_budget=over_budget
    )
    result = applied.result
    click.echo(applying.render(result))
    if applied.reminder:
        click.echo(applied.reminder, err=True)
    budget_line(repo, settings)
    if result.failure is not None:
        click.echo(result.failure.render(), err=True)
        ctx.exit(result.failure.exit_code)


@click.command()
@click.argument("position", type=click.IntRange(min=1), required=False)
def drop(position: int | None) -> None:
    """Take queued patch POSITION (default: the next one) off the queue; `undo` brings it back."""
    from patchpack.queue import changes

    dropped = changes.drop(_queue_git(), position)
    click.echo(f"dropped  {dropped.title}")


@click.command()
def undo() -> None:
    """Go back to the queue state before the last operation.

    Undoing a split gives the work tree back; undoing an apply moves HEAD back (keeping local
    changes). Run it again to go further back.
    """
    from patchpack.queue import changes

    state, op = changes.undo(_queue_git())
    click.echo(f"undid {op.kind}: {op.summary}; {len(state.queued())} queued")


@click.command()
@click.option("-n", "limit", type=click.IntRange(min=1), default=None, help="Show N states.")
def log(limit: int | None) -> None:
    """The queue's history, newest first: each operation and what it left queued."""
    from patchpack.queue import store as queue

    repo = _queue_git()
    click.echo(queue.render_log(queue.history(repo, queue.load(repo), limit)))
