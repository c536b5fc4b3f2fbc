"""The shapes of the MCP tools' structured results, from which the SDK derives each tool's
``outputSchema`` and against which it checks every result before sending it.

One TypedDict per tool result; nested objects are typed where a client acts on them. Every
result may carry ``budget_line`` (a budget over 70%), so each inherits it from ``_Budgeted``.
"""

from __future__ import annotations

from typing import Any

# pydantic reads TypedDicts from typing only from Python 3.12; typing_extensions comes with it.
from typing_extensions import TypedDict


class _Budgeted(TypedDict, total=False):
    budget_line: str


class Count(TypedDict):
    count: int
    max: int
    ok: bool


class Change(TypedDict):
    path: str
    old_path: str | None
    status: str
    binary: bool
    added: int
    removed: int
    lines: int


class Verdict(TypedDict):
    label: str
    ok: bool
    files: Count
    diff_lines: Count
    changes: list[Change]


class CheckResult(_Budgeted):
    ok: bool
    results: list[Verdict]


class Section(TypedDict):
    kind: str
    source: str
    tokens: int
    parts: list[dict[str, Any]]
    """path, tokens and text; a diff part says ``shortened``, a located one its lines."""


class Dropped(TypedDict):
    what: str
    ask: str


class ContextResult(_Budgeted):
    tokens: int
    counter: str
    budget: int
    sections: list[Section]
    dropped: list[Dropped]
    notes: list[str]
    unmatched: list[str]


class Queued(TypedDict):
    title: str
    files: list[str]
    diff_lines: int


class AddedResult(_Budgeted):
    queued: list[Queued]
    total_queued: int


class NextResult(_Budgeted):
    position: int
    total: int
    title: str
    files: list[str]
    diff_lines: int
    commit: str
    note: str | None
    diff: str


class AppliedPatch(TypedDict):
    position: int
    title: str
    commit: str | None
    files: list[str]
    diff_lines: int
    tokens: int | None


class ApplyResult(_Budgeted):
    applied: list[AppliedPatch]
    remaining: int
    reminder: str | None


class Listed(Queued):
    position: int
    state: str
    tokens: int | None
    commit: str
    applied_as: str | None


class ListResult(_Budgeted):
    counter: str
    patches: list[Listed]


class UndoResult(_Budgeted):
    undid: str
    summary: str
    queued: int


class RunResult(_Budgeted):
    exit_code: int
    run_id: str
    log: str
    lines: int
    printed_lines: int
    timed_out: bool
    output: str


class _EntryOptional(_Budgeted, total=False):
    model: str
    agent: str
    session: str
    requests: int
    saved: int
    estimated: bool


# ``in`` is a keyword, so these two fields take the functional form.
_Tokens = TypedDict("_Tokens", {"in": int, "out": int})


class RecordResult(_EntryOptional, _Tokens):
    """The ledger entry as it is kept."""

    v: int
    id: str
    ts: str
    kind: str
    counter: str


_Totals = TypedDict("_Totals", {"entries": int, "in": int, "out": int, "requests": int, "tokens": int})


class _Subject(TypedDict, total=False):
    subject: str
    """The commit's subject, when grouped by commit."""


class Group(_Totals, _Subject):
    key: str


class Limit(TypedDict):
    what: str
    used: int
    limit: int
    share: float
    exhausted: bool


class Skipped(TypedDict):
    where: str
    line: int
    reason: str


class BudgetResult(_Budgeted):
    now: str
    by: str
    groups: list[Group]
    total: _Totals
    pending: _Totals
    counters: dict[str, int]
    limits: list[Limit]
    last_hour_tokens: int
    runs_out_at: str | None
    notes: int
    skipped: list[Skipped]


class NextUp(TypedDict):
    position: int
    title: str
    files: list[str]
    diff_lines: int


class QueueState(TypedDict):
    name: str | None
    applied: int
    total: int
    next: NextUp | None


class Uncommitted(TypedDict):
    ok: bool
    files: Count
    diff_lines: Count


class StatusResult(TypedDict):
    branch: str | None
    detached: bool
    head: str | None
    queue: QueueState
    uncommitted: Uncommitted | None
    pending: dict[str, int]
    """``entries`` and ``tokens``."""
    today: dict[str, int]
    """``tokens`` and ``daily_budget``."""
    cadence: dict[str, int | bool | None]
    """``iterations``, ``every``, ``until_reminder``, ``reminder_due``."""
    budget_line: str | None
    counter: str
