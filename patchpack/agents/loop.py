"""What an agent is told and reminded: the truncation cadence, the budget line, the prompt.

**Iteration.** One successful `patchpack apply`: a command that committed at least one
micro-patch, however many (`apply --all` is one iteration). The cadence is about the length of
the agent's conversation, which grows by one tool call per command it runs, not by the number
of commits that command made. The counter lives in the git dir of the current worktree
(``<git dir>/patchpack/iterations``), so each worktree, and each agent working in one, keeps
its own count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from patchpack.config import Settings, git_key
from patchpack.errors import BadInput, Failed
from patchpack.git.files import write_atomically
from patchpack.text import counted

TYPE_CHECKING = False
if TYPE_CHECKING:  # the door: the quick path reads through git/plain (#16)
    from patchpack.git import Repo
    from patchpack.git.plain import Plain

ITERATIONS = Path("patchpack", "iterations")

# -- cadence ----------------------------------------------------------------------------------


class Cadence(NamedTuple):
    """How many iterations this worktree has seen, and when the next reminder comes."""

    iterations: int
    every: int
    """A reminder every this many iterations; 0 means never."""

    @property
    def until_reminder(self) -> int | None:
        """Iterations left until the next reminder (None when reminders are off)."""
        return self.every - self.iterations % self.every if self.every else None

    @property
    def reminder_due(self) -> bool:
        """The last iteration was a reminder's: `next` repeats it until the next `apply`."""
        return bool(self.every and self.iterations and self.iterations % self.every == 0)

    def as_dict(self) -> dict[str, int | bool | None]:
        return {
            "iterations": self.iterations,
            "every": self.every,
            "until_reminder": self.until_reminder,
            "reminder_due": self.reminder_due,
        }


def reminder(settings: Settings) -> str:
    """The reminder line, e.g. ``reminder: run /truncate 6 to keep the history short``."""
    try:
        command = settings.truncate_command.format(keep=settings.truncate_keep)
    except (KeyError, IndexError, ValueError) as e:
        raise BadInput(
            f"{git_key('truncate_command')}: cannot fill in {settings.truncate_command!r} ({e})",
            hint=f"use {{keep}} for the number, e.g. "
            f"`git config {git_key('truncate_command')} '/truncate {{keep}}'`",
        ) from None
    return f"reminder: run {command} to keep the history short"


def cadence(repo: Repo | Plain, settings: Settings) -> Cadence:
    """The cadence state of this worktree, for `patchpack status`."""
    return Cadence(_read_count(repo.git_dir / ITERATIONS), settings.truncate_every)


def count_iteration(repo: Repo, settings: Settings) -> str | None:
    """Record one iteration; return the reminder line when one is due, else None.

    Call it once per `apply` that committed something (see the module docstring).
    """
    line = reminder(settings)  # a bad truncateCommand fails before anything is written
    path = repo.git_dir / ITERATIONS
    count = _read_count(path) + 1
    write_atomically(path, f"{count}\n".encode())
    every = settings.truncate_every
    return line if every and count % every == 0 else None


def _read_count(path: Path) -> int:
    try:
        return max(0, int(path.read_text().strip() or 0))
    except FileNotFoundError:
        return 0
    except ValueError:
        return 0  # a damaged counter restarts; it paces reminders, it is not a record


# -- budget guard -----------------------------------------------------------------------------

WARN_AT = 0.70


class Budget(NamedTuple):
    """One budget and how much of it is used."""

    kind: str
    """``context``, ``daily``, ``minute`` or ``agent``."""
    name: str
    """How the line names it: ``context``, ``daily``, ``per-minute requests``, ``agent X``."""
    used: int
    limit: int
    unit: str = "tokens"
    reset_in: int | None = None
    """Seconds until the per-minute window has room again."""

    @property
    def share(self) -> float:
        return self.used / self.limit if self.limit > 0 else 0.0

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exhausted(self) -> bool:
        return self.limit > 0 and self.used >= self.limit


def budgets(
    settings: Settings,
    *,
    context_tokens: int | None = None,
    day_tokens: int | None = None,
    minute_tokens: int | None = None,
    minute_requests: int | None = None,
    minute_reset_in: int | None = None,
    agents: Mapping[str, tuple[int, int]] | None = None,
) -> list[Budget]:
    """The budgets of ``settings`` with the figures given (a figure left None is skipped).

    ``agents`` maps an agent's name to (tokens it used today, its daily budget).
    """
    out = []
    if context_tokens is not None:
        out.append(Budget("context", "context", context_tokens, settings.context_budget))
    if day_tokens is not None:
        out.append(Budget("daily", "daily", day_tokens, settings.daily_budget))
    if minute_tokens is not None:
        out.append(
            Budget("minute", "per-minute", minute_tokens, settings.minute_tokens, reset_in=minute_reset_in)
        )
    if minute_requests is not None:
        out.append(
            Budget(
                "minute",
                "per-minute requests",
                minute_requests,
                settings.minute_requests,
                unit="requests",
                reset_in=minute_reset_in,
            )
        )
    for name, (used, limit) in sorted((agents or {}).items()):
        out.append(Budget("agent", f"agent {name}", used, limit))
    return out


def spend(repo: Repo | Plain, settings: Settings, *, context_tokens: int | None = None) -> list[Budget]:
    """Every budget with what the ledger (notes and pending spool) says is spent on it."""
    from patchpack.ledger import budget

    report = budget.for_repo(repo, settings=settings)
    return budgets(settings, context_tokens=context_tokens, **budget.figures(report))


def budget_line(budgets: Iterable[Budget], *, counter: str, plugin: Callable[[], str] = str) -> str | None:
    """One line of budget state and what to do, when any budget is over 70%; else None.

    ``counter`` is the name of the token counter that made the figures; ``plugin`` says what
    the Code Puppy plugin did (its waits, stops, routed runs), asked only when the line is due.
    """
    hot = sorted(
        (b for b in budgets if b.limit > 0 and b.share > WARN_AT), key=lambda b: b.share, reverse=True
    )
    if not hot:
        return None
    parts = [f"{b.name} {b.used:,}/{b.limit:,} {b.unit} ({b.share:.0%}, {b.left:,} left)" for b in hot]
    did = plugin()
    return (
        f"budget: {'; '.join(parts)} [{counter}]; {f'plugin: {did}; ' if did else ''}next: {_action(hot[0])}"
    )


def line_for(
    repo: Repo | Plain,
    settings: Settings,
    *,
    context_tokens: int | None = None,
    budgets: Iterable[Budget] | None = None,
) -> str | None:
    """``repo``'s budget line: :func:`budget_line` over :func:`spend` (or ``budgets``), with
    the plugin's actions in its worktree."""
    from patchpack.agents.code_puppy import actions

    return budget_line(
        spend(repo, settings, context_tokens=context_tokens) if budgets is None else budgets,
        counter=settings.tokenizer,
        plugin=lambda: actions.describe(actions.counts(repo), actions.routed(repo)),
    )


def _action(worst: Budget) -> str:
    if worst.kind == "minute":
        return f"wait {worst.reset_in if worst.reset_in is not None else 60} s for the per-minute window"
    if worst.kind == "context":
        return "narrow the request (`patchpack context --grep`/`--at`, a smaller --budget) or /compact"
    if worst.exhausted:
        return "stop: land what you have (`patchpack apply --all`) and report; `--over-budget` overrides"
    return "/compact, keep requests small, and land what you have before starting more"


def exhausted(budgets: Iterable[Budget]) -> list[Budget]:
    """The daily and per-agent budgets that are used up (the ones that make commands refuse)."""
    return [b for b in budgets if b.kind in ("daily", "agent") and b.exhausted]


def refuse_when_exhausted(budgets: Iterable[Budget], *, over_budget: bool) -> None:
    """Raise Failed (exit 1) when a daily or per-agent budget is used up, unless overridden."""
    spent = exhausted(budgets)
    if spent and not over_budget:
        what = ", ".join(f"{b.name} {b.used:,}/{b.limit:,} {b.unit}" for b in spent)
        raise Failed(
            f"over budget: {what}", hint="see `patchpack budget`; pass --over-budget to go on anyway"
        )


# -- prompt -----------------------------------------------------------------------------------

_PROMPT = """\
You work in a git repository managed by patchpack. Every token you read or write is paid for:
follow this workflow exactly and keep your answers short.

Context (read diffs and located code, never whole files)
- `patchpack status`: where you are (queue position, uncommitted size, spend, cadence).
- `patchpack context`: the diff of your work, fitted to {context_budget:,} tokens.
- `patchpack context --grep PATTERN`: the matching code with its enclosing function.
- `patchpack context --at FILE:START-END` (or `--at FILE:SYMBOL`): exact lines.
- Never read a whole file over {max_file_lines} lines; ask for the part you need.

Output (at most {output_lines} lines)
- Run the tests with `patchpack test [ARGS]` ({test_runner}, capped at {output_lines} lines).
- Run any other noisy command as `patchpack run -- CMD ARGS`; never print more than
  {output_lines} lines. The full log is kept: `patchpack run --show ID --at START-END`.

Micro-patches (at most {max_files} and {max_lines} diff lines each)
- Keep your uncommitted change within {max_files} and {max_lines} diff lines, and commit
  each small step. An edit that would go past that is refused.
- When the change has grown bigger: `patchpack split` queues it as micro-patches,
  `patchpack next` shows the next one, `patchpack apply` commits it through the hooks
  (`patchpack apply --all` commits the whole queue).

Cadence
{cadence}

Budget (daily {daily_budget:,} tokens; {minute_tokens:,} tokens and {minute_requests} requests per minute)
- Your spend is read from the agent's own usage records; never estimate or report tokens.
- `patchpack budget` shows spend against these limits.
- When a command prints a `budget:` line, do what it says: narrow the request, /compact, or
  wait for the per-minute window. Over the daily budget `context` and `apply` refuse: stop,
  land what you have, and report.

The loop
1. `patchpack status`
2. `patchpack context --grep ...` or `--at ...`
3. make one small edit
4. `patchpack test ...`
5. commit, or `patchpack split && patchpack apply --all`
6. repeat
"""


def prompt(settings: Settings) -> str:
    """The token-economy instructions for an agent, with the configured numbers filled in."""
    return _PROMPT.format(
        context_budget=settings.context_budget,
        max_file_lines=settings.max_file_lines,
        output_lines=settings.output_lines,
        test_runner=settings.test_command or "pytest -q --tb=short",
        max_files=counted(settings.max_files, "file"),
        max_lines=settings.max_lines,
        cadence=_cadence_text(settings),
        daily_budget=settings.daily_budget,
        minute_tokens=settings.minute_tokens,
        minute_requests=settings.minute_requests,
    )


def _cadence_text(settings: Settings) -> str:
    if not settings.truncate_every:
        return "- An iteration is one `patchpack apply`. No truncation reminders are configured."
    return (
        f"- An iteration is one `patchpack apply`. Every {settings.truncate_every} "
        f"iterations `next` and `apply` print:\n  {reminder(settings)}\n"
        f"  When you see it, stop and say so in one line, so that the history is cut "
        f"before you go on."
    )
