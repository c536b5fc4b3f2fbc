"""`run` and `test`: commands with capped output and kept logs."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

from patchpack.cli.common import (
    load_settings,
    repo_or_none,
)
from patchpack.config import Settings
from patchpack.errors import BadInput
from patchpack.git import Repo

# -- run and test: the output limiter ---------------------------------------------------------

# `patchpack run pytest -x`: everything from the command on is the command's, not ours.
# No short options: `patchpack test -n 4` must reach pytest-xdist.
_COMMAND_CONTEXT = {"ignore_unknown_options": True, "allow_interspersed_args": False}


def _limit_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--lines",
            type=click.IntRange(min=1),
            help="Most lines to print (default patchpack.outputLines, 200).",
        ),
        click.option(
            "--head",
            type=click.IntRange(min=0),
            help="Of which the first lines of the output (default a quarter).",
        ),
        click.option(
            "--max-line-chars",
            type=click.IntRange(min=1),
            help="Cut longer lines, with a marker (default 400).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="Kill the command's process group; exit 124.",
        ),
        click.option(
            "--stats",
            is_flag=True,
            help="Count tokens of the printed and the full output (estimated beyond 2 MB); print on stderr.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run_limited(
    ctx: click.Context, argv: list[str], repo: Repo | None, settings: Settings, head: int | None, stats: bool
) -> None:
    import signal

    from patchpack.agents import workflow

    sys.stdout.flush()
    result = workflow.run(
        argv, repo, settings, head=head, stats=stats, out=sys.stdout.buffer, err=sys.stderr.buffer
    )
    if result.reader_gone:
        # Quiet, as a writer a pipe stopped: what is left in stdout's buffer goes nowhere
        # (flushing it at exit would print a BrokenPipeError and exit 120).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        ctx.exit(result.exit_code)
    if result.timed_out:
        click.echo(
            f"patchpack: timed out after {settings.run_timeout:g}s; the command's process group was killed",
            err=True,
        )
    if result.interrupted_by is not None:
        name = signal.Signals(result.interrupted_by).name
        click.echo(f"patchpack: interrupted ({name} passed to the command)", err=True)
    if stats and result.tokens is not None:
        t = result.tokens
        about = "~" if t.estimated else ""  # the part not printed was estimated from a sample
        click.echo(
            f"patchpack: run {result.run_id}: {result.lines:,} lines, printed "
            f"{result.printed_lines:,}; tokens ({t.counter}): full output "
            f"{about}{t.full:,}, printed {t.printed:,}, not printed {about}"
            f"{t.not_printed:,}"
            + (" (estimated: the output not printed, from a sample of it)" if t.estimated else ""),
            err=True,
        )
    if result.tokens_error is not None:
        problem = result.tokens_error
        click.echo(
            f"patchpack: warning: run {result.run_id} has no token figures: "
            f"{problem.message}" + (f"\nhint: {problem.hint}" if problem.hint else ""),
            err=True,
        )
    ctx.exit(result.exit_code)


@click.command(context_settings=_COMMAND_CONTEXT)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@_limit_options
@click.option("--shell", "script", metavar="SCRIPT", help="Run SCRIPT with `sh -c` instead.")
@click.option(
    "--show",
    "show_id",
    metavar="ID",
    help="Print kept log ID (or `last`) through the same limits; runs nothing.",
)
@click.option(
    "--at",
    metavar="START-END",
    help="With --show: print lines START to END of the log (END may be left out).",
)
@click.pass_context
def run(
    ctx: click.Context,
    command: tuple[str, ...],
    lines: int | None,
    head: int | None,
    max_line_chars: int | None,
    timeout: float | None,
    stats: bool,
    script: str | None,
    show_id: str | None,
    at: str | None,
) -> None:
    """Run COMMAND and print at most N lines of its output: its head and its tail.

    Lines go to the stream they came from, a marker says what was left out, and the full
    output is kept in .git/patchpack/runs/ (the newest patchpack.runKeep logs, each within
    patchpack.runLogMax bytes, all within patchpack.runDirMax). When the command fails,
    failure lines (FAILED, Error, error:, Traceback, assert) from the left-out middle are
    printed in place of some tail lines. The exit status is the command's own: 124 on
    timeout, 127 when it is not found, 128+N when killed by signal N, 130 on Ctrl-C, 141
    when the reader of patchpack's output goes away (`| head`: the command is stopped).

    \b
    patchpack run -- make -j8
    patchpack run --lines 60 --timeout 600 -- pytest tests/
    patchpack run --shell 'ls | wc -l'
    patchpack run --show last --at 120-180
    """
    from patchpack.output import limiter, runlog, runner

    if sum([bool(command), script is not None, show_id is not None]) != 1:
        raise BadInput(
            "give one of COMMAND, --shell SCRIPT and --show ID", hint="e.g. `patchpack run -- pytest -q`"
        )
    if at is not None and show_id is None:
        raise BadInput("--at goes with --show ID", hint="e.g. `patchpack run --show last --at 1-40`")
    repo = repo_or_none()
    settings = load_settings(repo, output_lines=lines, max_line_chars=max_line_chars, run_timeout=timeout)
    if show_id is not None:
        directory = runlog.log_dir(repo.git_dir if repo is not None else None)
        limits = limiter.Limits.make(
            lines=settings.output_lines, head=head, max_line_chars=settings.max_line_chars
        )
        runner.show(
            runlog.find(directory, show_id),
            show_id,
            limits=limits,
            at=None if at is None else runlog.parse_range(at),
            out=sys.stdout.buffer,
        )
        return
    argv = ["/bin/sh", "-c", script] if script is not None else list(command)
    _run_limited(ctx, argv, repo, settings, head, stats)


@click.command("test", context_settings=_COMMAND_CONTEXT)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@_limit_options
@click.pass_context
def test_command(
    ctx: click.Context,
    args: tuple[str, ...],
    lines: int | None,
    head: int | None,
    max_line_chars: int | None,
    timeout: float | None,
    stats: bool,
) -> None:
    """Run the tests through the output limiter: `pytest -q --tb=short ARGS` by default.

    Your flags win over the defaults: --tb=long replaces --tb=short, -v drops -q.
    patchpack.testCommand sets another runner (e.g. `cargo test -q`). Options that
    patchpack run also has are patchpack's unless they come after a test argument or `--`.
    """
    from patchpack.output import runner

    repo = repo_or_none()
    settings = load_settings(repo, output_lines=lines, max_line_chars=max_line_chars, run_timeout=timeout)
    argv = runner.argv_for_tests(settings.test_command or runner.DEFAULT_TEST_COMMAND, args)
    _run_limited(ctx, argv, repo, settings, head, stats)
