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
    argv = runner.argv_for_tests(settings.test_command or runner.DEFAULT_TEST_COMMAND, args)
    _run_limited(ctx, argv, repo, settings, head, stats)


# -- status -----------------------------------------------------------------------------------


@cli.command()
@click.option("--tracked-only", is_flag=True, help="Leave untracked files out of the measure.")
@_json
def status(tracked_only: bool, as_json: bool) -> None:
    """Where you stand: branch, queue position and next patch, uncommitted size against the
    limits, pending and today's spend, and the truncation cadence."""
    from patchpack import status as stating

    repo = Repo.discover()
    found = stating.read(repo, _settings(repo), untracked=not tracked_only)
    click.echo(stating.render_json(found) if as_json else stating.render_text(found))
