"""Widening: the code around located hunks, in order of likely use, for ``context --fill``.

A pack asked to fill its budget spends what the diff, the located hunks and the ranges leave
on the rest of the files the located hunks sit in, a unit at a time. A unit is a top-level
function, a method, a class's header and own statements, a run of module-level statements (for
Python, from ``ast``), or a paragraph: the lines from one unindented line after a blank line to
the next (other languages, and Python that does not parse); each cut into pieces of at most
``--max-hunk-lines``. Units come in this order (:func:`plan`):

0. the rest of the block a match sits in, where ``--max-hunk-lines`` cut it, nearest first;
1. the class around a matched method: its header and own statements;
2. the functions a matched block calls, and those that call a function that matched (Python);
3. the neighbours of matched blocks, one unit further out at a time in every file, until the
   file is whole.

Within a step, the files with the strongest located hunks come first. A file longer than
``--max-file-lines`` is widened only while the pack shows fewer than that many of its lines:
fill never sends a whole large file.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from patchpack import locate

# Steps of the order in the module doc.
REST, CLASS, CALLS, NEAR = range(4)


@dataclass(frozen=True)
class Unit:
    """Lines of a file that fill may add whole."""

    path: str
    start: int
    end: int
    label: str
    """What the lines hold (``def f``, ``class C``) and why they come (``callee of def g``)."""


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    label: str
    name: str = ""
    """How code reads the function or class (:func:`_loads`): ``name`` at module level,
    ``.name`` in a class; empty for other lines."""
    cls: str = ""
    """The dotted name of the class a method belongs to."""
    node: ast.AST | None = None


def plan(root: Path, ranked: Sequence[locate.Hunk], *, cap: int) -> tuple[
        list[Unit], dict[str, list[str]]]:
    """Units around the ``ranked`` hunks (strongest first) in the order of the module doc,
    with the lines of every file they come from."""
    order: dict[str, int] = {}
    for h in ranked:
        order.setdefault(h.path, len(order))
    keyed: list[tuple[tuple[int, ...], Unit]] = []
    texts: dict[str, list[str]] = {}
    for path, rank in order.items():
        try:
            lines = locate.read_lines(root, path)
        except locate.Unreadable:
            continue
        texts[path] = lines
        hits = sorted({n for h in ranked if h.path == path for n in h.hits if n <= len(lines)})
        keyed += [((step, rank, *rest), Unit(path, start, end, label))
                  for (step, *rest), start, end, label in _ordered(path, lines, hits, cap=cap)]
    keyed.sort(key=lambda kv: (kv[0], kv[1].start))
    return [unit for _, unit in keyed], texts


def _ordered(path: str, lines: Sequence[str], hits: Sequence[int], *, cap: int,
             ) -> Iterable[tuple[tuple[int, ...], int, int, str]]:
    """(key, start, end, label) of each piece of one file: key (step, ring, nearness)."""
    tree = _parse(lines) if path.endswith((".py", ".pyi")) else None
    pieces = _python_pieces(tree, lines) if tree is not None else _paragraphs(lines)
    if not pieces or not hits:
        return
    at = [next((i for i, p in enumerate(pieces) if p.start <= n <= p.end), None) for n in hits]
    matched = sorted({i for i in at if i is not None})
    if not matched:  # hits only between pieces (blank lines, comments): the nearest piece
        matched = [min(range(len(pieces)), key=lambda i: min(
            abs(pieces[i].start - n) for n in hits))]
    names = {pieces[i].name for i in matched if pieces[i].name}
    classes = {pieces[i].cls for i in matched if pieces[i].cls}
    used = set().union(*(_loads(pieces[i].node) for i in matched))
    for i, piece in enumerate(pieces):
        near = min(abs(i - j) for j in matched)
        calls = sorted(n.lstrip(".") for n in _loads(piece.node) & names)
        if near == 0:
            step, why = REST, "rest"
        elif piece.label.startswith("class") and piece.cls in classes:
            step, why = CLASS, "its class"
        elif piece.name and piece.name in used:
            step, why = CALLS, "called"
        elif calls:
            step, why = CALLS, "calls " + ", ".join(calls)
        else:
            step, why = NEAR, "near"
        label = f"{piece.label} [{why}]" if piece.label else f"[{why}]"
        for start, end in _cut(piece.start, piece.end, cap):
            distance = min(0 if start <= n <= end else min(abs(start - n), abs(end - n))
                           for n in hits)
            yield (step, near if step == NEAR else 0, distance), start, end, label


def _cut(start: int, end: int, cap: int) -> list[tuple[int, int]]:
    return [(s, min(end, s + cap - 1)) for s in range(start, end + 1, cap)]


def _parse(lines: Sequence[str]) -> ast.Module | None:
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):
        return None


def _loads(node: ast.AST | None) -> set[str]:
    """The names a piece of code reads: ``name`` for a variable, ``.name`` for an attribute,
    so that a method is called through an attribute and a module-level function by name."""
    if node is None:
        return set()
    return {n.id if isinstance(n, ast.Name) else "." + n.attr for n in ast.walk(node)
            if isinstance(n, ast.Name | ast.Attribute) and isinstance(n.ctx, ast.Load)}


def _python_pieces(tree: ast.Module, lines: Sequence[str]) -> list[_Piece]:
    """Top-level functions, methods, class headers with their own statements, and runs of other
    statements, each with the comments right above it, in file order."""
    pieces: list[_Piece] = []

    def walk(body: Sequence[ast.stmt], cls: str) -> None:
        run: list[ast.stmt] = []

        def flush() -> None:
            if run:
                end = run[-1].end_lineno or run[-1].lineno
                label = f"class {cls}" if cls else _first(run[0], lines)
                pieces.append(_Piece(run[0].lineno, end, label, cls=cls,
                                     node=ast.Module(body=list(run), type_ignores=[])))
                run.clear()

        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                flush()
                name = f"{cls}.{stmt.name}" if cls else stmt.name
                first = stmt.body[0]
                own = [] if isinstance(first, locate.DEFS) else [first]
                header_end = (first.end_lineno or first.lineno) if own else (
                    locate.first_line(first) - 1)
                # What the header runs: its decorators, bases and first statement.
                header = ast.Module(body=[*own, *(ast.Expr(e) for e in (
                    *stmt.decorator_list, *stmt.bases))], type_ignores=[])
                pieces.append(_Piece(locate.first_line(stmt), header_end, f"class {name}",
                                     _read_as(stmt.name, cls), cls=name, node=header))
                walk(stmt.body[len(own):], name)
            elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                flush()
                name = f"{cls}.{stmt.name}" if cls else stmt.name
                pieces.append(_Piece(locate.first_line(stmt), stmt.end_lineno or stmt.lineno,
                                     f"def {name}", _read_as(stmt.name, cls), cls=cls,
                                     node=stmt))
            else:
                run.append(stmt)
        flush()

    walk(tree.body, "")
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
    return [_Piece(start, end, p.label, p.name, p.cls, p.node)
            for start, end, p in zip(starts, ends, pieces)]


def _read_as(name: str, cls: str) -> str:
    return "." + name if cls else name


def _first(stmt: ast.stmt, lines: Sequence[str]) -> str:
    return lines[stmt.lineno - 1].strip()[:50]


_UNINDENTED = re.compile(r"\S")


def _paragraphs(lines: Sequence[str]) -> list[_Piece]:
    """Runs of lines from one unindented line after a blank line to the next: a function, a
    type, a section of a document."""
    starts = [i + 1 for i, text in enumerate(lines)
              if _UNINDENTED.match(text) and (i == 0 or not lines[i - 1].strip())]
    if not starts or starts[0] != 1:
        starts.insert(0, 1)
    return [_Piece(start, after - 1, lines[start - 1].strip()[:50])
            for start, after in zip(starts, [*starts[1:], len(lines) + 1])]
