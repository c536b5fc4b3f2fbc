"""The trajectories: what each scripted agent does on a task, as the endpoint's list of turns.

Both agents see the code they change before they change it (the fairness check holds them to
it), make the commit's real hunks, run the real tests twice and land the change. They differ
in how they look and what comes back:

- *naive*: the client's default agent, doing what such an agent does: search for the symbol,
  read each touched file whole (in the pieces the client lets one read return: Code Puppy
  keeps a tool output over 10,000 characters in a file and shows a preview, so a real agent
  reads a long file a window at a time), run the tests plainly, edit, `git diff`, run the
  tests again, commit;
- *patchpack*: the client set up by `patchpack integrate`, asking `patchpack context` for the
  located hunks (`--grep` the symbol, `--at` each hunk's lines), running `patchpack test`,
  editing, and landing through `patchpack split` and `apply --all`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from session.tasks import Edit, Task

PUPPY_READ_CHARS = 9_000  # under Code Puppy's 10,000-character tool output limit
CLAUDE_READ_LINES = 2_000  # Claude Code's Read returns up to 2,000 lines a call
AT_MARGIN = 3  # lines of margin around a hunk asked for with --at
SHELL_TIMEOUT = 300  # seconds Code Puppy's shell tool waits for a test run


def grep_pattern(task: Task) -> str:
    """The symbol as a regular expression both ripgrep and `git grep -E` read the same way."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", task.symbol)


def windows(text: str, limit: int) -> list[tuple[int, int]]:
    """(start line, number of lines) pieces of ``text`` of at most ``limit`` characters each."""
    pieces: list[tuple[int, int]] = []
    start, size, count = 1, 0, 0
    for line in text.splitlines(keepends=True):
        if count and size + len(line) > limit:
            pieces.append((start, count))
            start, size, count = start + count, 0, 0
        size += len(line)
        count += 1
    if count:
        pieces.append((start, count))
    return pieces


def at_ranges(edits: Sequence[Edit]) -> list[str]:
    """`--at FILE:START-END` for each hunk's old lines with a margin, overlapping ones joined."""
    ranges: list[tuple[str, int, int]] = []
    for edit in sorted(edits, key=lambda e: (e.path, e.old_start)):
        start = max(1, edit.old_start - AT_MARGIN)
        end = edit.old_start + edit.old_lines - 1 + AT_MARGIN
        if ranges and ranges[-1][0] == edit.path and start <= ranges[-1][2] + 1:
            ranges[-1] = (edit.path, ranges[-1][1], max(end, ranges[-1][2]))
        else:
            ranges.append((edit.path, start, end))
    return [f"--at {shlex.quote(f'{path}:{a}-{b}')}" for path, a, b in ranges]


def _by_file(task: Task) -> list[tuple[str, list[Edit]]]:
    return [(path, [e for e in task.edits if e.path == path]) for path in task.paths]


def _files(task: Task) -> str:
    return " ".join(shlex.quote(p) for p in task.paths)


def _tests(task: Task) -> str:
    return " ".join(shlex.quote(t) for t in task.tests)


def _message(task: Task) -> str:
    return shlex.quote(task.subject)


