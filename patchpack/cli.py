"""The command line: parse options, call the core, print, exit. Nothing else lives here."""

from __future__ import annotations

import sys
import traceback
from typing import Any, BinaryIO

import click

from patchpack import __version__
from patchpack.config import Settings
from patchpack.errors import EXIT_BUG, EXIT_FAILED, EXIT_INTERRUPTED, BadInput, NotARepository
from patchpack.errors import PatchpackError
from patchpack.git import Repo, global_config_get


class _Group(click.Group):
    """Turns a PatchpackError into its message on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
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


# -- shared helpers ---------------------------------------------------------------------------


def _repo_or_none() -> Repo | None:
    try:
        return Repo.discover()
    except NotARepository:
        return None


def _settings(repo: Repo | None, **flags: Any) -> Settings:
    return Settings.load(repo.config_get if repo is not None else global_config_get, **flags)


# -- check ------------------------------------------------------------------------------------


@cli.command()
@click.argument("rev_range", required=False)
@click.option("--staged", is_flag=True, help="Check the staged change (the default).")
@click.option("--diff", "diff_file", type=click.File("rb"), metavar="FILE",
              help="Check a unified diff file or `git format-patch` mails; - reads stdin.")
@click.option("--max-files", type=click.IntRange(min=0), help="Most files a change may touch.")
@click.option("--max-lines", type=click.IntRange(min=0), help="Most diff lines a change may have.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def check(ctx: click.Context, rev_range: str | None, staged: bool, diff_file: BinaryIO | None,
          max_files: int | None, max_lines: int | None, as_json: bool) -> None:
    """Judge a change against the micro-patch limits.

    With no argument (or --staged): the staged change, what the next commit will hold.
    With REV_RANGE (A..B, or one revision): each commit in it on its own.
    """
    from patchpack import check as checking
    from patchpack.diffs import Limits
    from patchpack.git import decode

    if sum([staged, rev_range is not None, diff_file is not None]) > 1:
        raise BadInput("give only one of --staged, REV_RANGE and --diff")
    repo = Repo.discover() if diff_file is None else _repo_or_none()
    settings = _settings(repo, max_files=max_files, max_lines=max_lines)
    limits = Limits(settings.max_files, settings.max_lines)
    if diff_file is not None:
        results = checking.diff_text(decode(diff_file.read()), diff_file.name, limits)
    elif rev_range is not None:
        results = checking.revision_range(repo, rev_range, limits)
    else:
        results = checking.staged(repo, limits)
    click.echo(checking.render_json(results) if as_json else checking.render_text(results))
    if not checking.all_ok(results):
        click.echo(checking.next_step(results, staged_change=rev_range is None
                                      and diff_file is None), err=True)
        ctx.exit(EXIT_FAILED)


# -- init -------------------------------------------------------------------------------------


@cli.command()
@click.option("--uninstall", is_flag=True, help="Remove patchpack's hooks, and only those.")
def init(uninstall: bool) -> None:
    """Install patchpack's git hooks and the git config its ledger needs.

    Respects core.hooksPath. A hook that was already there is kept and still runs.
    """
    from patchpack import hooks

    repo = Repo.discover()
    actions = hooks.uninstall(repo) if uninstall else hooks.install(repo)
    for action in actions:
        click.echo(f"{action.hook}: {action.what}")
    if not uninstall:
        click.echo(f"notes.rewriteRef includes {hooks.NOTES_REF}")


# -- demo -------------------------------------------------------------------------------------


@cli.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="Build the demo repository here instead of a temporary directory.")
def demo(directory: str | None) -> None:
    """Walk through patchpack on a throw-away repository (no network, a few seconds)."""
    from patchpack import demo as demo_module

    demo_module.run(directory, echo=click.echo)


# -- the micro-patch queue --------------------------------------------------------------------


def _queue_git() -> Any:
    from patchpack.git import QueueGit

    return QueueGit(Repo.discover())


def _limits(qg: Any, max_files: int | None, max_lines: int | None) -> Any:
    from patchpack.diffs import Limits

    settings = _settings(qg.repo, max_files=max_files, max_lines=max_lines)
    return Limits(settings.max_files, settings.max_lines)


_max_files = click.option("--max-files", type=click.IntRange(min=1),
                          help="Most files a micro-patch may touch.")
_max_lines = click.option("--max-lines", type=click.IntRange(min=1),
                          help="Most diff lines a micro-patch may have.")
_json = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _echo_added(added: Any) -> None:
    for patch in added.patches:
        click.echo(f"queued  {patch.lines:>4} lines  {patch.title}")
    queued = len(added.state.queued())
    click.echo(f"{queued} queued; see the next with `patchpack next`, "
               f"commit it with `patchpack apply`")


@cli.command()
@click.argument("diff_file", type=click.File("rb"), default="-", metavar="[FILE|-]")
@click.option("-m", "--message", "title", help="Title of the change (default: the mail's "
              "subject, or `Change from FILE`).")
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
    from patchpack import intake
    from patchpack.git import decode

    qg = _queue_git()
    name = getattr(diff_file, "name", "<stdin>")
    source = "stdin" if name in ("<stdin>", "-") else name
    added = intake.add(qg, text=decode(diff_file.read()), source=source, title=title,
                       limits=_limits(qg, max_files, max_lines), split_big=split_big)
    _echo_added(added)


@cli.command()
@click.option("-m", "--message", "title", default="Uncommitted changes", show_default=True,
              help="Title of the change; each micro-patch is titled `TITLE (3/7): FILES`.")
@click.option("--tracked-only", is_flag=True, help="Leave untracked files out.")
@_max_files
@_max_lines
def split(title: str, tracked_only: bool, max_files: int | None, max_lines: int | None) -> None:
    """Move the uncommitted changes into the queue as micro-patches; the work tree goes back
    to HEAD.

    Staged and unstaged changes are taken, and new untracked files unless --tracked-only.
    `patchpack undo` gives the work tree back.
    """
    from patchpack import intake

    qg = _queue_git()
    added = intake.split_worktree(qg, title=title, limits=_limits(qg, max_files, max_lines),
                                  untracked=not tracked_only)
    _echo_added(added)


@cli.command(name="list")
@_json
def list_(as_json: bool) -> None:
    """The series: position, state, title, files, diff lines, tokens of each patch."""
    from patchpack import queue
    from patchpack.tokens import get_counter

    qg = _queue_git()
    counter = get_counter(_settings(qg.repo).tokenizer)
    rows = queue.listing(qg, queue.load(qg), counter)
    render = queue.list_json if as_json else queue.render_list
    click.echo(render(rows, counter.name))


@cli.command(name="next")
@_json
def next_(as_json: bool) -> None:
    """The next queued micro-patch and the diff `patchpack apply` will commit."""
    from patchpack import queue

    qg = _queue_git()
    found = queue.next_patch(qg, queue.load(qg))
    click.echo(queue.next_json(found) if as_json else queue.render_next(found))


@cli.command()
@click.option("-n", "count", type=click.IntRange(min=1), default=None,
              help="Apply the next N patches (default 1).")
@click.option("--all", "all_", is_flag=True, help="Apply every queued patch, stopping at the "
              "first failure with everything before it committed.")
@click.option("--no-verify", is_flag=True, help="Skip the pre-commit and commit-msg hooks.")
@click.pass_context
def apply(ctx: click.Context, count: int | None, all_: bool, no_verify: bool) -> None:
    """Commit the next queued micro-patch with `git commit`, so the hooks run.

    When HEAD moved since the patch was made it is replayed with a 3-way merge. On a conflict
    or a rejecting hook nothing changes and the exit code is 1.
    """
    from patchpack import apply as applying

    if all_ and count is not None:
        raise BadInput("give -n N or --all, not both")
    qg = _queue_git()
    result = applying.apply(qg, count=None if all_ else (count or 1), verify=not no_verify,
                            counter_spec=_settings(qg.repo).tokenizer)
    click.echo(applying.render(result))
    if result.failure is not None:
        click.echo(result.failure.render(), err=True)
        ctx.exit(result.failure.exit_code)


@cli.command()
@click.argument("position", type=click.IntRange(min=1), required=False)
def drop(position: int | None) -> None:
    """Take queued patch POSITION (default: the next one) off the queue; `undo` brings it back."""
    from patchpack import queue

    dropped = queue.drop(_queue_git(), position)
    click.echo(f"dropped  {dropped.title}")


@cli.command()
def undo() -> None:
    """Go back to the queue state before the last operation.

    Undoing a split gives the work tree back; undoing an apply moves HEAD back (keeping local
    changes). Run it again to go further back.
    """
    from patchpack import queue

    state, op = queue.undo(_queue_git())
    click.echo(f"undid {op.kind}: {op.summary}; {len(state.queued())} queued")


@cli.command()
@click.option("-n", "limit", type=click.IntRange(min=1), default=None, help="Show N states.")
def log(limit: int | None) -> None:
    """The queue's history, newest first: each operation and what it left queued."""
    from patchpack import queue

    qg = _queue_git()
    click.echo(queue.render_log(queue.history(qg, queue.load(qg), limit)))
