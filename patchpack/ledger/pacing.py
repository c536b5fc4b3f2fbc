"""Provider limits as the provider counts them, and pacing: how long until a request fits.

A provider admits a request against its requests/minute, tokens/minute and tokens/day
limits. Cerebras weighs the tokens/minute window at admission by the prompt plus the
``max_completion_tokens`` the request reserves (the model's maximum when the request names
none), not by what the model then writes (#17; its rate-limit docs); OpenAI reserves
``max_tokens`` the same way. A `Provider` says how past spend and a new request are charged,
and `wait_for` says how long until a request of N prompt tokens fits every window, so an agent
paces itself instead of collecting 429s.

When a spend happened is taken no earlier than it can have happened: an entry's ``ts`` has
whole seconds, so a spend counts until ``ts + 1 s + 60 s``; an id that `entries.new_id` made
carries the milliseconds, and then it counts until ``ms + 1 ms + 60 s``. Waits are thus never
early, and at most a second late (a millisecond for entries patchpack recorded).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from patchpack import clock
from patchpack.config import Settings
from patchpack.errors import BadInput, Failed
from patchpack.ledger import store as ledger
from patchpack.ledger.entries import Entry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from patchpack.git import Repo  # the door: loaded by what uses it, not by an import (#16)

WINDOW = 60.0  # seconds of a per-minute window
_BUDGET = re.compile(r"[0-9]{1,15}")  # as budget's agent budgets
BILLED = frozenset({"request"})  # as budget.BILLED: what a provider admitted


class Provider(NamedTuple):
    """How one provider charges a request against its limits."""

    name: str
    reserves: bool
    """The tokens/minute window holds the reserved completion from admission on, whatever
    the model then writes (Cerebras, OpenAI); else what was written (Anthropic)."""
    reserve: int
    """Tokens a request reserves when it names no max_completion_tokens."""
    paced: bool = True
    """False for ``none``: no provider limits, a request never waits for a window."""
    note: str = ""


PROVIDERS = {
    # zai-glm-4.6, the Cerebras Code model, writes at most 40,960 tokens: a request that names
    # no max_completion_tokens reserves all of them.
    "cerebras": Provider(
        "cerebras", True, 40_960, note="charges prompt + max_completion_tokens at admission"
    ),
    "openai": Provider("openai", True, 0, note="charges prompt + max_tokens at admission"),
    "anthropic": Provider("anthropic", False, 0, note="charges the tokens read and written"),
    "none": Provider("none", False, 0, paced=False, note="no provider limits"),
}


def provider(settings: Settings) -> Provider:
    """The profile `patchpack.provider` names; BadInput for a name there is no profile for."""
    name = settings.provider.strip().lower()
    if name not in PROVIDERS:
        raise BadInput(
            f"unknown provider {settings.provider[:40]!r}: use one of {', '.join(PROVIDERS)}",
            hint="e.g. `git config patchpack.provider cerebras`",
        )
    return PROVIDERS[name]


def reserve(settings: Settings, profile: Provider) -> int:
    """What one request reserves: patchpack.maxCompletionTokens, or the provider's default."""
    return settings.max_completion_tokens or profile.reserve


def minute_charge(entry: Entry, profile: Provider, reserved: int) -> int:
    """Tokens ``entry`` holds in the provider's per-minute window."""
    if profile.reserves:
        return entry.tokens_in + max(entry.tokens_out, reserved * entry.requests)
    return entry.tokens_in + entry.tokens_out


def spent_at(entry: Entry) -> float:
    """The latest instant (epoch seconds) the spend of ``entry`` can have happened."""
    second = datetime.strptime(entry.ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    start = second.timestamp()
    head = entry.id[:11]
    if len(entry.id) == 21 and all(c in "0123456789abcdef" for c in entry.id):
        ms = int(head, 16)
        if start <= ms / 1000 < start + 1:  # an id of `new_id`, made in this very second
            return (ms + 1) / 1000
    return start + 1


class Limits(NamedTuple):
    minute_tokens: int
    minute_requests: int
    daily: int
    agent: int | None = None  # the agent's own daily budget, when it has one


class Wait(NamedTuple):
    """How long until a request fits, and which limit holds it back."""

    seconds: float
    charge: int  # what the request is charged in the per-minute window
    held_by: str  # "" when it fits now
    used: int = 0
    limit: int = 0


class _Spend(NamedTuple):
    at: float
    minute: int  # tokens in the per-minute window
    requests: int
    day: str  # the UTC day it counts for
    tokens: int  # tokens in the day's window
    agent: str | None


def _spends(
    entries: Iterable[Entry], profile: Provider, reserved: int, *, not_before: datetime
) -> list[_Spend]:
    floor = not_before.strftime("%Y-%m-%dT%H:%M:%SZ")
    seen: set[str] = set()
    out = []
    for e in entries:
        if e.kind not in BILLED or e.ts < floor or e.id in seen:
            continue
        seen.add(e.id)
        out.append(
            _Spend(spent_at(e), minute_charge(e, profile, reserved), e.requests, e.ts[:10], e.tokens, e.agent)
        )
    return sorted(out, key=lambda s: s.at)


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d")


def _midnight_after(at: float) -> float:
    day = datetime.fromtimestamp(at, timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day + timedelta(days=1)).timestamp()


def _blocked(
    spends: Sequence[_Spend], at: float, charge: int, limits: Limits, profile: Provider, agent: str | None
) -> tuple[str, float, int, int] | None:
    """The limit a request at ``at`` would break, when it frees, its use and its limit."""
    day = _day(at)
    today = [s for s in spends if s.day == day]
    used_day = sum(s.tokens for s in today)
    if used_day + charge > limits.daily:
        return "tokens/day", _midnight_after(at), used_day, limits.daily
    if agent is not None and limits.agent is not None:
        used_agent = sum(s.tokens for s in today if s.agent == agent)
        if used_agent + charge > limits.agent:
            return f"agent {agent} tokens/day", _midnight_after(at), used_agent, limits.agent
    if not profile.paced:
        return None
    # A spend at `s.at` holds the window while at - s.at < 60; one later than `at` too (its
    # `at` is a bound: it may have happened before `at`).
    window = [s for s in spends if at < s.at + WINDOW]
    for what, used, need, limit in (
        ("tokens/minute", sum(s.minute for s in window), charge, limits.minute_tokens),
        ("requests/minute", sum(s.requests for s in window), 1, limits.minute_requests),
    ):
        if used + need > limit:
            # Free enough by letting the oldest spends leave the window, in order.
            left = used + need - limit
            for s in window:
                left -= s.minute if what == "tokens/minute" else s.requests
                if left <= 0:
                    return what, s.at + WINDOW, used, limit
    return None


def wait_for(
    entries: Iterable[Entry],
    tokens: int,
    *,
    now: datetime,
    limits: Limits,
    profile: Provider,
    reserved: int,
    agent: str | None = None,
) -> Wait:
    """How long from ``now`` until a request of ``tokens`` prompt tokens fits every window.

    Failed when it never fits (a request larger than a limit). ``entries`` may hold copies
    of an id; each counts once.
    """
    charge = tokens + reserved
    spends = _spends(entries, profile, reserved, not_before=now - timedelta(days=1, minutes=2))
    checks = [("tokens/day", charge, limits.daily)]
    if agent is not None and limits.agent is not None:
        checks.append((f"agent {agent} tokens/day", charge, limits.agent))
    if profile.paced:
        checks += [
            ("tokens/minute", charge, limits.minute_tokens),
            ("requests/minute", 1, limits.minute_requests),
        ]
    for what, need, limit in checks:
        if need > limit:
            raise Failed(
                f"a request of {tokens:,} tokens never fits: it is charged {need:,} "
                f"against {what} of {limit:,} ({profile.name} {profile.note})",
                hint="send a smaller request (`patchpack context --budget N`), lower "
                "`git config patchpack.maxCompletionTokens`, or raise the limit",
            )
    start = now.timestamp()
    at, held = start, ""
    used = limit = 0
    # Each pass moves `at` to where the limit that holds it back frees; a day or an expiry
    # per pass, so the passes are bounded by the spends plus two midnights.
    for _ in range(2 * len(spends) + 8):
        blocked = _blocked(spends, at, charge, limits, profile, agent)
        if blocked is None:
            break
        held, later, used, limit = blocked
        at = max(later, at)
    else:  # pragma: no cover - the bound above is never reached
        raise AssertionError("pacing did not settle")
    # Whole microseconds first: float noise (1.2000000476 s) must not round up a millisecond.
    wait = 0.0 if at <= start else math.ceil(round((at - start) * 1e6) / 1000) / 1000
    return Wait(wait, charge, held if wait else "", used if wait else 0, limit if wait else 0)


def for_repo(
    repo: Repo, settings: Settings, tokens: int, *, agent: str | None = None, now: datetime | None = None
) -> tuple[Wait, Provider, int]:
    """`wait_for` on ``repo``'s ledger and this worktree's pending spool, with ``settings``."""
    now = now or clock.now()
    profile = provider(settings)
    reserved = reserve(settings, profile)
    agent_limit = None
    if agent is not None:
        key = f"patchpack.agent.{agent}.dailyBudget"
        raw = repo.config_get(key)
        if raw is not None and not _BUDGET.fullmatch(raw.strip()):
            raise BadInput(
                f"git config {key}: expected a whole number below 10**15, got {raw[:40]!r}",
                hint=f"fix it, e.g. `git config {key} 5000000`",
            )
        agent_limit = None if raw is None else int(raw)
    floor = (now - timedelta(days=1, minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with ledger.no_gc():
        held = ledger.read(repo)
    ts = held.columns[1]
    # Only the last day's entries become `Entry`s: a ledger holds 100,000+.
    recent = [Entry._make(column[i] for column in held.columns) for i in range(len(ts)) if ts[i] >= floor]
    waiting, _ = ledger.pending(repo)
    limits = Limits(settings.minute_tokens, settings.minute_requests, settings.daily_budget, agent_limit)
    wait = wait_for(
        recent + waiting, tokens, now=now, limits=limits, profile=profile, reserved=reserved, agent=agent
    )
    return wait, profile, reserved


def seconds(wait: Wait) -> str:
    """The wait as a shell's `sleep` takes it, rounded up to the millisecond (`wait_for`)."""
    return f"{wait.seconds:.3f}".rstrip("0").rstrip(".")


def render(wait: Wait, profile: Provider, tokens: int, reserved: int) -> str:
    """The line for stderr that says why a request waits."""
    charged = f"{tokens:,} + {reserved:,} reserved" if reserved else f"{tokens:,}"
    if not wait.held_by:
        return f"fits now: a request charged {charged} tokens ({profile.name})"
    return (
        f"wait {wait.seconds:g} s: {wait.held_by} holds {wait.used:,} of {wait.limit:,}; "
        f"this request is charged {charged} ({profile.name} {profile.note})"
    )
