"""The commands an agent loops over, with their accounting: the budget refusal before,
the ledger entries and the cadence after. The CLI and the MCP server both call these, so
an agent gets the same discipline whichever door it comes through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from patchpack.config import Settings
from patchpack.errors import PatchpackError
from patchpack.git import Oid, Repo
from patchpack.ledger import store as ledger
from patchpack.output import limiter, runlog, runner
from patchpack.tokens import Counter, get_counter

if TYPE_CHECKING:  # imported where used: `run` loads none of them (its memory is counted)
    from patchpack.context import parts
    from patchpack.queue import apply as applying


@dataclass(frozen=True)
class Applied:
    result: applying.Result
    reminder: str | None
    """The truncation reminder when this apply completed an iteration that is due one."""


def apply(repo: Repo, settings: Settings, *, count: int | None, verify: bool, over_budget: bool) -> Applied:
    """Apply queued micro-patches; each commit's note gets the pending spend and the patch's
    own entry (the tokens of its text). Refused when a daily or agent budget is used up."""
    from patchpack.agents import loop as agents
    from patchpack.queue import apply as applying

    agents.refuse_when_exhausted(agents.spend(repo, settings), over_budget=over_budget)

    bound: list[Oid] = []

    def bind(done: applying.Applied) -> None:
        # Kept for its commit at once (an interrupted series loses no entry), attached below.
        assert done.commit is not None
        ledger.bind(
            repo, done.commit, [ledger.new_entry(kind="apply", tokens_in=done.tokens, counter=done.counter)]
        )
        bound.append(done.commit)

    try:
        result = applying.apply(
            repo, count=count, verify=verify, counter_spec=settings.tokenizer, on_commit=bind
        )
    except PatchpackError:
        ledger.unbind(repo, bound)  # its commit was taken back: HEAD is where it was
        raise
    # A commit taken back after its hook ran (the queue moved under it) has no entry either.
    ledger.unbind(repo, set(bound) - {a.commit for a in result.commits})
    # What was pending joins the first commit's note (the post-commit hook, when installed,
    # already moved it), and every commit gets its own entry: one move of the notes ref.
    if result.commits:
        first = result.commits[0].commit
        assert first is not None
        ledger.attach_pending(repo, first)
    reminder = agents.count_iteration(repo, settings) if result.commits else None
    return Applied(result, reminder)


def context(
    repo: Repo, settings: Settings, request: parts.Request, counter: Counter, *, over_budget: bool
) -> parts.Pack:
    """Build a context pack and record its size in the ledger's pending spool. Refused when a
    daily or agent budget is used up."""
    from patchpack.agents import loop as agents
    from patchpack.context import pack as packing

    agents.refuse_when_exhausted(agents.spend(repo, settings), over_budget=over_budget)
    pack = packing.build(repo, request, counter)
    entry = ledger.add_pending(repo, kind="context", tokens_in=pack.tokens, counter=pack.counter)
    from patchpack.ledger import gain

    # What the agent would have read instead, the whole files, for `gain` (#17).
    gain.keep_pack_views(repo, entry, gain.work_files(repo, (p.path for p in pack.parts)), pack.text, counter)
    return pack


def run(
    argv: Sequence[str],
    repo: Repo | None,
    settings: Settings,
    *,
    head: int | None,
    stats: bool,
    out: BinaryIO,
    err: BinaryIO,
    stdin: int | None = None,
) -> limiter.RunResult:
    """Run a command through the output limiter; once the repository keeps a ledger, record
    the tokens printed and those kept out of the context."""
    # Counting costs a tokenizer (~40 MB, 0.1 s), loaded by the runner only once the command
    # has ended: only when asked for, or when there is a ledger for the figures to go to.
    record = repo is not None and ledger.in_use(repo)
    result = runner.run(
        argv,
        limits=limiter.Limits.make(
            lines=settings.output_lines, head=head, max_line_chars=settings.max_line_chars
        ),
        log_dir=runlog.log_dir(repo.git_dir if repo is not None else None),
        keep=settings.run_keep,
        timeout=settings.run_timeout or None,
        counter=(lambda: get_counter(settings.tokenizer)) if stats or record else None,
        out=out,
        err=err,
        stdin=stdin,
        log_max=settings.run_log_max,
        dir_max=settings.run_dir_max,
    )
    if record and repo is not None and result.tokens is not None:
        t = result.tokens
        entry = ledger.add_pending(
            repo,
            kind="run",
            tokens_in=t.printed,
            saved=t.not_printed,
            estimated=t.estimated,
            counter=t.counter,
        )
        from patchpack.ledger import gain

        gain.keep_views(repo, entry, result.log, result.printed, get_counter(t.counter))
    return result
