"""Widening: the code around located hunks, in order of likely use, for ``context --fill``.

A pack asked to fill its budget spends what the diff, the located hunks and the ranges leave
on the rest of the files the located hunks sit in, a unit at a time. A unit is a top-level
function, a method, a class's header and own statements, a run of module-level statements (for
Python, from ``ast``), or a paragraph: the lines from one unindented line after a blank line to
the next (other languages, and Python that does not parse); each cut into pieces of at most
``--max-hunk-lines``. Units come in this order (:func:`plan`), which follows where commits
that name a function also change their files:

0. each file's header: the module docstring and imports (the first paragraph, and the
   ``import``/``#include``/``use`` paragraphs after it, in other languages): cheap, and where a
   change that uses something new starts;
1. each file's end, where new code is appended: the last test of a test file (the style a new
   test copies), the last lines of other files (the context a diff that appends needs);
   then the last test of the test files that pair with each file (:func:`paired_tests`),
   where a commit that changes a module adds its test, though it names nothing in it;
2. module-level statements (constants, ``__all__``), nearest the hits first;
3. the rest of the block a match sits in, where ``--max-hunk-lines`` cut it, nearest first;
4. the class around a matched method: its header and own statements;
5. the functions a matched block calls and those that call it (Python), then theirs, one
   level at a time;
6. the neighbours of matched blocks, one unit further out at a time, until the file is whole.

Within a step (and a level or ring), the files with the strongest located hunks come first.
Steps 5 and 6 go file by file when one file's hit is stronger than another's (``strength``):
the stronger file's call tree and neighbours all come before the weaker file's, so the file a
change most likely edits is finished first; files whose hits are as strong fill together, a
level or ring at a time. A test file's other tests come last of all.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from patchpack.context import blocks, locate
from patchpack.git.files import Worktree

# Steps of the order in the module doc.
HEAD, TAIL, PAIRED, MODULE, REST, CLASS, CALLS, NEAR = range(8)
# The end of a file that is not a test: as many lines as a diff appending there shows.
_TAIL_LINES = 3
# Rings past this are a test file's other tests: they come after every other unit.
_LAST = 1 << 16
_TEST_FILE = re.compile(r"(^|/)(tests?|spec)/|(^|/)test_[^/]*$|_test\.\w+$|\.(test|spec)\.\w+$")
# How a module's tests are named after it (pytest, Go, Jest/Vitest, JUnit), in any directory.
_TEST_NAMES = (
    "test_{stem}{ext}",
    "{stem}_test{ext}",
    "{stem}.test{ext}",
    "{stem}.spec{ext}",
    "{stem}Test{ext}",
    "{stem}Tests{ext}",
)
# Directories that hold tests: they say nothing about which module a test file is for.
_TEST_DIRS = frozenset({"test", "tests", "spec", "specs", "__tests__", "testing"})
# A paragraph of other languages that belongs to the header.
_IMPORTS = re.compile(
    r"\s*(import|from|#\s*include|#\s*import|use|using|require|package|"
    r"extern crate|@import)\b"
)


@dataclass(frozen=True)
class Unit:
    """Lines of a file that fill may add whole."""

    path: str
    start: int
    end: int
    label: str
    """What the lines hold (``def f``, ``class C``) and why they come (``called by g``)."""


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    label: str
    kind: str = "code"
    """``head`` (docstring and imports), ``module`` (other module-level statements),
    ``class`` (a class's header and own statements), ``def`` or ``code``."""
    name: str = ""
    """How code reads the function or class (:func:`_loads`): ``name`` at module level,
    ``.name`` in a class; empty for other lines."""
    cls: str = ""
    """The dotted name of the class a method belongs to."""
    node: ast.AST | None = None


def plan(
    tree: Worktree,
    ranked: Sequence[locate.Hunk],
    *,
    cap: int,
    tests: Mapping[str, Sequence[str]] | None = None,
    strength: Callable[[locate.Hunk], tuple[int, ...]] | None = None,
) -> tuple[list[Unit], dict[str, list[str]]]:
    """Units around the ``ranked`` hunks (strongest first) in the order of the module doc,
    with the lines of every file they come from. ``tests`` maps a file to the test files that
    pair with it (:func:`paired_tests`). ``strength`` ranks hunks without tie-breaks (smaller
    is stronger): a file whose strongest hunk is stronger than another's has its call tree and
    neighbours widened before the other's; without it every file's hit is as strong."""
    order: dict[str, int] = {}
    strongest: dict[str, tuple[int, ...]] = {}
    for h in ranked:
        order.setdefault(h.path, len(order))
        strongest.setdefault(h.path, strength(h) if strength else ())
    # Files whose hits are as strong share a tier: they fill together, ring by ring.
    tiers = {value: i for i, value in enumerate(sorted(set(strongest.values())))}
    keyed: list[tuple[tuple[int, ...], Unit]] = []
    texts: dict[str, list[str]] = {}

    def add(key: tuple[int, ...], path: str, start: int, end: int, label: str) -> None:
        # With the blank lines above it too: a change that removes or moves a unit takes
        # them along, and they cost next to nothing.
        while start > 1 and not texts[path][start - 2].strip():
            start -= 1
        keyed.append((key, Unit(path, start, end, label)))

    for path, rank in order.items():
        try:
            lines = locate.read_lines(tree, path)
        except locate.Unreadable:
            continue
        texts[path] = lines
        hits = sorted({n for h in ranked if h.path == path for n in h.hits if n <= len(lines)})
        tier = tiers[strongest[path]]
        for (step, ring, distance), start, end, label in _ordered(path, lines, hits, cap=cap):
            # The cheap steps go across files; the call tree and neighbours tier by tier;
            # a test file's other tests last of all.
            phase = 0 if step < CALLS else 2 if ring >= _LAST else 1
            add((phase, tier if phase == 1 else 0, step, ring, rank, distance), path, start, end, label)
    for path, rank in order.items():
        for test in (tests or {}).get(path, ()):
            if test in texts or test in order:  # a file of its own, or paired already
                continue
            try:
                lines = locate.read_lines(tree, test)
            except locate.Unreadable:
                continue
            if pieces := _pieces(test, lines):
                texts[test] = lines
                add((0, 0, PAIRED, 0, rank, 0), test, *_tail(lines, pieces, cap=cap, test=True, of=path))
    keyed.sort(key=lambda kv: (kv[0], kv[1].path, kv[1].start))
    return [unit for _, unit in keyed], texts


def _ordered(
    path: str,
    lines: Sequence[str],
    hits: Sequence[int],
    *,
    cap: int,
) -> Iterable[tuple[tuple[int, int, int], int, int, str]]:
    """((step, ring, nearness), start, end, label) of each piece of one file."""
    pieces = _pieces(path, lines)
    if not pieces or not hits:
        return
    at = [next((i for i, p in enumerate(pieces) if p.start <= n <= p.end), None) for n in hits]
    matched = sorted({i for i in at if i is not None})
    if not matched:  # hits only between pieces (blank lines, comments): the nearest piece
        matched = [min(range(len(pieces)), key=lambda i: min(abs(pieces[i].start - n) for n in hits))]
    classes = {pieces[i].cls for i in matched if pieces[i].cls}
    levels = _call_levels(pieces, matched)

    def distance(start: int, end: int) -> int:
        return min(0 if start <= n <= end else min(abs(start - n), abs(end - n)) for n in hits)

    test = bool(_TEST_FILE.search(path))
    yield (TAIL, 0, 0), *_tail(lines, pieces, cap=cap, test=test)
    for i, piece in enumerate(pieces):
        near = min(abs(i - j) for j in matched)
        ring = 0
        if piece.kind == "head":
            step, why = HEAD, "header"
        elif near == 0:
            step, why = REST, "rest"
        elif piece.kind == "module":
            step, why = MODULE, "module level"
        elif piece.kind == "class" and piece.cls in classes:
            step, why = CLASS, "its class"
        elif i in levels:
            (ring, why), step = levels[i], CALLS
        else:
            step, why, ring = NEAR, "near", near + (_LAST if test else 0)
        label = f"{piece.label} [{why}]" if piece.label else f"[{why}]"
        for start, end in _cut(piece.start, piece.end, cap):
            yield (step, ring, 0 if step == HEAD else distance(start, end)), start, end, label


def _pieces(path: str, lines: Sequence[str]) -> list[_Piece]:
    tree = blocks.parse(lines) if path.endswith((".py", ".pyi")) else None
    return _python_pieces(tree, lines) if tree is not None else _paragraphs(lines)


def _tail(
    lines: Sequence[str], pieces: Sequence[_Piece], *, cap: int, test: bool, of: str = ""
) -> tuple[int, int, str]:
    """(start, end, label) of a file's end: the last test of a test file (at most ``cap``
    lines of it; ``of``: the file it tests), else the last code lines."""
    last = pieces[-1]
    if test:
        whose = f" of the tests of {of}" if of else ""
        return (max(last.start, last.end - cap + 1), last.end, f"{last.label} [end: last test{whose}]")
    code = max((n for n, text in enumerate(lines, 1) if text.strip()), default=1)
    return max(1, code - _TAIL_LINES + 1), len(lines), "[end of file]"


def paired_tests(paths: Iterable[str], tracked: Iterable[str]) -> dict[str, list[str]]:
    """The test files among ``tracked`` that pair with each of ``paths`` by the usual naming
    (``test_cli.py``, ``cli_test.go``, ``cli.test.ts``, ``CliTest.java``, in any directory),
    the nearest only: those whose directories, test directories aside, differ least from the
    module's. A test file itself pairs with nothing."""
    wanted: dict[str, list[str]] = {}
    for path in paths:
        _folder, _, name = path.rpartition("/")
        stem, dot, ext = name.rpartition(".")
        if dot and stem and not _TEST_FILE.search(path):
            for pattern in _TEST_NAMES:
                wanted.setdefault(pattern.format(stem=stem, ext=dot + ext), []).append(path)
    found: dict[str, list[str]] = {}
    for test in tracked:
        for path in wanted.get(test.rpartition("/")[2], ()):
            found.setdefault(path, []).append(test)

    def apart(path: str, test: str) -> int:
        here = set(path.split("/")[:-1])
        there = set(test.split("/")[:-1]) - _TEST_DIRS
        return len(here ^ there)

    out = {}
    for path, tests in found.items():
        nearest = min(apart(path, t) for t in tests)
        out[path] = sorted(t for t in tests if apart(path, t) == nearest)
    return out


def _call_levels(pieces: Sequence[_Piece], matched: Sequence[int]) -> dict[int, tuple[int, str]]:
    """The pieces the ``matched`` ones call, and theirs (``called by f``), and those that call
    them, and theirs (``calls f``), one level at a time: index -> (level, why). A call tree
    goes one way: the other callers of a callee, siblings of the matched code, are not in it.
    """
    loads = [_loads(p.node) for p in pieces]

    def calls(i: int, j: int) -> bool:
        return bool(pieces[j].name) and pieces[j].name in loads[i]

    found: dict[int, tuple[int, str]] = {}
    for down in (True, False):
        frontier, seen, level = list(matched), set(matched), 0
        while frontier:
            level += 1
            reached: dict[int, str] = {}
            for i in frontier:
                me = pieces[i].name.lstrip(".") or pieces[i].label
                for j in range(len(pieces)):
                    if j not in seen and j not in reached and (calls(i, j) if down else calls(j, i)):
                        reached[j] = f"called by {me}" if down else f"calls {me}"
            for j, why in reached.items():
                if j not in found or found[j][0] > level:
                    found[j] = (level, why)
            seen.update(reached)
            frontier = sorted(reached)
    return found


def _cut(start: int, end: int, cap: int) -> list[tuple[int, int]]:
    return [(s, min(end, s + cap - 1)) for s in range(start, end + 1, cap)]


def _loads(node: ast.AST | None) -> set[str]:
    """The names a piece of code reads: ``name`` for a variable, ``.name`` for an attribute,
    so that a method is called through an attribute and a module-level function by name."""
    if node is None:
        return set()
    return {
        n.id if isinstance(n, ast.Name) else "." + n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Name | ast.Attribute) and isinstance(n.ctx, ast.Load)
    }


def _header_length(run: Sequence[ast.stmt]) -> int:
    """How many statements of a module's first run are its header: the docstring and imports
    (an ``if TYPE_CHECKING:`` or ``try:`` around imports included)."""
    length = 0
    for i, stmt in enumerate(run):
        if isinstance(stmt, blocks.DEFS):
            break
        docstring = (
            i == 0
            and isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        )
        if docstring or any(isinstance(n, ast.Import | ast.ImportFrom) for n in ast.walk(stmt)):
            length = i + 1
    return length


def _python_pieces(tree: ast.Module, lines: Sequence[str]) -> list[_Piece]:
    """The header, top-level functions, methods, class headers with their own statements, and
    runs of other statements, each with the comments right above it, in file order."""
    pieces: list[_Piece] = []

    def add_run(run: Sequence[ast.stmt], cls: str) -> None:
        if not run:
            return
        end = run[-1].end_lineno or run[-1].lineno
        label = f"class {cls}" if cls else _first(run[0], lines)
        pieces.append(
            _Piece(
                run[0].lineno,
                end,
                label,
                "class" if cls else "module",
                cls=cls,
                node=ast.Module(body=list(run), type_ignores=[]),
            )
        )

    def walk(body: Sequence[ast.stmt], cls: str) -> None:
        run: list[ast.stmt] = []
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                add_run(run, cls)
                run = []
                name = f"{cls}.{stmt.name}" if cls else stmt.name
                first = stmt.body[0]
                own = [] if isinstance(first, blocks.DEFS) else [first]
                header_end = (first.end_lineno or first.lineno) if own else (blocks.first_line(first) - 1)
                # What the header runs: its decorators, bases and first statement.
                header = ast.Module(
                    body=[*own, *(ast.Expr(e) for e in (*stmt.decorator_list, *stmt.bases))], type_ignores=[]
                )
                pieces.append(
                    _Piece(
                        blocks.first_line(stmt),
                        header_end,
                        f"class {name}",
                        "class",
                        _read_as(stmt.name, cls),
                        cls=name,
                        node=header,
                    )
                )
                walk(stmt.body[len(own) :], name)
            elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                add_run(run, cls)
                run = []
                name = f"{cls}.{stmt.name}" if cls else stmt.name
                pieces.append(
                    _Piece(
                        blocks.first_line(stmt),
                        stmt.end_lineno or stmt.lineno,
                        f"def {name}",
                        "def",
                        _read_as(stmt.name, cls),
                        cls=cls,
                        node=stmt,
                    )
                )
            else:
                run.append(stmt)
        add_run(run, cls)

    head = _header_length(tree.body)
    if head:
        last = tree.body[head - 1]
        pieces.append(
            _Piece(
                1,
                last.end_lineno or last.lineno,
                "header",
                "head",
                node=ast.Module(body=tree.body[:head], type_ignores=[]),
            )
        )
    walk(tree.body[head:], "")
    pieces.sort(key=lambda p: p.start)
    # Every line in one piece: the comments above a piece belong to it, the blank lines after
    # it too (they cost next to nothing and keep widened hunks whole).
    starts = []
    for i, p in enumerate(pieces):
        start = pieces[i - 1].end + 1 if i else 1
        while start < p.start and not lines[start - 1].strip():
            start += 1
        starts.append(start)
    ends = [s - 1 for s in starts[1:]] + [len(lines)]
    return [
        _Piece(start, end, p.label, p.kind, p.name, p.cls, p.node)
        for start, end, p in zip(starts, ends, pieces)
    ]


def _read_as(name: str, cls: str) -> str:
    return "." + name if cls else name


def _first(stmt: ast.stmt, lines: Sequence[str]) -> str:
    return lines[stmt.lineno - 1].strip()[:50]


_UNINDENTED = re.compile(r"\S")


def _paragraphs(lines: Sequence[str]) -> list[_Piece]:
    """Runs of lines from one unindented line after a blank line to the next: a function, a
    type, a section of a document. The first, and the import paragraphs right after it, are
    the header."""
    starts = [
        i + 1
        for i, text in enumerate(lines)
        if _UNINDENTED.match(text) and (i == 0 or not lines[i - 1].strip())
    ]
    if not starts or starts[0] != 1:
        starts.insert(0, 1)
    pieces: list[_Piece] = []
    for start, after in zip(starts, [*starts[1:], len(lines) + 1]):
        head = not pieces or (pieces[-1].kind == "head" and _IMPORTS.match(lines[start - 1]))
        pieces.append(_Piece(start, after - 1, lines[start - 1].strip()[:50], "head" if head else "code"))
    return pieces
