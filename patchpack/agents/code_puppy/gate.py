"""Budgets before a run, pacing before a request.

A run does not start when the day's budget, or the agent's own
(``patchpack.agent.<name>.dailyBudget``), is spent: it stops with a message naming what is
spent and what to do. A request that the per-minute window cannot take now waits until it can,
instead of collecting 429 errors (Cerebras charges a request at admission against the
tokens/minute it reserves; a full window refuses it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

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
    return (
        f"patchpack: over budget ({what}); the run was not started. "
        f"See `patchpack budget`; land what you have (`patchpack apply --all`), or raise "
        f"the budget (`git config patchpack.dailyBudget N`, "
        f"`git config patchpack.agent.NAME.dailyBudget N`)."
    )


def wait_seconds(
    budgets: Iterable[Budget],
    *,
    request_tokens: int,
    in_flight: Sequence[tuple[datetime, int]] = (),
    now: datetime | None = None,
) -> float:
    """How long a request of ``request_tokens`` must wait for the per-minute window: 0 when
    it fits now.

    ``in_flight`` are the requests this process let through (when, and their estimated
    tokens) whose run's usage is not in the ledger yet: a run's usage is recorded when it
    ends, so without them a long run would not see its own requests in the window.
    """
    recent = sorted(
        (at, n) for at, n in in_flight if now is None or 0 <= (now - at).total_seconds() < MAX_WAIT
    )
    wait = 0.0
    for b in budgets:
        if b.kind != "minute" or b.limit <= 0:
            continue
        weights = [1 if b.unit == "requests" else n for _, n in recent]
        need = 1 if b.unit == "requests" else request_tokens
        used = b.used + sum(weights)
        if used + need <= b.limit or used == 0:  # one request larger than the window goes
            continue
        if b.used + need > b.limit or now is None:  # full without this process's requests
            seconds = float(b.reset_in if b.reset_in is not None else MAX_WAIT)
        else:
            # Room comes when enough of this process's requests, oldest first, leave it.
            leaves = recent[-1][0]
            for (at, _), weight in zip(recent, weights):
                used -= weight
                if used + need <= b.limit:
                    leaves = at
                    break
            seconds = MAX_WAIT - (now - leaves).total_seconds()
        wait = max(wait, seconds)
    return min(wait, MAX_WAIT)
