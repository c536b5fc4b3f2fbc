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


_max_files = click.option("--max-files", type=click.IntRange(min=1),
                          help="Most files a micro-patch may touch.")
_max_lines = click.option("--max-lines", type=click.IntRange(min=1),
                          help="Most diff lines a micro-patch may have.")


def _echo_added(added: Added) -> None:
    for patch in added.patches:
        click.echo(f"queued  {patch.lines:>4} lines  {patch.title}")
    queued = len(added.state.queued())
    click.echo(f"{queued} queued; see the next with `patchpack next`, "
               f"commit it with `patchpack apply`")


@click.command()
@click.argument("diff_file", type=click.File("rb"), default="-", metavar="[FILE|-]")
@click.option("-m", "--message", "title", help="Title of the change (default: the mail's "
              "subject, or its files and lines, `a.py, b.py: +12 -3`).")
@click.option("--split", "split_big", is_flag=True,
              help="Cut a change over the limits into micro-patches instead of refusing it.")
@_max_files
@_max_lines
def add(diff_file: BinaryIO, title: str | None, split_big: bool, max_files: int | None,
        max_lines: int | None) -> None:
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
    added = intake.add(repo, text=decode(diff_file.read()), source=source, title=title,
                       limits=_limits(repo, max_files, max_lines), split_big=split_big)
    _echo_added(added)


@click.command()
@click.option("-m", "--message", "title",
              help="Title of the change; each micro-patch is titled `TITLE (3/7): FILES` "
                   "(default: `FILES: +12 -3 (3/7)`).")
@click.option("--tracked-only", is_flag=True, help="Leave untracked files out.")
@_max_files
@_max_lines
def split(title: str | None, tracked_only: bool, max_files: int | None,
          max_lines: int | None) -> None:
    """Move the uncommitted changes into the queue as micro-patches; the work tree goes back
    to HEAD.

    Staged and unstaged changes are taken, and new untracked files unless --tracked-only.
    `patchpack undo` gives the work tree back.
    """
    from patchpack.queue import intake

    repo = _queue_git()
    added = intake.split_worktree(repo, title=title, limits=_limits(repo, max_files, max_lines),
                                  untracked=not tracked_only)
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


