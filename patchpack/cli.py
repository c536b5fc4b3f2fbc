"""The command line: parse options, call the core, print, exit. Nothing else lives here."""

from __future__ import annotations

import io
import os
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from patchpack import __version__
from patchpack.config import Settings
from patchpack.errors import EXIT_BUG, EXIT_FAILED, EXIT_INTERRUPTED, BadInput, NotARepository, PatchpackError
from patchpack.git import QueueGit, Repo, decode, global_config_get


class _Group(click.Group):
    """Turns a PatchpackError into its message on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        # A title or a name may hold bytes that are not UTF-8 (kept by surrogateescape):
        # they go out as those bytes, as git prints them, not as an encoding error.
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(errors="surrogateescape")
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


_over_budget_option = click.option(
    "--over-budget", is_flag=True,
    help="Go on although the daily or per-agent token budget is used up.")


def _budget_line(repo: Repo, settings: Settings, *, context_tokens: int | None = None) -> None:
    """The budget guard: one line on stderr when any budget is over 70%."""
    from patchpack import agents

    line = agents.budget_line(agents.spend(repo, settings, context_tokens=context_tokens),
                              counter=settings.tokenizer)
    if line:
        click.echo(line, err=True)


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

    if sum([staged, rev_range is not None, diff_file is not None]) > 1:
        raise BadInput("give only one of --staged, REV_RANGE and --diff")
    repo = Repo.discover() if diff_file is None else _repo_or_none()
    settings = _settings(repo, max_files=max_files, max_lines=max_lines)
    limits = Limits(settings.max_files, settings.max_lines)
    if diff_file is not None:
        results = checking.diff_text(_read_input(diff_file), diff_file, limits)
    else:
        assert repo is not None  # discovered above: only --diff may go without one
        results = (checking.revision_range(repo, rev_range, limits) if rev_range is not None
                   else checking.staged(repo, limits))
    click.echo(checking.render_json(results) if as_json else checking.render_text(results))
    if not checking.all_ok(results):
        click.echo(checking.next_step(results, staged_change=rev_range is None
                                      and diff_file is None), err=True)
        ctx.exit(EXIT_FAILED)


# -- init -------------------------------------------------------------------------------------


@cli.command()
@click.option("--uninstall", is_flag=True, help="Remove patchpack's hooks, and only those.")
@click.option("--show-notes", is_flag=True,
              help="Also make plain `git log` show the token ledger (notes.displayRef).")
def init(uninstall: bool, show_notes: bool) -> None:
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
    if show_notes and not uninstall:
        hooks.show_notes(repo)
        click.echo(f"notes.displayRef includes {hooks.NOTES_REF}: `git log` shows the ledger")


# -- demo -------------------------------------------------------------------------------------


@cli.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="Build the demo repository here instead of a temporary directory.")
def demo(directory: str | None) -> None:
    """Play the whole loop on a throw-away repository: an agent's 5-file change checked, split,
    applied through the hooks, and its spend in the ledger (no network, a few seconds)."""
    from patchpack import demo as demo_module

    demo_module.run(directory, echo=click.echo)


# -- ledger -----------------------------------------------------------------------------------


@cli.command()
@click.option("--in", "tokens_in", type=click.IntRange(min=0), required=True, metavar="N",
              help="Input (prompt) tokens spent.")
@click.option("--out", "tokens_out", type=click.IntRange(min=0), required=True, metavar="M",
              help="Output (completion) tokens spent.")
@click.option("--model", help="The model that spent them.")
@click.option("--agent", help="The agent that spent them (per-agent budgets use this name).")
@click.option("--session", help="The agent session they belong to.")
@click.option("--requests", type=click.IntRange(min=0), default=1, show_default=True,
              metavar="K",
              help="Requests these tokens took (per-minute request limit).")
@click.option("--kind", default="request", show_default=True, help="What the spend was.")
@click.option("--counter", default="usage", show_default=True,
              help="What made the figures: `usage` as billed by the provider, or a tokenizer.")
def record(tokens_in: int, tokens_out: int, model: str | None, agent: str | None,
           session: str | None, requests: int, kind: str, counter: str) -> None:
    """Record tokens spent; they join the ledger note of the next commit."""
    from patchpack import ledger

    entry = ledger.add_pending(Repo.discover(), kind=kind, tokens_in=tokens_in,
                               tokens_out=tokens_out, counter=counter, model=model, agent=agent,
                               session=session, requests=requests)
    click.echo(f"pending {entry.id}: {entry.tokens_in:,} in, {entry.tokens_out:,} out "
               f"({entry.counter}); it joins the note of the next commit")


@cli.group(name="ledger")
def ledger_group() -> None:
    """The token ledger in git notes (refs/notes/patchpack)."""


@ledger_group.command()
@click.argument("rev", default="HEAD")
@click.option("--from", "old", metavar="OLD",
              help="Copy OLD's entries instead: OLD was rewritten into REV in a way notes do "
                   "not follow (cherry-pick, reset --soft and commit).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing (for the post-commit hook).")
def attach(rev: str, old: str | None, quiet: bool) -> None:
    """Move the pending entries into the note of REV (default HEAD), appending to it."""
    from patchpack import ledger

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
        click.echo(f"attached {len(entries)} entries ({tokens:,} tokens) to {oid[:12]}"
                   if entries else "nothing to attach")


@cli.command()
@click.argument("rev_range", required=False)
@click.option("--since", metavar="DATE",
              help="Only entries from DATE on: 2026-11-24, 2026-11-24T10:00, today, 3d, 12h.")
@click.option("--by", type=click.Choice(["commit", "day", "agent", "model", "kind"]),
              default="day", show_default=True, help="Group the totals by this.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--check", is_flag=True, help="Exit 1 when a budget is exhausted.")
@click.option("--daily-budget", type=click.IntRange(min=0), metavar="N",
              help="Tokens per UTC day (patchpack.dailyBudget).")
@click.pass_context
def budget(ctx: click.Context, rev_range: str | None, since: str | None, by: str,
           as_json: bool, check: bool, daily_budget: int | None) -> None:
    """Tokens spent per group, and today's spend against the limits.

    With REV_RANGE (A..B, or one revision and its history) only the notes of those commits
    are totalled; the limits always weigh all spend, pending included.
    """
    from patchpack import budget as budgeting

    repo = Repo.discover()
    report = budgeting.for_repo(repo, settings=_settings(repo, daily_budget=daily_budget),
                                by=by, since=since, rev_range=rev_range)
    click.echo(budgeting.render_json(report) if as_json else budgeting.render_text(report))
    for line in budgeting.problems(report):
        click.echo(line, err=True)
    if check and report.exhausted:
        click.echo("hint: wait for the window to pass (a minute, or UTC midnight), or raise "
                   "the limit, e.g. `git config patchpack.dailyBudget N`", err=True)
        ctx.exit(EXIT_FAILED)


@cli.command()
@click.argument("remote", required=False)
@click.option("--configure", is_flag=True,
              help="Also add a fetch refspec so plain `git fetch REMOTE` brings the ledger.")
def sync(remote: str | None, configure: bool) -> None:
    """Share the ledger: fetch REMOTE's notes, merge them (cat_sort_uniq), push the union.

    REMOTE defaults to the branch's remote, else origin. Never forces a push.
    """
    from patchpack import ledger

    done = ledger.sync(Repo.discover(), remote, configure=configure)
    click.echo(f"{done.remote}: " + ", ".join([
        "merged its entries into ours" if done.merged else "nothing new from it",
        "pushed ours" if done.pushed else "nothing new to push",
    ]))
    if configure:
        click.echo(f"`git fetch {done.remote}` now brings the ledger to "
                   f"{ledger.tracking_ref(done.remote)}")


# -- agent workflow ---------------------------------------------------------------------------

if TYPE_CHECKING:
    from pathlib import Path

    from patchpack.agents import Integration
    from patchpack.diffs import Limits
    from patchpack.intake import Added


@cli.command()
@click.option("--limit-all", is_flag=True,
              help="Send every other shell command through `patchpack run` too.")
@click.pass_context
def guard(ctx: click.Context, limit_all: bool) -> None:
    """Answer an agent's PreToolUse hook: the event as JSON on stdin.

    Refuses an edit that would take the uncommitted change over the micro-patch limits and a
    whole-file read over max-file-lines; sends test runs through `patchpack test`. Unknown
    events and tools pass; malformed input passes with a note on stderr (exit 0).
    """
    from patchpack import guard as guarding

    result = guarding.answer(decode(sys.stdin.buffer.read()), limit_all=limit_all)
    if result.stdout:
        click.echo(result.stdout)
    if result.stderr:
        click.echo(result.stderr, err=True)
    ctx.exit(result.exit_code)


@cli.command()
def prompt() -> None:
    """Print the token-economy instructions for an agent, with the configured numbers."""
    from patchpack import agents

    click.echo(agents.prompt(_settings(_repo_or_none())), nl=False)


@cli.group()
def integrate() -> None:
    """Set up an agent to follow the patchpack workflow."""


@integrate.command("code-puppy")
@click.option("--global", "global_", is_flag=True,
              help="Write to the user's agents directory (~/.code_puppy/agents, or "
                   "$XDG_DATA_HOME/code_puppy/agents) instead of the project's.")
@click.option("--model", help="Pin the agent to this model.")
@click.option("--dry-run", is_flag=True, help="Print what would be written; write nothing.")
@click.option("--mcp", "with_mcp", is_flag=True,
              help="Also register `patchpack mcp` in the user's mcp_servers.json (in "
                   "~/.code_puppy, or $XDG_CONFIG_HOME/code_puppy) and bind it to the agent.")
@click.option("--plugin", is_flag=True,
              help="Also install patchpack's plugin as a user plugin (~/.code_puppy/plugins), "
                   "for a Code Puppy installed outside this Python environment.")
def integrate_code_puppy(global_: bool, model: str | None, dry_run: bool,
                         with_mcp: bool, plugin: bool) -> None:
    """Write a Code Puppy agent (pack-leader-token-efficient) whose prompt is `patchpack prompt`."""
    import pathlib

    from patchpack import agents

    repo = _repo_or_none()
    home, env = pathlib.Path.home(), dict(os.environ)
    path = agents.code_puppy_path(root=_project_root(repo), home=home, global_=global_, env=env)
    if with_mcp:
        _report(agents.register_mcp(agents.code_puppy_mcp_path(home=home, env=env),
                                    keys=agents.CODE_PUPPY_MCP_KEYS, dry_run=dry_run),
                dry_run=dry_run)
    if plugin:  # the plugin enforces the rules: the profile's prompt is the workflow only
        from patchpack.puppy_plugin import install, profile

        _report(install.install(home, dry_run=dry_run), dry_run=dry_run)
        written = install.write_agent(path.with_name(f"{profile.NAME}.json"),
                                      profile.agent(_settings(repo), model=model), dry_run=dry_run)
    else:
        written = agents.integrate_code_puppy(path, _settings(repo), model=model,
                                              dry_run=dry_run, mcp=with_mcp)
    _report(written, dry_run=dry_run)
    if not dry_run:
        _steps(agents.code_puppy_steps(_project_root(repo), global_=global_,
                                       land=agents.to_land(repo, [written]),
                                       agent=written.path.stem))


@integrate.command("claude-code")
@click.option("--limit-all", is_flag=True,
              help="Have the guard send every shell command through `patchpack run`.")
@click.option("--dry-run", is_flag=True, help="Print what would be written; write nothing.")
@click.option("--mcp", "with_mcp", is_flag=True,
              help="Also register `patchpack mcp` in the project's .mcp.json.")
def integrate_claude_code(limit_all: bool, dry_run: bool, with_mcp: bool) -> None:
    """Add the `patchpack guard` PreToolUse hook to .claude/settings.json, keeping what is there."""
    from patchpack import agents

    repo = _repo_or_none()
    root = _project_root(repo)
    written = []
    if with_mcp:
        written.append(agents.register_mcp(root / ".mcp.json", keys=agents.CLAUDE_MCP_KEYS,
                                           dry_run=dry_run))
        _report(written[-1], dry_run=dry_run)
    written.append(agents.integrate_claude_code(root / ".claude" / "settings.json",
                                                limit_all=limit_all, dry_run=dry_run))
    _report(written[-1], dry_run=dry_run)
    if not dry_run:
        _steps(agents.claude_code_steps(root, mcp=with_mcp,
                                        land=agents.to_land(repo, written)))


def _project_root(repo: Repo | None) -> Path:
    import pathlib

    return repo.workdir if repo is not None and repo.workdir is not None else pathlib.Path.cwd()


def _steps(steps: list[str]) -> None:
    click.echo("next steps:")
    for n, step in enumerate(steps, 1):
        click.echo(f"  {n}. {step}")


def _report(result: Integration, *, dry_run: bool) -> None:
    verb = "would write" if dry_run else "wrote"
    if not result.changed:
        verb = "unchanged"
    click.echo(f"{verb} {result.path}")
    click.echo(result.text, nl=False)


# -- context ----------------------------------------------------------------------------------


@cli.command()
@click.argument("files", nargs=-1, type=click.File("rb"))
@click.option("-v", "--verbose", is_flag=True, help="Print a count per file, then the total.")
@click.option("--tokenizer", metavar="NAME",
              help="cl100k_base (default, offline), another tiktoken encoding, or chars:N.")
def tokens(files: tuple[BinaryIO, ...], verbose: bool, tokenizer: str | None) -> None:
    """Count the tokens of FILES (standard input when none or -)."""
    from patchpack.tokens import count_text, get_counter

    counter = get_counter(_settings(_repo_or_none(), tokenizer=tokenizer).tokenizer)
    sources = files or (click.File("rb")("-"),)
    total = 0
    for source in sources:
        n = count_text(source.read(), counter)
        total += n
        if verbose:
            click.echo(f"{n:>8}  {source.name}")
    click.echo(f"{total:>8}  total ({counter.name})" if verbose
               else f"{total} tokens ({counter.name})")


@cli.command()
@click.option("--base", metavar="REV", help="Diff the work against REV (default HEAD).")
@click.option("--cached", is_flag=True, help="Only the staged change.")
@click.option("--worktree", is_flag=True, help="Only the unstaged change (work tree vs index).")
@click.option("--tracked-only", is_flag=True,
              help="Leave untracked files out of the diff (by default they show as new files).")
@click.option("-W", "--function-context", is_flag=True,
              help="Widen each diff hunk to its enclosing function or class.")
@click.option("--grep", "greps", multiple=True, metavar="PATTERN",
              help="Add the code around each match of this regex (git grep -E) in tracked "
                   "files, widened to its function or block. Repeatable.")
@click.option("--path", "paths", multiple=True, metavar="GLOB",
              help="Limit --grep to these pathspecs (e.g. '*.py', src/). Repeatable.")
@click.option("--at", "ats", multiple=True, metavar="FILE[:START-END|:SYMBOL]",
              help="Add these lines of FILE, or a Python def/class. Repeatable.")
@click.option("--budget", type=click.IntRange(min=0), help="Most tokens (default 50000).")
@click.option("--max-file-lines", type=click.IntRange(min=1),
              help="Refuse whole files longer than this (default 200).")
@click.option("--max-hunk-lines", type=click.IntRange(min=1),
              help="Cut located blocks to this many lines (default 80).")
@click.option("--related/--no-related", default=None,
              help="With --grep, add each located Python file's imports and the module-level "
                   "definitions the located code uses, dropped first (default on).")
@click.option("--fill/--no-fill", default=None,
              help="With --grep, spend what the budget leaves on the code around the located "
                   "hunks: headers, file ends, the last test of their test files, module "
                   "level, the rest of their blocks, their classes, call trees, then "
                   "neighbours (default off).")
@click.option("--tokenizer", metavar="NAME", help="The token counter (default cl100k_base).")
@click.option("--json", "as_json", is_flag=True, help="Print sections, ranges and counts as JSON.")
@_over_budget_option
@click.pass_context
def context(ctx: click.Context, base: str | None, cached: bool, worktree: bool,
            tracked_only: bool, function_context: bool, greps: tuple[str, ...], paths: tuple[str, ...],
            ats: tuple[str, ...], budget: int | None, max_file_lines: int | None,
            max_hunk_lines: int | None, related: bool | None, fill: bool | None,
            tokenizer: str | None,
            as_json: bool, over_budget: bool) -> None:
    """Print the context an agent needs: the work diff and located code, within a token budget.

    Sections by priority: the diff against --base (staged and unstaged), the blocks around
    --grep matches, the --at ranges, then what the located Python code uses from its file
    (--related). What does not fit is listed at the end with the command that asks for it.
    """
    from patchpack import context as packing
    from patchpack import workflow
    from patchpack.tokens import get_counter

    if cached and worktree:
        raise BadInput("give only one of --cached and --worktree")
    repo = Repo.discover()
    settings = _settings(repo, context_budget=budget, max_file_lines=max_file_lines,
                         max_hunk_lines=max_hunk_lines, context_related=related,
                         context_fill=fill, tokenizer=tokenizer)
    counter = get_counter(settings.tokenizer)
    request = packing.Request(
        base=base, side="cached" if cached else "worktree" if worktree else "both",
        function_context=function_context, greps=greps, paths=paths, ats=ats,
        budget=settings.context_budget, max_file_lines=settings.max_file_lines,
        max_hunk_lines=settings.max_hunk_lines, related=settings.context_related,
        fill=settings.context_fill, untracked=not tracked_only,
    )
    pack = workflow.context(repo, settings, request, counter, over_budget=over_budget)
    if as_json:
        click.echo(pack.as_json())
    elif pack.text:
        click.echo(pack.text, nl=False)
    for line in [*pack.notes, *pack.warnings()]:
        click.echo(f"patchpack: {line}", err=True)
    click.echo(f"patchpack: context {pack.tokens} tokens ({pack.counter}) of budget "
               f"{pack.budget}", err=True)
    # A filled pack is near its budget on purpose: no advice to narrow it.
    _budget_line(repo, settings, context_tokens=None if pack.filled else pack.tokens)
    if pack.unmatched:
        click.echo("patchpack: no match in tracked files for --grep "
                   + ", ".join(repr(u) for u in pack.unmatched), err=True)
        click.echo("hint: check the pattern with `git grep -n -E PATTERN`, or widen --path",
                   err=True)
        ctx.exit(EXIT_FAILED)


# -- mcp --------------------------------------------------------------------------------------


@cli.command()
@click.option("--repo", "repo_path", type=click.Path(exists=True, file_okay=False),
              help="The repository to serve (default: the current directory's).")
def mcp(repo_path: str | None) -> None:
    """Serve patchpack's tools over MCP on stdin/stdout (needs `pip install patchpack[mcp]`)."""
    try:
        from patchpack import mcp_server
    except ImportError as e:
        raise BadInput(f"the MCP server needs the `mcp` package ({e.name} is missing)",
                       hint="pip install 'patchpack[mcp]'") from None
    Repo.discover(repo_path or ".")  # fail early, with exit 2, outside a repository
    mcp_server.serve(repo_path)


# -- the micro-patch queue --------------------------------------------------------------------


def _queue_git() -> QueueGit:
    return QueueGit(Repo.discover())


def _limits(qg: QueueGit, max_files: int | None, max_lines: int | None) -> Limits:
    from patchpack.diffs import Limits

    settings = _settings(qg.repo, max_files=max_files, max_lines=max_lines)
    return Limits(settings.max_files, settings.max_lines)


_max_files = click.option("--max-files", type=click.IntRange(min=1),
                          help="Most files a micro-patch may touch.")
_max_lines = click.option("--max-lines", type=click.IntRange(min=1),
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
