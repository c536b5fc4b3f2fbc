"""`patchpack budget`: totals of the ledger per group, and spend against the limits.

Limits are those of a metered provider (DESIGN.md): tokens per day, tokens and requests per
minute, and optional per-agent daily budgets. Days are UTC days. Every entry counts once,
by id, wherever copies of it sit (amend, rebase and merges copy notes).
"""

from __future__ import annotations

import functools
import json
import operator
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from itertools import compress
from typing import Any, NamedTuple

from patchpack import clock
from patchpack.config import Settings
from patchpack.errors import BadInput
from patchpack.git import Oid
from patchpack.ledger import pacing
from patchpack.ledger import store as ledger
from patchpack.ledger.cache import add_counts
from patchpack.ledger.entries import Entry, Skipped, timestamp

TYPE_CHECKING = False
if TYPE_CHECKING:  # the door: the quick path reads through git/plain (#16)
    from patchpack.git import Repo
    from patchpack.git.plain import Plain

WARN_AT = (0.7, 0.9)


class Limits(NamedTuple):
    daily: int
    minute_tokens: int
    minute_requests: int


class Totals(NamedTuple):
    entries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    requests: int = 0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


class Group(NamedTuple):
    key: str
    totals: Totals
    label: str = ""  # e.g. a commit's subject


class Spend(NamedTuple):
    """Spend against one limit."""

    what: str  # "today", "minute tokens", "agent pack-leader", ...
    used: int
    limit: int

    @property
    def share(self) -> float:
        return self.used / self.limit if self.limit else (1.0 if self.used else 0.0)

    @property
    def exhausted(self) -> bool:
        return self.used >= self.limit


class Report(NamedTuple):
    by: str
    now: str
    groups: list[Group]
    total: Totals
    pending: Totals
    counters: dict[str, int]
    limits: list[Spend]
    hour_tokens: int
    runs_out_at: str | None  # when today's budget runs out at the last hour's rate
    minute_reset_in: int | None  # seconds until the oldest spend leaves the minute window
    notes: int
    skipped: list[Skipped]
    provider: str = ""  # how the minute window charged the spend (`pacing`)

    @property
    def exhausted(self) -> list[Spend]:
        return [s for s in self.limits if s.exhausted]

    @property
    def warnings(self) -> list[Spend]:
        return [s for s in self.limits if WARN_AT[0] <= s.share < 1]


def _accumulate(entries: Iterable[Entry]) -> Totals:
    n = t_in = t_out = req = 0
    for e in entries:
        n, t_in, t_out, req = n + 1, t_in + e.tokens_in, t_out + e.tokens_out, req + e.requests
    return Totals(n, t_in, t_out, req)


_DAY = operator.itemgetter(slice(0, 10))  # of a timestamp
# Each grouping's keys, from the commits or the columns (fields in `Entry`'s order), through
# ``pick``, which keeps only the chosen entries of a column.
_Pick = Callable[[Sequence[Any]], Sequence[Any]]
_KEYS: dict[str, Callable[[_Pick, Sequence[str], Sequence[Sequence[Any]]], Iterable[str]]] = {
    "day": lambda pick, on, columns: map(_DAY, pick(columns[1])),
    "commit": lambda pick, on, columns: pick(on),
    "agent": lambda pick, on, columns: [name or "-" for name in pick(columns[7])],
    "model": lambda pick, on, columns: [name or "-" for name in pick(columns[6])],
    "kind": lambda pick, on, columns: pick(columns[2]),
}
GROUPINGS = tuple(_KEYS)
# The limits weigh what a provider bills: `request` entries, an agent's recorded usage.
# `context`, `run` and `apply` entries measure what patchpack produced or kept out; those
# tokens reach the bill inside requests, so weighing them too would count them twice.
BILLED = frozenset({"request"})


def summarise(noted: Sequence[tuple[str, Entry]], pending: list[Entry], **options: Any) -> Report:
    """`tally` of (commit, entry) pairs."""
    columns = (
        [list(column) for column in zip(*(e for _, e in noted))] if noted else [[] for _ in Entry._fields]
    )
    return tally([commit for commit, _ in noted], columns, pending, **options)


def tally(
    on: Sequence[str],
    columns: Sequence[Sequence[Any]],
    pending: list[Entry],
    *,
    limits: Limits,
    now: datetime,
    by: str = "day",
    since: datetime | None = None,
    commits: Collection[str] | None = None,
    notes: int = 0,
    agent_budget: Callable[[str], int | None] = lambda name: None,
    subject: Callable[[Oid], str] = lambda oid: "",
    skipped: list[Skipped] | None = None,
    totals: ledger.Totals | None = None,
    minute_charge: Callable[[Entry], int] = operator.attrgetter("tokens"),
    provider: str = "",
) -> Report:
    """Group the entries (``columns``, in `Entry`'s field order, entry j on commit ``on[j]``)
    and ``pending``, and weigh the limits.

    ``since`` and ``commits`` narrow the groups and totals; the limits always weigh all
    spend, since a provider bills all of it. Every id counts once: its first copy.
    ``totals`` (`ledger.totals_of` the columns) spare a pass over every entry.
    ``minute_charge`` is what an entry holds in the per-minute window (`pacing`).
    """
    # Whole columns at a time, in C loops: this runs over 100,000+ entries.
    ids, ts, kinds = columns[0], columns[1], columns[2]
    every_id = set(ids)
    everything: Sequence[int] = range(len(ids))
    if len(every_id) < len(ids):
        everything = _first_copies(ids, everything)
    waiting = [e for e in pending if e.id not in every_id]
    chosen = everything
    if commits is not None:  # a copy in the range counts, wherever the first copy sits
        chosen = _first_copies(ids, list(compress(range(len(ids)), map(commits.__contains__, on))))
    if since is not None:
        floor = timestamp(since)
        chosen = list(compress(chosen, map(floor.__le__, map(ts.__getitem__, chosen))))
    whole = isinstance(chosen, range)

    def pick(column: Sequence[Any]) -> Sequence[Any]:
        return column if whole else list(map(column.__getitem__, chosen))

    if totals is not None and since is None and commits is None and by in _PART:
        sums, counters = _from_totals(totals, columns, everything, by)
    else:
        sums = {}
        keys = _KEYS[by](pick, on, columns)
        for k, t_in, t_out, requests in zip(keys, pick(columns[3]), pick(columns[4]), pick(columns[9])):
            acc = sums.get(k)
            if acc is None:
                acc = sums[k] = [0, 0, 0, 0]
            acc[0] += 1
            acc[1] += t_in
            acc[2] += t_out
            acc[3] += requests
        counters = dict(Counter(pick(columns[5])))
    grouped = {k: Totals(*acc) for k, acc in sums.items()}
    # Time reads best in order; the others biggest first.
    order = sorted(grouped) if by == "day" else sorted(grouped, key=lambda k: (-grouped[k].tokens, k))
    groups = [Group(k, grouped[k], subject(Oid(k)) if by == "commit" else "") for k in order]

    # Timestamps in one form sort by time, so the recent spend is a string comparison away.
    day = timestamp(now)[:10]
    minute_ago = timestamp(now - timedelta(minutes=1))
    hour_ago = timestamp(now - timedelta(hours=1))
    since_recent = min(day, hour_ago)
    recent = [
        _ENTRY(column[i] for column in columns)
        for i in compress(everything, map(since_recent.__le__, map(ts.__getitem__, everything)))
        if kinds[i] in BILLED
    ]
    recent += [e for e in waiting if e.kind in BILLED]
    today = [e for e in recent if e.ts.startswith(day)]
    in_minute = [e for e in recent if e.ts > minute_ago]
    last_minute = _accumulate(in_minute)
    reset_in = None
    if in_minute:
        oldest = datetime.strptime(min(e.ts for e in in_minute), "%Y-%m-%dT%H:%M:%SZ")
        age = now - oldest.replace(tzinfo=timezone.utc)
        reset_in = max(0, 60 - int(age.total_seconds()))
    hour_tokens = _accumulate(e for e in recent if e.ts > hour_ago).tokens
    used_today = _accumulate(today).tokens
    weighed = [
        Spend("today", used_today, limits.daily),
        Spend("minute tokens", sum(map(minute_charge, in_minute)), limits.minute_tokens),
        Spend("minute requests", last_minute.requests, limits.minute_requests),
    ]
    for agent in sorted({e.agent for e in today if e.agent}):
        budget = agent_budget(agent)
        if budget is not None:
            spent = _accumulate(e for e in today if e.agent == agent).tokens
            weighed.append(Spend(f"agent {agent}", spent, budget))

    runs_out_at = None
    left = limits.daily - used_today
    # Compared as whole numbers first: a budget too large for a float lasts the day anyway.
    if hour_tokens and left > 0 and left * 3600 < hour_tokens * 86400:
        at = now + timedelta(seconds=left / (hour_tokens / 3600))
        if timestamp(at)[:10] == day:
            runs_out_at = timestamp(at)

    return Report(
        by=by,
        now=timestamp(now),
        groups=groups,
        total=Totals(*(sum(acc[i] for acc in sums.values()) for i in range(4))),
        pending=_accumulate(waiting),
        counters=counters,
        limits=weighed,
        hour_tokens=hour_tokens,
        runs_out_at=runs_out_at,
        minute_reset_in=reset_in,
        notes=notes,
        skipped=skipped or [],
        provider=provider,
    )


_ENTRY = Entry._make
_PART = {"day": 0, "kind": 1, "model": 2, "agent": 3}  # of a key of `ledger.Totals`


def _from_totals(
    totals: ledger.Totals, columns: Sequence[Sequence[Any]], everything: Sequence[int], by: str
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """The sums per group and the entries per counter, from the totals of every entry
    (``columns``), less the copies of an id after its first (not in ``everything``)."""
    if len(everything) < len(columns[0]):
        totals = {group: acc.copy() for group, acc in totals.items()}
        _, ts, kinds, t_in, t_out, counters, models, agents, _, requests = columns[:10]
        for i in set(range(len(columns[0]))).difference(everything):
            add_counts(
                totals,
                (ts[i][:10], kinds[i], models[i], agents[i], counters[i]),
                (1, t_in[i], t_out[i], requests[i]),
                -1,
            )
    sums: dict[str, list[int]] = {}
    entries: dict[str, int] = {}
    part = _PART[by]
    for group, counts in totals.items():
        if counts[0]:
            add_counts(sums, group[part] or "-", counts)
            entries[group[4]] = entries.get(group[4], 0) + counts[0]
    return sums, entries


def _first_copies(ids: Sequence[str], indices: Sequence[int]) -> list[int]:
    """Those of ``indices`` (in order) where an id is seen the first time."""
    # A dict keeps the last value written for a key: written from the end, the first.
    first = dict(zip(map(ids.__getitem__, reversed(indices)), reversed(indices)))
    return sorted(first.values()) if len(first) < len(indices) else list(indices)


def for_repo(
    repo: Repo | Plain,
    *,
    settings: Settings,
    by: str = "day",
    since: str | None = None,
    rev_range: str | None = None,
    now: datetime | None = None,
) -> Report:
    """The report on ``repo``'s ledger and this worktree's pending spool."""
    now = now or clock.now()
    try:
        floor = parse_since(since, now) if since is not None else None
    except ValueError as e:
        raise BadInput(
            f"--since: {e}", hint="give a date or a span, e.g. `patchpack budget --since 1d`"
        ) from None
    commits = set(repo.rev_list(rev_range)) if rev_range is not None else None
    held = ledger.read(repo)
    waiting, bad_pending = ledger.pending(repo)

    def agent_budget(name: str) -> int | None:
        key = f"patchpack.agent.{name}.dailyBudget"
        raw = repo.config_get(key)
        if raw is None:
            return None
        if not _BUDGET.fullmatch(raw.strip()):  # not isdigit: "²" is a digit int() refuses
            raise BadInput(
                f"git config {key}: expected a whole number below 10**15, got "
                f"{raw[:40]!r}{'...' if len(raw) > 40 else ''}",
                hint=f"fix it, e.g. `git config {key} 5000000`",
            )
        return int(raw)

    profile = pacing.provider(settings)
    with ledger.no_gc():
        return tally(
            held.commits,
            held.columns,
            waiting,
            by=by,
            since=floor,
            commits=commits,
            notes=held.notes,
            now=now,
            limits=Limits(settings.daily_budget, settings.minute_tokens, settings.minute_requests),
            agent_budget=agent_budget,
            subject=repo.commit_subject,
            skipped=held.skipped + bad_pending,
            totals=held.totals,
            minute_charge=functools.partial(
                pacing.minute_charge, profile=profile, reserved=pacing.reserve(settings, profile)
            ),
            provider=profile.name,
        )


def figures(report: Report) -> dict[str, Any]:
    """The spend as `agents.budgets(settings, **figures(report))` takes it (the budget line)."""
    spent = {s.what: s for s in report.limits}
    return {
        "day_tokens": spent["today"].used,
        "minute_tokens": spent["minute tokens"].used,
        "minute_requests": spent["minute requests"].used,
        "minute_reset_in": report.minute_reset_in,
        "agents": {
            s.what.removeprefix("agent "): (s.used, s.limit)
            for s in report.limits
            if s.what.startswith("agent ")
        },
    }


# -- rendering --------------------------------------------------------------------------------


def render_text(report: Report) -> str:
    # A commit is named by 12 hex digits; an agent's or a model's name is printed whole.
    keys = [g.key[:12] if report.by == "commit" else g.key for g in report.groups]
    width = max([12, *map(len, keys)])
    out = [f"{report.by:<{width}} {'entries':>8} {'in':>13} {'out':>13} {'requests':>9}"]

    def row(key: str, t: Totals, label: str = "") -> str:
        text = f"{key:<{width}} {t.entries:>8,} {t.tokens_in:>13,} {t.tokens_out:>13,} {t.requests:>9,}"
        return f"{text}  {label}" if label else text

    for key, g in zip(keys, report.groups):
        out.append(row(key, g.totals, g.label))
    out.append(row("total", report.total))
    out.append(row("pending", report.pending, "(not yet on a commit)"))
    if report.counters:
        out.append(
            "counted with: "
            + ", ".join(
                f"{name} ({n:,} entr{'y' if n == 1 else 'ies'})"
                for name, n in sorted(report.counters.items())
            )
        )
    out.append("")
    for spend in report.limits:
        out.append(_spend_line(spend, report))
    rate = report.hour_tokens / 60
    if report.limits[0].exhausted:
        outlook = "; today's budget is spent"
    elif report.runs_out_at:
        outlook = f"; at this rate today's budget runs out at {report.runs_out_at[11:16]} UTC"
    else:
        outlook = "; at this rate today's budget lasts the day" if rate else ""
    out.append(f"last hour: {report.hour_tokens:,} tokens ({rate:,.0f}/min){outlook}")
    return "\n".join(out)


def _spend_line(spend: Spend, report: Report) -> str:
    if spend.what == "today":
        what = f"today ({report.now[:10]} UTC)"
        unit = "tokens"
    elif spend.what.startswith("minute"):
        what, unit = "last minute", spend.what.split()[1]
        if unit == "tokens" and report.provider:
            unit = f"tokens as {report.provider} counts them"
    else:
        what, unit = f"{spend.what} today", "tokens"
    mark = " EXHAUSTED" if spend.exhausted else " warning" if spend.share >= WARN_AT[0] else ""
    return f"{what}: {spend.used:,} of {spend.limit:,} {unit} ({spend.share:.1%}){mark}"


def problems(report: Report, *, show: int = 10) -> list[str]:
    """Lines for stderr: skipped ledger lines, warnings, exhausted budgets."""
    out = [
        f"warning: {'pending spool' if s.where == 'pending' else 'note on ' + s.where[:12]} "
        f"line {s.line}: {s.reason} (skipped)"
        for s in report.skipped[:show]
    ]
    if len(report.skipped) > show:
        out.append(f"warning: ... and {len(report.skipped) - show} more lines skipped (see `budget --json`)")
    for spend in report.limits:
        if spend.exhausted:
            out.append(f"budget exhausted: {spend.what}: {spend.used:,} of {spend.limit:,}")
        elif spend.share >= WARN_AT[0]:
            past = max(w for w in WARN_AT if spend.share >= w)
            out.append(
                f"warning: {spend.what} is past {past:.0%} of its budget ({spend.used:,} of {spend.limit:,})"
            )
    return out


def render_json(report: Report) -> str:
    def totals(t: Totals) -> dict[str, int]:
        return {
            "entries": t.entries,
            "in": t.tokens_in,
            "out": t.tokens_out,
            "requests": t.requests,
            "tokens": t.tokens,
        }

    data: dict[str, Any] = {
        "now": report.now,
        "by": report.by,
        "groups": [
            {"key": g.key, **({"subject": g.label} if g.label else {}), **totals(g.totals)}
            for g in report.groups
        ],
        "total": totals(report.total),
        "pending": totals(report.pending),
        "counters": report.counters,
        "limits": [
            {**s._asdict(), "share": round(s.share, 4), "exhausted": s.exhausted} for s in report.limits
        ],
        "last_hour_tokens": report.hour_tokens,
        "runs_out_at": report.runs_out_at,
        "provider": report.provider or None,
        "notes": report.notes,
        "skipped": [s._asdict() for s in report.skipped],
    }
    return json.dumps(data, indent=2)


_BUDGET = re.compile(r"[0-9]{1,15}")  # below 10**15, as the ledger's counts (entries.MAX_COUNT)


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: an ISO date or time (UTC unless it says otherwise), or ``Nd``/``Nh``/``Nm``;
    ValueError saying why when it is none, or too far off to be a date."""
    try:
        when = _since(text.strip(), now)
        when.astimezone(timezone.utc)  # as `timestamp` will: fail here, as bad input
    except OverflowError:
        raise ValueError(f"out of range: {text[:40]!r}") from None
    return when


def _since(text: str, now: datetime) -> datetime:
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[-1:] in units and text[:-1].isdigit():
        return now - timedelta(**{units[text[-1]]: int(text[:-1])})
    if text == "today":
        return now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"not a date: {text!r} (use 2026-11-24, 2026-11-24T10:00, today, or 3d / 12h / 30m)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
