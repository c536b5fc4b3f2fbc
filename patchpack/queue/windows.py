"""A piece of a large file measured on a window of it, not on the whole file (#15).

`split` measures every piece it cuts with git, as `patchpack check` will measure the commit.
For one large file cut into many pieces, git reads and hashes every line of the file for each
piece: 2,000 pieces of a 5 MB file cost minutes. Both sides of a piece are the same text
before it and after it, so git is given only a window: the piece's lines and enough around
them that git lays the diff out exactly as it would on the whole file. The diff's hunk lines
are then numbered as in the file, and its ``index`` line names the real blobs.

What makes a window exact:

- git slides a run of added or removed lines up or down only over lines equal to lines of the
  run (xdiff's ``group_slide_up``/``down``): a line in neither side of the piece is a wall.
  The window reaches ``_MARGIN`` lines past the nearest wall on each side, more than the
  3 lines of context and the 20 that the indent heuristic reads around a split.
- A hunk header names the nearest line above the hunk that starts with a letter, ``_`` or
  ``$`` (git's default, with no diff driver): the window starts at or above it.
- git sets aside a line that occurs very often in the whole file before it works the diff
  out: the window is padded (``Windower``) so that each line of the piece is classed alike.
- Where either limit is not met nearby (no wall, no such line within ``_SEARCH`` lines), a
  diff driver or diff algorithm is configured, or the window would look binary to git, the
  piece is measured whole, as before.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from patchpack.queue.split import FileWork

MIN_LINES = 2000
"""Files shorter than this (both sides) are diffed whole: git is quick on them."""
_MARGIN = 25
_SEARCH = 2000
_BINARY_PROBE = 8000  # bytes git reads for a NUL to call a text binary
_EQ_LIMIT = 1024  # xdiff's XDL_MAX_EQLIMIT
_INDEX = re.compile(r"^index [0-9a-f]+\.\.[0-9a-f]+", re.MULTILINE)
_HUNK = re.compile(r"^@@ -(\d+)((?:,\d+)?) \+(\d+)((?:,\d+)?) @@", re.MULTILINE)


@dataclass(frozen=True)
class Window:
    """Lines ``start`` to the end of the window of both sides of a piece."""

    start: int
    old: bytes
    new: bytes


class _Side:
    """The file once atoms up to the one ending at new line ``n``, old line ``o`` are in:
    ``new[:n] + old[o:]``, read by line without being joined."""

    def __init__(self, w: FileWork, n: int, o: int) -> None:
        self.w, self.n, self.o = w, n, o

    def line(self, t: int) -> bytes:
        return self.w.new[t] if t < self.n else self.w.old[self.o + t - self.n]

    def text(self, a: int, b: int) -> bytes:
        w, n, o = self.w, self.n, self.o
        out = w.new_text[w.new_at[min(a, n)] : w.new_at[min(b, n)]]
        if b > n:
            out += w.old_text[w.old_at[o + max(a, n) - n] : w.old_at[o + b - n]]
        return out


class Windower:
    """Windows for the pieces of one cut, asked for in order.

    git classes each line of a diff's changed region by how often it occurs in the whole
    other file, against a limit that grows with the file's length (xdiff's
    ``xdl_cleanup_records``: a line found very often is set aside before the diff is worked
    out). A window must class every line of the piece as the whole file does, so it keeps,
    for each file, how often each line occurs as the pieces so far left it, and pads the
    window where needed: copies of a line, and filler lines, above the window (or below it
    when it starts at the top of the file), beyond a wall, where git only trims them."""

    def __init__(self) -> None:
        self._counts: dict[int, tuple[int, Counter[bytes]]] = {}

    def _counts_at(self, w: FileWork, i: int) -> Counter[bytes]:
        found = self._counts.get(id(w))
        at, counts = found if found is not None else (0, Counter(w.old))
        counts.update(_delta(w, at, i))
        self._counts[id(w)] = (i, counts)
        return counts

    def window(self, w: FileWork, i: int, j: int) -> Window | None:
        """The window that measures atoms [i, j) of ``w`` as a piece, or None: measure it
        whole. Pieces of one file must be asked for in order."""
        if w.atomic or w.old_path or len(w.old) + len(w.new) < MIN_LINES:
            return None
        if i == 0 and (w.old_mode is None or w.extra_header):
            return None  # the piece makes the file or changes its mode: its header says so
        if j == len(w.atoms) and w.new_entry is None:
            return None  # the piece deletes the file
        before = _Side(w, *((w.atoms[i - 1].n2, w.atoms[i - 1].o2) if i else (0, 0)))
        after = _Side(w, w.atoms[j - 1].n2, w.atoms[j - 1].o2)
        top = w.atoms[i].n1  # lines above the piece, the same on both sides
        ends = (before.n + after.o - before.o, after.n)  # where the lines below it start
        core = ([before.line(t) for t in range(top, ends[0])], [after.line(t) for t in range(top, ends[1])])
        piece = set(core[0]) | set(core[1])
        wall = top - 1
        while wall >= 0 and after.line(wall) in piece:
            wall -= 1
        start = max(0, wall - _MARGIN)
        named = True
        if start:
            name = _name_line(after, wall - 3)
            if name is None:
                return None
            named = name >= 0
            start = min(start, name) if named else start
        below = len(w.old) - after.o
        wall = 0
        while wall < below and w.old[after.o + wall] in piece:
            wall += 1
        stop = min(below, wall + _MARGIN)
        if not start and stop == below:
            return None  # the window is the whole file
        lines = (
            [before.line(t) for t in range(start, ends[0] + stop)],
            [after.line(t) for t in range(start, ends[1] + stop)],
        )
        counts = self._counts_at(w, i)
        change = _delta(w, i, j)
        whole = (counts, _Plus(counts, change))
        sizes = (len(w.old) + before.n - before.o, len(w.old) + after.n - after.o)
        # A line of the old side is classed by its count in the new side, and the reverse.
        need = (
            {line: _class(whole[1][line], _limit(sizes[0])) for line in core[0]},
            {line: _class(whole[0][line], _limit(sizes[1])) for line in core[1]},
        )
        pad = _padding(need, (Counter(lines[0]), Counter(lines[1])), piece)
        self._counts_at(w, j)
        if pad is None or (start and not named and any(_names(p) for p in pad)):
            return None
        old, new = b"".join(lines[0]), b"".join(lines[1])
        if b"\0" in old[:_BINARY_PROBE] or b"\0" in new[:_BINARY_PROBE]:
            return None
        padding = b"".join(pad)
        if start:
            return Window(start - len(pad), padding + old, padding + new)
        return Window(start, old + padding, new + padding)


class _Plus:
    """``counts`` with ``change`` added, without a copy of ``counts``."""

    def __init__(self, counts: Counter[bytes], change: Counter[bytes]) -> None:
        self.counts, self.change = counts, change

    def __getitem__(self, line: bytes) -> int:
        return self.counts[line] + self.change[line]


def _delta(w: FileWork, i: int, j: int) -> Counter[bytes]:
    """How often each line occurs more (or less) once atoms [i, j) are in."""
    out: Counter[bytes] = Counter()
    for a in w.atoms[i:j]:
        out.update(w.new[a.n1 : a.n2])
        out.subtract(w.old[a.o1 : a.o2])
    return out


def _bogosqrt(n: int) -> int:
    i = 1
    while n > 0:
        i <<= 1
        n >>= 2
    return i


def _limit(lines: int) -> int:
    return min(_bogosqrt(lines), _EQ_LIMIT)


def _class(count: int, limit: int) -> int:
    return 0 if count == 0 else 2 if count >= limit else 1


def _names(line: bytes) -> bool:
    first = line[:1]
    return first.isalpha() or first in (b"_", b"$")  # ASCII letters only, as git's isalpha


def _padding(
    need: tuple[dict[bytes, int], dict[bytes, int]],
    counts: tuple[Counter[bytes], Counter[bytes]],
    piece: set[bytes],
) -> list[bytes] | None:
    """Lines to add to both sides of a window (whose lines occur ``counts`` times) so that
    git classes each line of the piece as ``need`` says; None when no padding can."""
    if all(
        _class(counts[1 - side][line], _limit(sum(counts[side].values()))) == c
        for side in (0, 1)
        for line, c in need[side].items()
    ):
        return []
    filler = next(f for f in (b"\x1e" * k + b"\n" for k in range(1, 99)) if f not in piece)
    sizes = (sum(counts[0].values()), sum(counts[1].values()))
    for k in range(1, 11):
        limit, low, high = 1 << k, 4 ** (k - 1), 4**k - 1
        copies: dict[bytes, int] = {}
        for line in need[0].keys() | need[1].keys():
            wanted = [(need[side].get(line), counts[1 - side][line]) for side in (0, 1)]
            p = max([0] + [limit - n if c == 2 else 1 - n for c, n in wanted if c])
            if any(
                (c == 0 and n + p) or (c == 1 and not 1 <= n + p < limit) or (c == 2 and n + p < limit)
                for c, n in wanted
                if c is not None
            ):
                break
            if p:
                copies[line] = p
        else:
            if any(not line.endswith(b"\n") for line in copies):
                return None
            extra = sum(copies.values())
            fill = max(0, low - min(sizes) - extra)
            if max(sizes) + extra + fill <= high:
                return [line for line, p in copies.items() for _ in range(p)] + [filler] * fill
    return None


def _name_line(side: _Side, t: int) -> int | None:
    """The nearest line at or above ``t`` that git would put in a hunk header (-1 when there
    is none at all: the window may start anywhere); None when it is too far up to look."""
    for u in range(t, max(-1, t - _SEARCH), -1):
        if _names(side.line(u)):
            return u
    return -1 if t - _SEARCH < 0 else None


def relabel(text: str, start: int, old: str, new: str) -> str:
    """The diff git printed for a window, as it prints it for the file: hunks numbered from
    the top of the file, the index line naming the file's blobs (abbreviated as git does)."""
    text = _INDEX.sub(f"index {old}..{new}", text, count=1)
    return _HUNK.sub(lambda m: f"@@ -{int(m[1]) + start}{m[2]} +{int(m[3]) + start}{m[4]} @@", text)
