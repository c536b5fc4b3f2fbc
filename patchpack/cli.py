"""The command line: parse options, call the core, print, exit. Nothing else lives here."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from patchpack import __version__
from patchpack.config import Settings
from patchpack.errors import EXIT_BUG, EXIT_FAILED, EXIT_INTERRUPTED, BadInput, NotARepository
from patchpack.errors import PatchpackError
from patchpack.git import Repo, decode, global_config_get


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


def _read_input(path: str) -> str:
    """The text of a file named on the command line, or of stdin for ``-``; bytes kept."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as e:
        raise BadInput(f"cannot read {path}: {e.strerror}") from None
    return decode(data)


def _settings(repo: Repo | None, **flags: Any) -> Settings:
    return Settings.load(repo.config_get if repo is not None else global_config_get, **flags)


# -- check ------------------------------------------------------------------------------------


@cli.command()
@click.argument("rev_range", required=False)
@click.option("--staged", is_flag=True, help="Check the staged change (the default).")
@click.option("--diff", "diff_file", metavar="FILE",
              help="Check a unified diff file or `git format-patch` mails; - reads stdin.")
@click.option("--max-files", type=click.IntRange(min=0), help="Most files a change may touch.")
@click.option("--max-lines", type=click.IntRange(min=0), help="Most diff lines a change may have.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def check(ctx: click.Context, rev_range: str | None, staged: bool, diff_file: str | None,
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
        results = checking.diff_text(_read_input(diff_file), diff_file, limits)
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


# -- run and test: the output limiter ---------------------------------------------------------

# `patchpack run pytest -x`: everything from the command on is the command's, not ours.
# No short options: `patchpack test -n 4` must reach pytest-xdist.
_COMMAND_CONTEXT = {"ignore_unknown_options": True, "allow_interspersed_args": False}


def _limit_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--lines", type=click.IntRange(min=1),
                     help="Most lines to print (default patchpack.outputLines, 200)."),
        click.option("--head", type=click.IntRange(min=0),
                     help="Of which the first lines of the output (default a quarter)."),
        click.option("--max-line-chars", type=click.IntRange(min=1),
                     help="Cut longer lines, with a marker (default 400)."),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
                     metavar="SECONDS", help="Kill the command's process group; exit 124."),
        click.option("--stats", is_flag=True,
                     help="Count tokens of the full and the printed output; print on stderr."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run_limited(ctx: click.Context, argv: list[str], repo: Repo | None, settings: Settings,
                 head: int | None, stats: bool) -> None:
    import signal

    from patchpack import runlog, runner

    limits = runner.Limits.make(lines=settings.output_lines, head=head,
                                max_line_chars=settings.max_line_chars)
    counter = None
    if stats:  # loading a tokenizer costs ~40 MB and 0.1 s: only when the figures are wanted
        from patchpack.tokens import get_counter

        counter = get_counter(settings.tokenizer)
    sys.stdout.flush()
    result = runner.run(argv, limits=limits,
                        log_dir=runlog.log_dir(repo.git_dir if repo is not None else None),
                        keep=settings.run_keep, timeout=settings.run_timeout or None,
                        counter=counter, out=sys.stdout.buffer, err=sys.stderr.buffer)
    if result.timed_out:
        click.echo(f"patchpack: timed out after {settings.run_timeout:g}s; the command's "
                   "process group was killed", err=True)
    if result.interrupted_by is not None:
        name = signal.Signals(result.interrupted_by).name
        click.echo(f"patchpack: interrupted ({name} passed to the command)", err=True)
    if result.tokens is not None:
        t = result.tokens
        click.echo(f"patchpack: run {result.run_id}: {result.lines:,} lines, printed "
                   f"{result.printed_lines:,}; tokens ({t.counter}): full output {t.full:,}, "
                   f"printed {t.printed:,}, not printed {t.not_printed:,}", err=True)
    ctx.exit(result.exit_code)


@cli.command(context_settings=_COMMAND_CONTEXT)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@_limit_options
@click.option("--shell", "script", metavar="SCRIPT", help="Run SCRIPT with `sh -c` instead.")
@click.option("--show", "show_id", metavar="ID",
              help="Print kept log ID (or `last`) through the same limits; runs nothing.")
@click.option("--at", metavar="START-END",
              help="With --show: print lines START to END of the log (END may be left out).")
@click.pass_context
def run(ctx: click.Context, command: tuple[str, ...], lines: int | None, head: int | None,
        max_line_chars: int | None, timeout: float | None, stats: bool, script: str | None,
        show_id: str | None, at: str | None) -> None:
    """Run COMMAND and print at most N lines of its output: its head and its tail.

    Lines go to the stream they came from, a marker says what was left out, and the full
    output is kept in .git/patchpack/runs/ (the newest patchpack.runKeep logs). When the
    command fails, failure lines (FAILED, Error, error:, Traceback, assert) from the left-out
    middle are printed in place of some tail lines. The exit status is the command's own:
    124 on timeout, 127 when it is not found, 128+N when killed by signal N, 130 on Ctrl-C.

    \b
    patchpack run -- make -j8
    patchpack run --lines 60 --timeout 600 -- pytest tests/
    patchpack run --shell 'ls | wc -l'
    patchpack run --show last --at 120-180
    """
    from patchpack import runlog, runner

    if sum([bool(command), script is not None, show_id is not None]) != 1:
        raise BadInput("give one of COMMAND, --shell SCRIPT and --show ID",
                       hint="e.g. `patchpack run -- pytest -q`")
    if at is not None and show_id is None:
        raise BadInput("--at goes with --show ID", hint="e.g. `patchpack run --show last --at 1-40`")
    repo = _repo_or_none()
    settings = _settings(repo, output_lines=lines, max_line_chars=max_line_chars,
                         run_timeout=timeout)
    if show_id is not None:
        directory = runlog.log_dir(repo.git_dir if repo is not None else None)
        limits = runner.Limits.make(lines=settings.output_lines, head=head,
                                    max_line_chars=settings.max_line_chars)
        runner.show(runlog.find(directory, show_id), show_id, limits=limits,
                    at=None if at is None else runlog.parse_range(at), out=sys.stdout.buffer)
        return
    argv = ["/bin/sh", "-c", script] if script is not None else list(command)
    _run_limited(ctx, argv, repo, settings, head, stats)


@cli.command("test", context_settings=_COMMAND_CONTEXT)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@_limit_options
@click.pass_context
def test_command(ctx: click.Context, args: tuple[str, ...], lines: int | None,
                 head: int | None, max_line_chars: int | None, timeout: float | None,
                 stats: bool) -> None:
    """Run the tests through the output limiter: `pytest -q --tb=short ARGS` by default.

    Your flags win over the defaults: --tb=long replaces --tb=short, -v drops -q.
    patchpack.testCommand sets another runner (e.g. `cargo test -q`). Options that
    patchpack run also has are patchpack's unless they come after a test argument or `--`.
    """
    from patchpack import runner

    repo = _repo_or_none()
    settings = _settings(repo, output_lines=lines, max_line_chars=max_line_chars,
                         run_timeout=timeout)
    argv = runner.argv_for_tests(settings.test_command, args)
    _run_limited(ctx, argv, repo, settings, head, stats)
