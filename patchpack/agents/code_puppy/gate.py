"""Budgets before a run, pacing before a request.

A run does not start when the day's budget, or the agent's own
(``patchpack.agent.<name>.dailyBudget``), is spent: it stops with a message naming what is
spent and what to do. A request that the per-minute window cannot take now waits until it can,
instead of collecting 429 errors (Cerebras charges a request at admission against the
tokens/minute it reserves; a full window refuses it).
"""

from __future__ import annotations

from collections.abc import Iterable

from patchpack.agents.loop import Budget, exhausted

MAX_WAIT = 60.0
"""The per-minute window is a minute long: no wait is ever longer."""


class BudgetSpent(Exception):
    """Raised into Code Puppy's run to stop it; the message is what the user sees."""


def stop_reason(budgets: Iterable[Budget], agent: str | None) -> str | None:
    """Why a run of ``agent`` must not start, or None when it may."""
    spent = [b for b in exhausted(budgets) if b.kind == "daily" or b.name == f"agent {agent}"]
    if not spent:
        return None
    what = ", ".join(f"{b.name} {b.used:,}/{b.limit:,} {b.unit}" for b in spent)
    return (f"patchpack: over budget ({what}); the run was not started. "
            f"See `patchpack budget`; land what you have (`patchpack apply --all`), or raise "
            f"the budget (`git config patchpack.dailyBudget N`, "
            f"`git config patchpack.agent.NAME.dailyBudget N`).")


def wait_seconds(budgets: Iterable[Budget], *, request_tokens: int) -> float:
    """How long a request of ``request_tokens`` must wait for the per-minute window: 0 when
    it fits now."""
    wait = 0.0
    for b in budgets:
        if b.kind != "minute" or b.limit <= 0:
            continue
        need = 1 if b.unit == "requests" else request_tokens
        if b.used + need > b.limit and b.used > 0:  # one request larger than the window goes
            wait = max(wait, float(b.reset_in if b.reset_in is not None else MAX_WAIT))
    return min(wait, MAX_WAIT)
