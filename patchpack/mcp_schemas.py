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


