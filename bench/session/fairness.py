"""The fairness check: an agent may edit only code it has been shown.

Run on the endpoint's recorded requests: a request answered with an edit must hold, in the
tool results of its own history, every line of the text that edit replaces. A tool result is
read as the model reads it: JSON is decoded (Code Puppy sends a tool's return as JSON), and a
line number a reader put before a line (Claude Code's Read: `    12\t`) is dropped. Lines are
compared whole with their indentation, but each may come from any result: a file read a window
at a time splits a hunk across two results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from session.scripts import edits_in

from clients.endpoint import Request, Turn

_NUMBERED = re.compile(r"^\s*\d+(?:\t|→|: )")


@dataclass(frozen=True)
class Violation:
    request: int  # index among the scripted requests
    path: str
    unseen: str  # the first line of the replaced text that no tool result showed

    def __str__(self) -> str:
        return (
            f"request {self.request + 1} edits {self.path} at {self.unseen.strip()!r}, "
            "a line no tool result in its history showed"
        )


def seen_lines(results: Sequence[str]) -> set[str]:
    """Every line the tool results showed, as it reads in the file."""
    lines: set[str] = set()
    for result in results:
        for text in _strings(result):
            for line in text.splitlines():
                lines.add(line.rstrip())
                lines.add(_NUMBERED.sub("", line, count=1).rstrip())
    return lines


def _strings(result: str) -> Iterator[str]:
    yield result
    try:
        decoded = json.loads(result)
    except ValueError:
        return
    yield from _leaves(decoded)


def _leaves(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)


def check(script: Sequence[Turn], scripted: Sequence[Request]) -> list[Violation]:
    """The edits in ``scripted`` (the requests answered from ``script``, in order) that replace
    a line their request's history never showed."""
    violations: list[Violation] = []
    for index, request in enumerate(scripted):
        if request.turn is None:
            continue
        edits = edits_in(script[request.turn])
        if not edits:
            continue
        seen = seen_lines(request.tool_results())
        for path, old in edits:
            unseen = [line for line in old.splitlines() if line.strip() and line.rstrip() not in seen]
            if unseen:
                violations.append(Violation(index, path, unseen[0]))
    return violations
