"""`patchpack status`: where an agent stands, on one screen.

Everything here is read, nothing is written: the branch, the queue position and the next
patch, the uncommitted change against the micro-patch limits, the spend waiting for a commit,
today's spend against the daily budget, and the truncation cadence.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from patchpack.agents import loop as agents
from patchpack.agents.code_puppy import actions
from patchpack.config import Settings
from patchpack.git import Oid
from patchpack.git.plain import Plain, plain_uncommitted_diff
from patchpack.ledger import budget
from patchpack.ledger import store as ledger
from patchpack.limits import diffs
from patchpack.queue import store as queue
from patchpack.queue.store import Patch
from patchpack.text import counted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from patchpack.git import Repo  # the door: `status` reads through git/plain (#16)


class Status(NamedTuple):
    """One snapshot of a worktree's state, as `patchpack status` shows it."""

    branch: str | None
    """The checked-out branch; None on a detached HEAD."""
    head: Oid | None
    """None in a repository with no commits yet."""
    queue: str
    """The queue's name: the branch, or ``detached``."""
    done: int
    """Patches of the series applied (or skipped as already in HEAD)."""
    total: int
    next_position: int | None
    next_patch: Patch | None
    uncommitted: diffs.Verdict | None
    """The work tree against HEAD; None in a bare repository."""
    pending_entries: int
    pending_tokens: int
    today_tokens: int
    daily_budget: int
    cadence: agents.Cadence
    budget_line: str | None
    """The budget guard's line when any budget is over 70%, else None."""
    counter: str
    plugin: dict[str, int]
    """What the Code Puppy plugin did in this worktree, by kind (puppy_plugin.actions)."""
    routed: dict[str, int]
    """The models the plugin's router sent runs to, and how many each."""

    def as_dict(self) -> dict[str, Any]:
        nxt = self.next_patch
        return {
            "branch": self.branch,
            "detached": self.branch is None,
            "head": self.head,
            "queue": {
                "name": self.queue,
                "applied": self.done,
                "total": self.total,
                "next": None
                if nxt is None
                else {
                    "position": self.next_position,
                    "title": nxt.title,
                    "files": list(nxt.files),
                    "diff_lines": nxt.lines,
                },
            },
            "uncommitted": None
            if self.uncommitted is None
            else {key: value for key, value in self.uncommitted.as_dict().items() if key != "changes"},
            "pending": {"entries": self.pending_entries, "tokens": self.pending_tokens},
            "today": {"tokens": self.today_tokens, "daily_budget": self.daily_budget},
            "cadence": self.cadence.as_dict(),
            "budget_line": self.budget_line,
            "counter": self.counter,
            "plugin": self.plugin,
            "routed": self.routed,
        }


def read(repo: Repo | Plain, settings: Settings, *, untracked: bool = True) -> Status:
    """The status of the worktree ``repo`` was opened in; the uncommitted change counts
    untracked files that are not ignored unless not ``untracked``, as context packs show it."""
    state = queue.load(repo)
    position = state.next_position()
    verdict = None
    if repo.workdir is not None:
        if isinstance(repo, Plain):
            text = plain_uncommitted_diff(repo, untracked=untracked)
        else:
            from patchpack.git import uncommitted_diff

            text = uncommitted_diff(repo, untracked=untracked)
        verdict = diffs.Verdict(diffs.measure(text), diffs.Limits(settings.max_files, settings.max_lines))
    waiting, _ = ledger.pending(repo)
    # One read of the ledger serves both today's figure and the budget line.
    report = budget.for_repo(repo, settings=settings)
    spent = budget.figures(report)
    return Status(
        branch=repo.branch(),
        head=repo.head_oid(),
        queue=state.name,
        done=sum(p.state != "queued" for p in state.patches),
        total=len(state.patches),
        next_position=position,
        next_patch=state.patches[position - 1] if position is not None else None,
        uncommitted=verdict,
        pending_entries=len(waiting),
        pending_tokens=sum(e.tokens for e in waiting),
        today_tokens=spent["day_tokens"],
        daily_budget=settings.daily_budget,
        cadence=agents.cadence(repo, settings),
        budget_line=agents.line_for(repo, settings, budgets=agents.budgets(settings, **spent)),
        counter=settings.tokenizer,
        plugin=actions.counts(repo),
        routed=actions.routed(repo),
    )


def render_text(s: Status) -> str:
    """The one screen."""
    where = f"on {s.branch}" if s.branch else "HEAD detached"
    head = f" at {s.head[:12]}" if s.head else " (no commits yet)"
    out = [f"branch:      {where}{head}"]
    if s.total:
        out.append(f"queue:       {s.done}/{s.total} applied")
    else:
        out.append("queue:       empty")
    if s.next_patch is not None:
        p = s.next_patch
        out.append(
            f"next:        {s.next_position}/{s.total} {p.title} "
            f"({counted(len(p.files), 'file')}, {p.lines} diff lines)"
        )
    if s.uncommitted is None:
        out.append("uncommitted: none (bare repository)")
    else:
        v = s.uncommitted
        verdict = "ok" if v.ok else "OVER the limits"
        out.append(
            f"uncommitted: {v.measure.file_count}/{counted(v.limits.max_files, 'file')}, "
            f"{v.measure.lines}/{v.limits.max_lines} diff lines  {verdict}"
        )
    entries = "1 entry" if s.pending_entries == 1 else f"{s.pending_entries} entries"
    out.append(f"pending:     {s.pending_tokens:,} tokens in {entries} (join the next commit's note)")
    share = f" ({s.today_tokens / s.daily_budget:.0%})" if s.daily_budget else ""
    out.append(f"today:       {s.today_tokens:,}/{s.daily_budget:,} tokens{share}")
    out.append(f"cadence:     {_cadence(s.cadence)}")
    if s.plugin:
        out.append(f"plugin:      {actions.describe(s.plugin, s.routed)}")
    hint = _next_step(s)
    if hint:
        out.append(f"next step:   {hint}")
    if s.budget_line:
        out.append(s.budget_line)
    return "\n".join(out)


def render_json(s: Status) -> str:
    return json.dumps(s.as_dict(), indent=2)


def _cadence(c: agents.Cadence) -> str:
    done = "1 iteration" if c.iterations == 1 else f"{c.iterations} iterations"
    if c.until_reminder is None:
        return f"{done}; no truncation reminders"
    when = "at the next apply" if c.until_reminder == 1 else f"in {c.until_reminder} applies"
    return f"{done}; next truncation reminder {when}"


def _next_step(s: Status) -> str | None:
    if s.uncommitted is not None and not s.uncommitted.ok:
        return "`patchpack split && patchpack apply --all`"
    if s.next_patch is not None:
        return "`patchpack next`, then `patchpack apply`"
    return None
