"""A whole read of a large file narrowed to the part the agent is after (#18).

What the agent is after is in the session's recent context: the task prompt, a grep result,
a test failure. A ``file:line`` there that names the file (``tests/test_a.py:42``, a
traceback's ``File "a.py", line 42``) gives the block around that line; else a def or class of
the file that the text names gives that block; both located by context/locate.py, as
`patchpack context --at` does. The newest text is tried first. With nothing named, the read
keeps the file's first lines, and the note gives an outline of the rest (each def and class
with its line number) and the exact ``read_file`` call that reads more.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from patchpack.context import locate
from patchpack.context.blocks import cut, parse, python_blocks

# `path:line` (grep -n, pytest, compilers) or a Python traceback's `File "path", line N`.
_FILE_LINE = re.compile(r"""(?:File ")?([\w./-]*[\w-]\.\w+)(?::|", line )(\d+)""")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OUTLINE = re.compile(r"\s*(?:async\s+def|def|class|function|func|fn|interface|struct)\s+\w")
OUTLINE_MAX = 40
"""Outline lines at most: an outline of a huge file must not cost what the file would."""


@dataclass(frozen=True)
class Part:
    start: int
    end: int
    why: str
    """What located it: ``line 42 (def parse), named in the context``."""


def _names_file(mentioned: str, rel: str) -> bool:
    mentioned = mentioned.replace("\\", "/").lstrip("./")
    return mentioned == rel or mentioned.endswith("/" + rel) or rel.endswith("/" + mentioned)


def _plain(text: str) -> str:
    # A tool's output comes as JSON (a shell's stdout and stderr): its "\\n" would glue an
    # "n" to the path after it.
    try:
        fields = json.loads(text)
    except ValueError:
        return text
    if not isinstance(fields, dict):
        return text
    return "\n".join(v for v in fields.values() if isinstance(v, str))


def wanted(rel: str, lines: Sequence[str], recent: Sequence[str], *, cap: int) -> Part | None:
    """The part of ``rel`` (its ``lines``) that ``recent`` texts (oldest first) point at, at
    most ``cap`` lines; None when they name none of it."""
    tree = parse(lines) if rel.endswith(".py") else None
    blocks = python_blocks(tree) if tree is not None else None
    defined = {b.label.split()[1]: b for b in blocks or () if b.label}
    for text in map(_plain, reversed(recent)):
        for path, number in _FILE_LINE.findall(text):
            line = int(number)
            if _names_file(path, rel) and 1 <= line <= len(lines):
                block = locate.block_for(rel, lines, line, cap=cap, py_blocks=blocks)
                label = f" ({block.label})" if block.label else ""
                return Part(block.start, block.end, f"line {line}{label}, named in the context")
        for name in _NAME.findall(text):
            found = defined.get(name) if len(name) > 2 else None
            if found is not None:
                block = cut(found, found.head or found.start, cap)
                return Part(block.start, block.end, f"{found.label}, named in the context")
    return None


def outline(lines: Sequence[str], after: int) -> list[str]:
    """The def and class lines past line ``after``, each with its number (``  120: def f``)."""
    found = [
        f"{n:>6}: {line.strip()}" for n, line in enumerate(lines, 1) if n > after and _OUTLINE.match(line)
    ]
    if len(found) > OUTLINE_MAX:
        found = [*found[:OUTLINE_MAX], f"  ... {len(found) - OUTLINE_MAX} more"]
    return found


def call(path: str, start: int, count: int) -> str:
    """The exact ``read_file`` call that reads ``count`` lines from ``start``."""
    return f"read_file(file_path={json.dumps(path)}, start_line={start}, num_lines={count})"
