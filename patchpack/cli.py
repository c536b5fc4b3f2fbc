                          help="Most diff lines a micro-patch may have.")
_json = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _echo_added(added: Added) -> None:
    for patch in added.patches:
        click.echo(f"queued  {patch.lines:>4} lines  {patch.title}")
    queued = len(added.state.queued())
    click.echo(f"{queued} queued; see the next with `patchpack next`, "
               f"commit it with `patchpack apply`")


@cli.command()
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
    from patchpack import intake
    from patchpack.hunks import quote

    qg = _queue_git()
    name = getattr(diff_file, "name", "<stdin>")
    # Quoted as git shows names: one that is not UTF-8 cannot go into the commit message.
    source = "stdin" if name in ("<stdin>", "-") else quote(name)
    added = intake.add(qg, text=decode(diff_file.read()), source=source, title=title,
                       limits=_limits(qg, max_files, max_lines), split_big=split_big)
    _echo_added(added)


@cli.command()
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
    from patchpack import agents, queue

    qg = _queue_git()
    found = queue.next_patch(qg, queue.load(qg))
    click.echo(queue.next_json(found) if as_json else queue.render_next(found))
    settings = _settings(qg.repo)
    if agents.cadence(qg.repo, settings).reminder_due:
        click.echo(agents.reminder(settings), err=True)
    _budget_line(qg.repo, settings)


@cli.command()
@click.option("-n", "count", type=click.IntRange(min=1), default=None,
              help="Apply the next N patches (default 1).")
@click.option("--all", "all_", is_flag=True, help="Apply every queued patch, stopping at the "
              "first failure with everything before it committed.")
@click.option("--no-verify", is_flag=True, help="Skip the pre-commit and commit-msg hooks.")
@_over_budget_option
@click.pass_context
def apply(ctx: click.Context, count: int | None, all_: bool, no_verify: bool,
          over_budget: bool) -> None:
    """Commit the next queued micro-patch, its commit hooks run as `git commit` runs them.

    When HEAD moved since the patch was made it is replayed with a 3-way merge. On a conflict
    or a rejecting hook nothing changes and the exit code is 1.
    """
    from patchpack import apply as applying
    from patchpack import workflow

    if all_ and count is not None:
        raise BadInput("give -n N or --all, not both")
    qg = _queue_git()
    settings = _settings(qg.repo)
    applied = workflow.apply(qg, settings, count=None if all_ else (count or 1),
                             verify=not no_verify, over_budget=over_budget)
    result = applied.result
    click.echo(applying.render(result))
    if applied.reminder:
        click.echo(applied.reminder, err=True)
    _budget_line(qg.repo, settings)
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
                     help="Count tokens of the printed and the full output (estimated beyond "
                          "2 MB); print on stderr."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run_limited(ctx: click.Context, argv: list[str], repo: Repo | None, settings: Settings,
                 head: int | None, stats: bool) -> None:
    import signal

    from patchpack import workflow

    sys.stdout.flush()
    result = workflow.run(argv, repo, settings, head=head, stats=stats,
                          out=sys.stdout.buffer, err=sys.stderr.buffer)
    if result.reader_gone:
        # Quiet, as a writer a pipe stopped: what is left in stdout's buffer goes nowhere
        # (flushing it at exit would print a BrokenPipeError and exit 120).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        ctx.exit(result.exit_code)
    if result.timed_out:
        click.echo(f"patchpack: timed out after {settings.run_timeout:g}s; the command's "
                   "process group was killed", err=True)
    if result.interrupted_by is not None:
        name = signal.Signals(result.interrupted_by).name
        click.echo(f"patchpack: interrupted ({name} passed to the command)", err=True)
    if stats and result.tokens is not None:
        t = result.tokens
        about = "~" if t.estimated else ""  # the part not printed was estimated from a sample
        click.echo(f"patchpack: run {result.run_id}: {result.lines:,} lines, printed "
                   f"{result.printed_lines:,}; tokens ({t.counter}): full output "
                   f"{about}{t.full:,}, printed {t.printed:,}, not printed {about}"
                   f"{t.not_printed:,}" + (" (estimated: the output not printed, from a sample "
                                           "of it)" if t.estimated else ""), err=True)
    if result.tokens_error is not None:
        problem = result.tokens_error
        click.echo(f"patchpack: warning: run {result.run_id} has no token figures: "
                   f"{problem.message}" + (f"\nhint: {problem.hint}" if problem.hint else ""),
                   err=True)
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
