"""Find the code an agent needs: grep hits widened to their enclosing block, explicit ranges.

Python blocks come from ``ast`` (the innermost function or class around a line); other
languages get an indentation and brace heuristic (the innermost enclosing block that is not
control flow nor a continued expression). Line numbers are 1-based and ranges inclusive.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from patchpack import git
from patchpack.context.blocks import (
    DEFS,
    Block,
    cut,
    defines,
    first_line,
    import_block,
    parse,
    python_blocks,
    symbol,
    unbound,
)
from patchpack.errors import BadInput, Failed
from patchpack.git.files import Private, Worktree

# Lines of context around a hit that sits in no block (a blank line, a top-level statement).
_AROUND = 3
# A block header that is control flow, not the function or type an agent needs whole.
_CONTROL = re.compile(
    r"\s*(?:\}\s*)?(?:if|else|elif|elsif|for|foreach|while|do|switch|case|default|try|catch|"
    r"except|finally|with|unless|until|loop|match|select|when|begin|rescue|ensure)\b"
)
# A line that continues an expression on the next lines (call arguments, operators).
_CONTINUED = re.compile(r"(?:[(,\\+\-*/%&|.]|&&|\|\||=)\s*$")
# A function or class the located code uses is shown whole up to this many lines, else only
# its signature: what calling it needs, at a cost that does not grow with its body.
_WHOLE = 12
_CLOSER = re.compile(r"\s*(?:[})\]]|end\b|fi\b|done\b|esac\b|</)")


@dataclass(frozen=True)
class Hunk:
    """A range of a work tree file, with why it is there."""

    path: str
    start: int
    end: int
    text: str
    """The lines ``start..end``, each ending with a newline."""
    label: str = ""
    """The enclosing block (``def name``, ``class Name``), when known."""
    hits: tuple[int, ...] = ()
    """The lines that matched a pattern."""
    patterns: tuple[str, ...] = ()
    defines: tuple[str, ...] = ()
    """The patterns that hit the line naming a block of the hunk (its ``def``, its header):
    the hunk defines what was searched for."""
    unbound: tuple[str, ...] = ()
    """The patterns that hit a line reading a name its Python file binds nowhere
    (:func:`unbound`): what a change most likely fixes there, as with a missing import."""
    heads: tuple[int, ...] = ()
    """The lines naming the blocks its hits sit in (``def``, ``class``, a header line)."""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.start}-{self.end}"


@dataclass(frozen=True)
class Located:
    hunks: tuple[Hunk, ...]
    notes: tuple[str, ...]
    """Files skipped (binary, not UTF-8) and what was capped."""
    unmatched: tuple[str, ...]
    """Patterns that matched nothing."""
    related: tuple[Hunk, ...] = ()
    """What the located Python code uses from its own file (:func:`related`)."""


# -- reading files ----------------------------------------------------------------------------


class Unreadable(Exception):
    """A file that is not text patchpack can show (binary, not UTF-8, missing)."""


def read_lines(tree: Worktree, path: str) -> list[str]:
    """The lines of a work tree file without their newlines; Unreadable if it is not UTF-8 text,
    or a symlink takes it out of the work tree or into a git dir (:class:`Worktree`)."""
    try:
        real = tree.real(path)
    except Private as e:
        where = "into the git directory" if e.git_dir else "out of the work tree"
        raise Unreadable(f"{path}: a symlink {where}, skipped") from None
    try:
        data = (tree.root / real).read_bytes()
    except OSError as e:
        raise Unreadable(f"{path}: cannot read ({e.strerror})") from None
    if b"\0" in data[:8000]:
        raise Unreadable(f"{path}: binary file skipped")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable(f"{path}: not UTF-8, skipped") from None
    found = text.split("\n")
    return found[:-1] if found[-1] == "" else found


def _hunk(path: str, lines: Sequence[str], start: int, end: int, **extra: object) -> Hunk:
    text = "".join(line + "\n" for line in lines[start - 1 : end])
    return Hunk(path, start, end, text, **extra)  # type: ignore[arg-type]


# -- blocks -----------------------------------------------------------------------------------


def enclosing(path: str, lines: Sequence[str], line: int, *, py_blocks: list[Block] | None = None) -> Block:
    """The block around ``line``: Python's innermost def/class, else the heuristic's block."""
    if py_blocks is not None:
        around = [b for b in py_blocks if b.start <= line <= b.end]
        if around:
            # Nested blocks start later; a def beats a statement at the same place.
            return max(around, key=lambda b: (b.start, -b.end, bool(b.label)))
        return _around(lines, line)
    return _heuristic(lines, line)


def block_for(
    path: str, lines: Sequence[str], line: int, *, cap: int, py_blocks: list[Block] | None = None
) -> Block:
    """:func:`enclosing` cut to at most ``cap`` lines holding ``line``, its start kept if it can."""
    return cut(enclosing(path, lines, line, py_blocks=py_blocks), line, cap)


def _around(lines: Sequence[str], line: int) -> Block:
    return Block(max(1, line - _AROUND), min(len(lines), line + _AROUND))


def _indent(text: str) -> int:
    expanded = text.expandtabs(8)
    return len(expanded) - len(expanded.lstrip())


def _heuristic(lines: Sequence[str], line: int) -> Block:
    """Indentation and braces: the innermost enclosing block that is a function or type."""
    n = len(lines)
    blank = [not text.strip() for text in lines]

    def opens(i: int) -> bool:  # 0-based: the next non-blank line is indented deeper
        j = i + 1
        while j < n and blank[j]:
            j += 1
        return j < n and _indent(lines[j]) > _indent(lines[i])

    def header_start(i: int) -> int:  # a lone "{" belongs to the line above it
        if lines[i].strip() == "{":
            j = i - 1
            while j >= 0 and blank[j]:
                j -= 1
            return max(j, 0)
        return i

    def end_of(i: int) -> int:
        level, last, j = _indent(lines[i]), i, i + 1
        while j < n and (blank[j] or _indent(lines[j]) > level):
            last = j if not blank[j] else last
            j += 1
        if j < n and _indent(lines[j]) == level and _CLOSER.match(lines[j]):
            last = j
        return last

    hit = line - 1
    headers = [hit] if not blank[hit] and opens(hit) else []
    level = _indent(lines[hit]) if not blank[hit] else 1 << 30
    i = hit
    while level > 0:
        i -= 1
        while i >= 0 and (blank[i] or _indent(lines[i]) >= level):
            i -= 1
        if i < 0:
            break
        headers.append(i)
        level = _indent(lines[i])
    for h in headers:
        first = lines[header_start(h)]
        if not _CONTROL.match(first) and not _CONTINUED.search(first):
            start = header_start(h) + 1
            return Block(start, end_of(h) + 1, first.strip()[:60], start)
    if headers:
        return Block(header_start(headers[-1]) + 1, end_of(headers[-1]) + 1)
    return _around(lines, line)


def merge(blocks: Iterable[Block]) -> list[Block]:
    """Overlapping or adjacent ranges merged, in line order, their labels joined."""
    out: list[Block] = []
    for b in sorted(blocks, key=lambda b: (b.start, b.end)):
        if out and b.start <= out[-1].end + 1:
            last = out[-1]
            if b.end <= last.end:  # inside the block already there: its label says it all
                continue
            label = ", ".join(x for x in (last.label, b.label) if x)
            out[-1] = Block(last.start, b.end, label)
        else:
            out.append(b)
    return out


# -- grep -------------------------------------------------------------------------------------


def locate(
    repo: git.Repo,
    patterns: Sequence[str],
    *,
    paths: Sequence[str] = (),
    cap: int = 80,
    with_related: bool = False,
) -> Located:
    """Each pattern's matches in tracked files, widened to their blocks and merged per file;
    with ``with_related``, what the Python hunks use from their file (:func:`related`)."""
    work = Worktree.of(repo)
    hits: dict[str, dict[int, set[str]]] = {}
    notes: list[str] = []
    unmatched = []
    for pattern in patterns:
        found = git.grep(repo, pattern, paths=paths)
        if not found.hits and not found.binary:
            unmatched.append(pattern)
        notes += [f"{path}: binary file skipped" for path in found.binary]
        for hit in found.hits:
            hits.setdefault(hit.path, {}).setdefault(hit.line, set()).add(pattern)
    hunks: list[Hunk] = []
    extra: list[Hunk] = []
    for path in sorted(hits):
        try:
            lines = read_lines(work, path)
        except Unreadable as e:
            notes.append(str(e))
            continue
        tree = parse(lines) if path.endswith((".py", ".pyi")) else None
        py = python_blocks(tree) if tree is not None else None
        loose = unbound(tree) if tree is not None else set()
        by_line = hits[path]
        blocks = [
            block_for(path, lines, n, cap=cap, py_blocks=py) for n in sorted(by_line) if n <= len(lines)
        ]
        heads = {b.head for b in blocks}
        first = len(hunks)
        for b in merge(blocks):
            inside = sorted(n for n in by_line if b.start <= n <= b.end)
            found_by = sorted({p for n in inside for p in by_line[n]})
            defines = sorted({p for n in inside if n in heads for p in by_line[n]})
            misses = sorted({p for n in inside if n in loose for p in by_line[n]})
            hunks.append(
                _hunk(
                    path,
                    lines,
                    b.start,
                    b.end,
                    label=b.label,
                    hits=tuple(inside),
                    patterns=tuple(found_by),
                    defines=tuple(defines),
                    unbound=tuple(misses),
                    heads=tuple(sorted(n for n in heads if b.start <= n <= b.end)),
                )
            )
        if with_related and tree is not None:
            extra += related(lines, tree, hunks[first:], cap=cap)
    return Located(tuple(hunks), tuple(dict.fromkeys(notes)), tuple(unmatched), tuple(extra))


# -- related: what located Python code uses from its own file ---------------------------------


def related(
    lines: Sequence[str],
    tree: ast.Module,
    hunks: Sequence[Hunk],
    *,
    cap: int,
) -> list[Hunk]:
    """What an agent changing the ``hunks`` of one Python file (``lines``, parsed as ``tree``)
    needs from the rest of it.

    The file's import block (from its first to its last import before the first def or class;
    the module docstring left out) and, one level deep, the module-level functions, classes
    and assignments whose names the hunks' code uses: an assignment whole, a function or
    class whole up to 12 lines, else its signature (decorators included), all cut to ``cap``
    lines. Overlapping or adjacent ones are merged; lines the hunks already show are left out.
    Labelled with what they hold and which hunks use it.
    """

    def users(line: int) -> list[str]:
        return [h.label or f"line {h.start}" for h in hunks if h.start <= line <= h.end]

    used: dict[str, list[str]] = {}  # a name the hunks load -> the hunks that use it
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            used.setdefault(node.id, []).extend(users(node.lineno))
    wanted: list[tuple[Block, tuple[str, ...], tuple[str, ...]]] = []
    imports = import_block(tree)
    if imports is not None:
        wanted.append((imports, ("imports",), ()))
    for stmt in tree.body:
        what, names = defines(stmt)
        readers = [u for name in names for u in used.get(name, ())]
        if readers:
            start = first_line(stmt)
            end = stmt.end_lineno or stmt.lineno
            if isinstance(stmt, DEFS) and end - start >= _WHOLE:
                end, what = max(stmt.lineno, stmt.body[0].lineno - 1), what + " (signature)"
            wanted.append((cut(Block(start, end), start, cap), (what,), tuple(readers)))
    shown = {n for h in hunks for n in range(h.start, h.end + 1)}
    wanted = [w for w in wanted if any(n not in shown for n in range(w[0].start, w[0].end + 1))]
    out: list[Hunk] = []
    for block, whats, by in _merged(wanted):
        label = ", ".join(whats) + (f"; used by {', '.join(dict.fromkeys(by))}" if by else "")
        # What the hunks do not show already, each run of lines a hunk of its own.
        runs: list[list[int]] = []
        for n in range(block.start, block.end + 1):
            if n in shown:
                continue
            if runs and runs[-1][-1] == n - 1:
                runs[-1].append(n)
            else:
                runs.append([n])
        out += [_hunk(hunks[0].path, lines, run[0], run[-1], label=label) for run in runs]
    return out


def _merged(
    wanted: Sequence[tuple[Block, tuple[str, ...], tuple[str, ...]]],
) -> list[tuple[Block, tuple[str, ...], tuple[str, ...]]]:
    """Overlapping or adjacent blocks merged, what they hold and who uses it joined."""
    out: list[tuple[Block, tuple[str, ...], tuple[str, ...]]] = []
    for block, whats, by in sorted(wanted, key=lambda w: (w[0].start, w[0].end)):
        if out and block.start <= out[-1][0].end + 1:
            last, last_whats, last_by = out[-1]
            out[-1] = (Block(last.start, max(last.end, block.end)), last_whats + whats, last_by + by)
        else:
            out.append((block, whats, by))
    return out


# -- explicit ranges --------------------------------------------------------------------------

_RANGE = re.compile(r"(\d+)(?:-(\d+))?")


def at(repo: git.Repo, spec: str, *, max_file_lines: int) -> Hunk:
    """``FILE``, ``FILE:START-END``, ``FILE:LINE`` or ``FILE:SYMBOL`` (a Python def or class).

    A whole file longer than ``max_file_lines`` is refused (exit 1) with how to ask for a part.
    """
    tree = Worktree.of(repo)
    path, sep, where = spec.rpartition(":")
    if not sep or (tree.root / spec).is_file():
        path, where = spec, ""
    try:
        rel = tree.real(path)
    except Private as e:
        if not e.git_dir:
            raise BadInput(f"--at {spec}: {path} is outside the repository") from None
        raise BadInput(
            f"--at {spec}: {path} is inside the git directory; patchpack never packs "
            "git's own files (its config holds credentials in remote URLs)",
            hint="give a file of the work tree, e.g. `--at README.md:1-40`",
        ) from None
    if not (tree.root / rel).is_file():
        raise BadInput(
            f"--at {spec}: no such file {path}", hint="give a path relative to the repository root"
        )
    try:
        lines = read_lines(tree, rel)
    except Unreadable as e:
        raise BadInput(f"--at {spec}: {e}") from None
    if not where:
        if len(lines) > max_file_lines:
            raise Failed(
                f"{rel} has {len(lines)} lines, over --max-file-lines {max_file_lines}: "
                "patchpack does not send whole large files",
                hint=f"ask for the part you need: `--at {rel}:1-{min(len(lines), 80)}`, "
                f"`--at {rel}:SYMBOL` or `--grep PATTERN --path {rel}`",
            )
        return _hunk(rel, lines, 1, len(lines), label="whole file")
    match = _RANGE.fullmatch(where)
    if match:
        start = int(match[1])
        end = min(int(match[2] or start), len(lines))
        if start < 1 or start > end:
            raise BadInput(
                f"--at {spec}: bad range for a file of {len(lines)} lines",
                hint=f"give START-END with 1 <= START <= END, e.g. `--at {rel}:1-40`",
            )
        return _hunk(rel, lines, start, end)
    if not rel.endswith((".py", ".pyi")):
        raise BadInput(
            f"--at {spec}: FILE:SYMBOL works for Python files only",
            hint=f"give a line range, e.g. `--at {rel}:1-40`, or `--grep {where}`",
        )
    block = symbol(lines, where)
    if block is None:
        raise Failed(
            f"--at {spec}: no def or class {where} in {rel}",
            hint=f"find it with `patchpack context --grep '{where}' --path {rel}`",
        )
    return _hunk(rel, lines, block.start, block.end, label=block.label)
