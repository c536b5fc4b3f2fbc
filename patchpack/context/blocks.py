"""Blocks of code: line ranges, and what Python's ``ast`` says of a module (its defs and
classes with their scopes, the names it reads but binds nowhere). No I/O: lines in, blocks out."""

from __future__ import annotations

import ast
import builtins
from collections.abc import Sequence
from dataclasses import dataclass, replace

DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# Nodes that bind their ``name`` (type parameters from Python 3.12 on).
_NAMED = tuple(
    getattr(ast, kind)
    for kind in (
        "FunctionDef",
        "AsyncFunctionDef",
        "ClassDef",
        "ExceptHandler",
        "MatchAs",
        "MatchStar",
        "TypeVar",
        "ParamSpec",
        "TypeVarTuple",
    )
    if hasattr(ast, kind)
)
# Names every module reads without binding them.
_MODULE_NAMES = frozenset(
    {
        "__name__",
        "__file__",
        "__doc__",
        "__spec__",
        "__loader__",
        "__package__",
        "__builtins__",
        "__path__",
        "__annotations__",
        "__dict__",
        "__class__",
        "__debug__",
    }
)


@dataclass(frozen=True)
class Block:
    start: int
    end: int
    label: str = ""
    head: int = 0
    """The line that names a labelled block (``def``/``class``, the header), 0 if none."""


def first_line(node: ast.stmt) -> int:
    """Where a statement starts, a def's or class's decorators included."""
    return min([node.lineno, *(int(d.lineno) for d in getattr(node, "decorator_list", ()))])


def parse(lines: Sequence[str]) -> ast.Module | None:
    """The ``ast`` of Python lines; None if they do not parse."""
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):
        return None


def python_blocks(tree: ast.Module) -> list[Block]:
    """Every function and class of a Python module (decorators included)."""
    blocks = []
    for node in ast.walk(tree):
        if isinstance(node, DEFS):
            kind = "class" if isinstance(node, ast.ClassDef) else "def"
            start = first_line(node)
            blocks.append(Block(start, node.end_lineno or node.lineno, f"{kind} {node.name}", node.lineno))
    # Statements at module level, for hits outside any function.
    for node in tree.body:
        if not isinstance(node, DEFS):
            blocks.append(Block(node.lineno, node.end_lineno or node.lineno))
    return blocks


def cut(block: Block, line: int, cap: int) -> Block:
    """``block`` cut to at most ``cap`` lines holding ``line``, its start kept if it can."""
    if block.end - block.start + 1 <= cap:
        return block
    start = block.start if line - block.start < cap else max(block.start, line - cap // 2)
    return replace(block, start=start, end=min(block.end, start + cap - 1))


@dataclass(frozen=True)
class Scope:
    """A Python def or class: its lines (decorators included) and its qualified name."""

    start: int
    end: int
    name: str
    """Dotted through the classes and functions around it: ``Class.method``."""
    kind: str
    """``def`` or ``class``."""
    members: tuple[tuple[int, int], ...] = ()
    """A class's header and own statements (attributes, docstring), not its methods nor the
    blank lines and comments between them."""

    @property
    def block(self) -> Block:
        return Block(self.start, self.end, f"{self.kind} {self.name}")


def python_scopes(source: str) -> tuple[Scope, ...] | None:
    """Every def and class of a Python source, outermost first; None if it won't parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    found: list[Scope] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):  # defs under if/try/with count too
            if not isinstance(child, DEFS):
                visit(child, prefix)
                continue
            name = prefix + child.name
            start = first_line(child)
            end = child.end_lineno or child.lineno
            if isinstance(child, ast.ClassDef):
                bases: list[ast.expr | ast.keyword] = [*child.bases, *child.keywords]  # may span lines
                header = max([child.lineno, *(b.end_lineno or b.lineno for b in bases)])
                own = [(m.lineno, m.end_lineno or m.lineno) for m in child.body if not isinstance(m, DEFS)]
                found.append(Scope(start, end, name, "class", ((start, header), *own)))
            else:
                found.append(Scope(start, end, name, "def"))
            visit(child, name + ".")

    visit(tree, "")
    return tuple(found)


def function_of(scopes: Sequence[Scope], line: int) -> Scope | None:
    """What function context widens ``line`` to: the innermost def around it; else the class
    whose own statement (an attribute, not a method nor a blank line between them) holds it;
    else None, at module level or between definitions."""
    holding = [
        s
        for s in scopes
        if s.start <= line <= s.end and (s.kind == "def" or any(a <= line <= b for a, b in s.members))
    ]
    return max(holding, key=lambda s: s.start, default=None)


def unbound(tree: ast.Module) -> set[int]:
    """The lines that read a name the module binds nowhere: no import, assignment, ``def``,
    ``class``, parameter or other target binds it, and it is not a builtin. Code that parses
    and runs has few (an annotation under ``from __future__ import annotations``, a name
    left behind when its import went); a change that names one likely fixes it. Nothing for a
    module that imports ``*``, which may bind anything."""
    bound = set(dir(builtins)) | _MODULE_NAMES
    reads: dict[str, set[int]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                reads.setdefault(node.id, set()).add(node.lineno)
            else:
                bound.add(node.id)
        elif isinstance(node, ast.alias):
            if node.name == "*":
                return set()
            bound.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
        elif isinstance(node, _NAMED) and node.name:
            bound.add(node.name)
    return {n for name, lines in reads.items() if name not in bound for n in lines}


def import_block(tree: ast.Module) -> Block | None:
    """The lines from the first to the last import before the first def or class."""
    found = []
    for stmt in tree.body:
        if isinstance(stmt, DEFS):
            break
        if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(stmt)):
            found.append(stmt)  # an import, or an `if TYPE_CHECKING:`/`try:` around imports
    if not found:
        return None
    return Block(found[0].lineno, found[-1].end_lineno or found[-1].lineno)


def defines(stmt: ast.stmt) -> tuple[str, list[str]]:
    """What a module-level statement defines: how to call it, and the names it binds."""
    if isinstance(stmt, DEFS):
        kind = "class" if isinstance(stmt, ast.ClassDef) else "def"
        return f"{kind} {stmt.name}", [stmt.name]
    targets = (
        stmt.targets
        if isinstance(stmt, ast.Assign)
        else [stmt.target]
        if isinstance(stmt, ast.AnnAssign)
        else []
    )
    names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return ", ".join(names), names


def symbol(lines: Sequence[str], name: str) -> Block | None:
    """The def or class named ``name`` (dotted for nesting: ``Class.method``) in Python lines."""
    tree = parse(lines)
    if tree is None:
        return None
    scope: list[ast.stmt] = tree.body
    found: ast.stmt | None = None
    for part in name.split("."):
        found = next((node for node in scope if isinstance(node, DEFS) and node.name == part), None)
        if found is None:
            return None
        scope = found.body
    assert isinstance(found, DEFS)
    start = first_line(found)
    kind = "class" if isinstance(found, ast.ClassDef) else "def"
    return Block(start, found.end_lineno or found.lineno, f"{kind} {name}")
