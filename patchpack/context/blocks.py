"""Blocks of code: line ranges, and what Python's ``ast`` says of a module (its defs and
classes with their scopes, the names it reads but binds nowhere). No I/O: lines in, blocks out."""

from __future__ import annotations

import ast
import builtins
from collections.abc import Sequence
from dataclasses import dataclass, replace

DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# Nodes that bind their ``name`` (type parameters from Python 3.12 on).
_NAMED = tuple(getattr(ast, kind) for kind in (
    "FunctionDef", "AsyncFunctionDef", "ClassDef", "ExceptHandler", "MatchAs", "MatchStar",
    "TypeVar", "ParamSpec", "TypeVarTuple") if hasattr(ast, kind))
# Names every module reads without binding them.
_MODULE_NAMES = frozenset({"__name__", "__file__", "__doc__", "__spec__", "__loader__",
                           "__package__", "__builtins__", "__path__", "__annotations__",
                           "__dict__", "__class__", "__debug__"})


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
            blocks.append(Block(start, node.end_lineno or node.lineno, f"{kind} {node.name}",
                                node.lineno))
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
                own = [(m.lineno, m.end_lineno or m.lineno) for m in child.body
                       if not isinstance(m, DEFS)]
                found.append(Scope(start, end, name, "class", ((start, header), *own)))
            else:
                found.append(Scope(start, end, name, "def"))
            visit(child, name + ".")

    visit(tree, "")
    return tuple(found)
