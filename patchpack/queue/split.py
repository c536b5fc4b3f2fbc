"""Cut a change (one tree into another) into micro-patches within the limits.

The change is read as git sees it (`git diff -M -U0`: its files and the exact lines it edits),
each file's edits are cut into *atoms* of at most one removed and one added line, and atoms are
packed greedily, in file order, into pieces whose diff (3 lines of context, headers included)
fits the limits. A piece is a tree: the file as it is after the piece's last atom is the new
text up to that point followed by the old text from there, so applying the pieces in order ends
exactly at the target tree. Each piece is then measured by git, as `patchpack check` will
measure the commit it becomes; in the rare case git lays a piece's diff out longer than the
estimate, the change is cut again with a smaller budget.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from patchpack.errors import Failed
from patchpack.git import Oid, Repo, encode
from patchpack.git.packs import Version
from patchpack.limits import diffs
from patchpack.limits.diffs import Limits
from patchpack.limits.hunks import quote
from patchpack.queue import cuts, windows
from patchpack.queue.store import Patch

_CONTEXT = 3
_LINK_OR_MODULE = (0o120000, 0o160000)
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)


@dataclass(frozen=True)
class Atom:
    """A smallest edit: old lines [o1, o2) become new lines [n1, n2)."""

    o1: int
    o2: int
    n1: int
    n2: int


@dataclass
class FileWork:
    """One file of the change and how it can be cut."""

    path: str
    old_path: str | None
    old: list[bytes]
    new: list[bytes]
    atoms: list[Atom]
    new_entry: tuple[Oid, int] | None
    """The file in the target tree, or None when the change deletes it."""
    old_mode: int | None
    atomic: bool = False
    """Binary, a link, a submodule, a pure rename: one piece, on its own."""
    added_text: bytes = b""
    extra_header: int = 0

    def cost(self, i: int, j: int) -> int:
        """Estimated diff lines of atoms [i, j) of this file (git's layout, 3 lines of context)."""
        if self.atomic:
            return 6
        creates = i == 0 and self.old_mode is None
        deletes = j == len(self.atoms) and self.new_entry is None
        header = 5 if creates or deletes else 4
        header += self.extra_header if i == 0 else 0
        if not self.atoms:
            return 3 + (self.extra_header if i == 0 else 0)
        edited, between = self._sums
        lines = header + 1 + edited[j] - edited[i] + between[j - 1] - between[i]
        lines += min(_CONTEXT, self.atoms[i].n1)
        after = len(self.old) - self.atoms[j - 1].o2
        lines += min(_CONTEXT, after)
        if after <= _CONTEXT and (_no_eol(self.old) or _no_eol(self.new)):
            lines += 2  # "\ No newline at end of file"
        return lines

    @functools.cached_property
    def _sums(self) -> tuple[list[int], list[int]]:
        # Running sums, so that a piece's cost takes the same time however many atoms it
        # has: `_pack` asks for [i, i+1), [i, i+2)... (#15: 200,000 lines took minutes).
        # ``edited[k]``: lines atoms [0, k) remove and add; ``between[k]``: diff lines
        # between atoms 0..k (context, or the context and header of a new hunk).
        edited, between = [0], [0]
        for a in self.atoms:
            edited.append(edited[-1] + a.o2 - a.o1 + a.n2 - a.n1)
        for a, b in itertools.pairwise(self.atoms):
            gap = b.o1 - a.o2
            between.append(between[-1] + (gap if gap <= 2 * _CONTEXT else 2 * _CONTEXT + 1))
        return edited, between

    def text_after(self, j: int) -> bytes:
        """The file's text once atoms [0, j) are in."""
        if j == 0:
            return self.old_text
        last = self.atoms[j - 1]
        # Two slices of the joined texts: a join of every line each time made a file cut
        # into n pieces cost n times its lines (#15).
        return self.new_text[: self.new_at[last.n2]] + self.old_text[self.old_at[last.o2] :]

    def shared(self, i: int, j: int) -> tuple[int, int]:
        """Bytes at the start and at the end that ``text_after(j)`` has in common with
        ``text_after(i)`` (i < j): the new text before atom i, the old text after atom j."""
        head = self.new_at[self.atoms[i - 1].n2] if i else 0
        return head, len(self.old_text) - self.old_at[self.atoms[j - 1].o2]

    @functools.cached_property
    def python(self) -> cuts.PythonCuts | None:
        return cuts.for_file(self.path, self.old_text, self.new_text)

    def best_cut(self, i: int, j: int) -> int:
        """Where to end a piece that starts at atom i and may go up to atom j (not the last):
        the latest cut between two hunks, so that each piece holds whole edits; in a Python
        file, one after which the file still parses (:mod:`cuts`), between hunks or else inside
        one; else j."""
        py = self.python
        for between in (True, False) if py else (True,):
            tries = 8  # parses a cut may cost, when the lines allow it but the text does not
            for k in range(j, i, -1):
                last = self.atoms[k - 1]
                if between and self.atoms[k].o1 == last.o2:
                    continue
                if py is None:
                    return k
                if py.allows(last.o2, last.n2):
                    if py.keeps(self.text_after(k)):
                        return k
                    tries -= 1
                    if not tries:
                        break
        return j

    @functools.cached_property
    def old_text(self) -> bytes:
        return b"".join(self.old)

    @functools.cached_property
    def new_text(self) -> bytes:
        return b"".join(self.new)

    @functools.cached_property
    def old_at(self) -> list[int]:
        """Where each line of the old text starts (and its end)."""
        return [0, *itertools.accumulate(map(len, self.old))]

    @functools.cached_property
    def new_at(self) -> list[int]:
        return [0, *itertools.accumulate(map(len, self.new))]


def cut(
    repo: Repo, base: Oid, target: Oid, *, title: str | None, author: str | None, limits: Limits
) -> list[Patch]:
    """Micro-patch commits from commit ``base`` to tree ``target``, chained, each within
    ``limits``; the last one's tree is ``target``. Titles read ``<title> (3/7): <files>``, or
    without a title ``<files>: +12 -3 (3/7)``."""
    works = _order(_read(repo, repo.tree_of(base), target))
    budget = limits.max_lines
    for _ in range(4):
        patches = _commit(repo, base, _pack(works, Limits(limits.max_files, budget)), title, author)
        over = max((p.lines - limits.max_lines for p in patches), default=0)
        if over <= 0 and all(len(p.files) <= limits.max_files for p in patches):
            assert not patches or repo.commit_info(patches[-1].commit).tree == target
            return patches
        budget -= max(over, 1)
    raise Failed(
        "could not cut the change within the limits",
        hint="cut it by hand: `git add -p` part of it and `patchpack split` the rest",
    )


@dataclass(frozen=True)
class _StandIn:
    """A commit whose diff is a window, from line ``start``, of a piece's (``windows``)."""

    commit: Oid
    start: int


def measured(
    repo: Repo, commits: Sequence[Oid], titles: Sequence[str], stand_ins: Mapping[Oid, _StandIn] | None = None
) -> list[Patch]:
    """Patches for ``commits``, measured as `patchpack check` measures a commit (a commit
    with a stand-in through the stand-in's window)."""
    stand_ins = stand_ins or {}
    shown = repo.commit_diffs([stand_ins[c].commit if c in stand_ins else c for c in commits])
    short = repo.blob_abbrevs(list(stand_ins))
    texts = {c: windows.relabel(shown[s.commit], s.start, *short[c]) for c, s in stand_ins.items()}
    out = []
    with repo.batch():  # a series' texts as one pack, not a file each (#16)
        for oid, title in zip(commits, titles):
            texts.setdefault(oid, shown.get(oid, ""))
            m = diffs.measure(texts[oid])
            # The text is kept with the patch: `list` counts its tokens without a diff (#15).
            diff = repo.write_blob(encode(texts[oid]))
            out.append(Patch(oid, title, tuple(f.path for f in m.files), m.lines, diff=diff))
    return out


# -- reading the change ------------------------------------------------------------------------------


def _read(repo: Repo, base: Oid, target: Oid) -> list[FileWork]:
    chunks = re.split(r"^(?=diff --git )", repo.diff_trees(base, target, context=0), flags=re.MULTILINE)[1:]
    works = []
    for change, chunk in zip(repo.changes(base, target), chunks):
        old_path = change.old_path or change.path
        old_entry = repo.entry(base, old_path) if change.old_mode else None
        new_entry = (change.new_blob, change.new_mode) if change.new_mode else None
        binary = bool(re.search(r"^(Binary files |GIT binary patch)", chunk, re.MULTILINE))
        if binary or change.old_mode in _LINK_OR_MODULE or change.new_mode in _LINK_OR_MODULE:
            works.append(
                FileWork(change.path, change.old_path, [], [], [], new_entry, change.old_mode, atomic=True)
            )
            continue
        atoms = _atoms(chunk)
        if change.old_path and old_entry:
            # A rename with edits: the pure rename first, on its own, then the edits.
            mode = new_entry[1] if new_entry else old_entry[1]
            works.append(
                FileWork(
                    change.path, change.old_path, [], [], [], (old_entry[0], mode), old_entry[1], atomic=True
                )
            )
            if not atoms:
                continue
            old_entry = (old_entry[0], mode)
        old = _lines(repo.read_blob(old_entry[0])) if old_entry else []
        new = _lines(repo.read_blob(new_entry[0])) if new_entry else []
        old_mode = old_entry[1] if old_entry else None
        modes = 2 if old_mode and new_entry and old_mode != new_entry[1] else 0
        works.append(
            FileWork(
                change.path,
                None,
                old,
                new,
                atoms,
                new_entry,
                old_mode,
                added_text=b"".join(new),
                extra_header=modes,
            )
        )
    return works


def _lines(data: bytes) -> list[bytes]:
    """Lines with their endings kept, cut at ``\\n`` only (CR and other bytes stay put)."""
    parts = data.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]]
    return [*out, parts[-1]] if parts[-1] else out


def _no_eol(lines: list[bytes]) -> bool:
    return bool(lines) and not lines[-1].endswith(b"\n")


def _atoms(chunk: str) -> list[Atom]:
    atoms = []
    for m in _HUNK.finditer(chunk):
        o_start, o_len = int(m[1]), int(m[2] if m[2] is not None else 1)
        n_start, n_len = int(m[3]), int(m[4] if m[4] is not None else 1)
        o1 = o_start - 1 if o_len else o_start
        n1 = n_start - 1 if n_len else n_start
        for k in range(max(o_len, n_len)):
            atoms.append(
                Atom(o1 + min(k, o_len), o1 + min(k + 1, o_len), n1 + min(k, n_len), n1 + min(k + 1, n_len))
            )
    return atoms


def _order(works: list[FileWork]) -> list[FileWork]:
    """git's path order, but each new file right after the first file that names it, and
    after the files that must go first to make room for it (:func:`_make_room`)."""
    return _make_room(_near_users(works))


def _near_users(works: list[FileWork]) -> list[FileWork]:
    new_files = [w for w in works if w.old_mode is None and not w.atomic and not w.old_path]
    placed: set[int] = set()
    out: list[FileWork] = []
    for w in works:
        if id(w) in placed:
            continue
        out.append(w)
        placed.add(id(w))
        for n in new_files:
            stem = n.path.rsplit("/", 1)[-1].split(".", 1)[0].encode("utf-8", "surrogateescape")
            if id(n) not in placed and stem and n is not w and stem in w.added_text:
                out.append(n)
                placed.add(id(n))
    return out


def _make_room(works: list[FileWork]) -> list[FileWork]:
    """``works`` in order, except that a file put where a directory was goes after the
    removal of every file in that directory, and a file put inside a directory that was a file
    after that file's removal: a tree cannot hold a file and a directory of one name (#15)."""
    removed: dict[str, FileWork] = {}
    for w in works:
        for path in (w.old_path, w.path if w.new_entry is None else None):
            if path:
                removed[path] = w
    paths = sorted(removed)
    waits: dict[int, set[int]] = {}
    for w in works:
        if w.new_entry is None:
            continue
        inside = w.path + "/"
        first = set()
        for q in itertools.islice(paths, bisect.bisect_left(paths, inside), None):
            if not q.startswith(inside):
                break
            first.add(id(removed[q]))
        parts = w.path.split("/")
        first |= {id(removed[a]) for a in ("/".join(parts[:k]) for k in range(1, len(parts))) if a in removed}
        first.discard(id(w))
        if first:
            waits[id(w)] = first
    if not waits:
        return works
    out: list[FileWork] = []
    held: list[FileWork] = []
    placed: set[int] = set()
    for w in works:
        if id(w) in waits:
            held.append(w)
            continue
        ready = [w]
        while ready:  # each held file right after the last of the files it waited for
            out += ready
            placed.update(id(r) for r in ready)
            ready = [h for h in held if id(h) not in placed and waits[id(h)] <= placed]
        held = [h for h in held if id(h) not in placed]
    return out + held  # only a cycle (no tree can end that way) would leave some held


# -- packing and building --------------------------------------------------------------------------

Slice = tuple[FileWork, int, int]


def _pack(works: Sequence[FileWork], limits: Limits) -> list[list[Slice]]:
    pieces: list[list[Slice]] = []
    current: list[Slice] = []
    used = 0

    def flush() -> None:
        nonlocal current, used
        if current:
            pieces.append(current)
        current, used = [], 0

    for w in works:
        n = len(w.atoms)
        whole = w.cost(0, n)
        if w.atomic:
            flush()
            pieces.append([(w, 0, 0)])
            continue
        if len(current) < limits.max_files and used + whole <= limits.max_lines:
            current.append((w, 0, n))
            used += whole
            continue
        flush()
        i = 0
        while True:
            j = i + 1
            while j < n and w.cost(i, j + 1) <= limits.max_lines:
                j += 1
            if n and w.cost(i, min(j, n)) > limits.max_lines:
                raise Failed(
                    f"cannot cut {w.path} within {limits.max_lines} diff lines",
                    hint="raise the limit with `--max-lines`, or edit it by hand",
                )
            j = min(j, n) if n else 0
            if j >= n:
                current, used = [(w, i, n)], w.cost(i, n)
                break
            j = w.best_cut(i, j)
            pieces.append([(w, i, j)])
            i = j
    flush()
    return pieces


def _commit(
    repo: Repo, base: Oid, packed: list[list[Slice]], title: str | None, author: str | None
) -> list[Patch]:
    blobs = _write_texts(repo, packed)
    windowed = _may_window(repo, packed)
    tree, parent = repo.tree_of(base), base
    commits: list[Oid] = []
    titles: list[str] = []
    stand_ins: dict[Oid, _StandIn] = {}
    windower = windows.Windower()
    with repo.batch():
        for k, slices in enumerate(packed, 1):
            before = tree
            tree, parent = _piece(repo, slices, blobs, tree, parent, title, k, len(packed), author, titles)
            commits.append(parent)
            found = (
                windower.window(*slices[0]) if (len(slices) == 1 and id(slices[0][0]) in windowed) else None
            )
            if found is not None:
                stand_ins[parent] = _stand_in(repo, slices[0][0].path, found, before, tree)
    return measured(repo, commits, titles, stand_ins)


def _piece(
    repo: Repo,
    slices: list[Slice],
    blobs: Mapping[tuple[int, int], Oid],
    tree: Oid,
    parent: Oid,
    title: str | None,
    k: int,
    total: int,
    author: str | None,
    titles: list[str],
) -> tuple[Oid, Oid]:
    """The tree and the commit of piece ``k`` (its title added to ``titles``)."""
    changes: dict[str, tuple[Oid, int] | None] = {}
    for w, _, j in slices:
        if w.old_path:
            changes[w.old_path] = None
        if w.atomic or (j == len(w.atoms) and w.new_entry is not None):
            changes[w.path] = w.new_entry
        elif j == len(w.atoms):
            changes[w.path] = None
        else:
            mode = w.new_entry[1] if w.new_entry else w.old_mode
            assert mode is not None
            changes[w.path] = (blobs[id(w), j], mode)
    tree = repo.tree_with(tree, changes)
    titles.append(_title(slices, title, k, total))
    return tree, repo.create_commit(tree, [parent], titles[-1], author)


def _may_window(repo: Repo, packed: list[list[Slice]]) -> set[int]:
    """The large files whose pieces git may measure on a window (``windows``): not those
    a diff driver or another diff algorithm would lay out otherwise."""
    large = {
        w.path: w
        for slices in packed
        for w, _, _ in slices
        if not w.atomic and len(w.old) + len(w.new) >= windows.MIN_LINES
    }
    if not large or (repo.config_get("diff.algorithm") or "myers") not in ("myers", "default"):
        return set()
    drivers = repo.diff_drivers(list(large))
    return {id(w) for path, w in large.items() if drivers.get(path) in ("unspecified", "set")}


def _stand_in(repo: Repo, path: str, found: windows.Window, before: Oid, after: Oid) -> _StandIn:
    old, new = repo.entry(before, path), repo.entry(after, path)
    assert old is not None and new is not None
    empty = repo.empty_tree()
    first = repo.create_commit(
        repo.tree_with(empty, {path: (repo.write_blob(found.old), old[1])}), [], "window"
    )
    second = repo.create_commit(
        repo.tree_with(empty, {path: (repo.write_blob(found.new), new[1])}), [first], "window"
    )
    return _StandIn(second, found.start)


def _write_texts(repo: Repo, packed: list[list[Slice]]) -> dict[tuple[int, int], Oid]:
    """The blob of each text a piece leaves a file in, part way through its atoms; each
    written as what it changes from the one before (``Repo.write_blob_series``)."""
    wanted: list[tuple[FileWork, int, int]] = []
    last: dict[int, int] = {}
    for slices in packed:
        for w, _, j in slices:
            if not w.atomic and j < len(w.atoms):
                wanted.append((w, last.get(id(w), 0), j))
                last[id(w)] = j
    # One text at a time: a 5 MB file cut into 2,000 pieces is never in memory whole twice.
    texts = (Version(w.path, w.text_after(j), *w.shared(i, j)) for w, i, j in wanted)
    oids = repo.write_blob_series(texts, count=len(wanted))
    return {(id(w), j): oid for (w, _, j), oid in zip(wanted, oids)}


def _title(slices: list[Slice], title: str | None, k: int, count: int) -> str:
    """``title`` for the only piece; else it numbered, with the piece's files; without a
    title, the piece's files and lines (a rename names both paths)."""
    # Quoted as git shows them: a name that is not UTF-8 cannot go into a message.
    names = [f"{quote(w.old_path)} -> {quote(w.path)}" if w.old_path else quote(w.path) for w, _, _ in slices]
    if title is not None:
        files = diffs.describe(names, 0, 0)
        return title if count == 1 else f"{title} ({k}/{count}): {files}"
    atoms = [a for w, i, j in slices for a in w.atoms[i:j]]
    text = diffs.describe(names, sum(a.n2 - a.n1 for a in atoms), sum(a.o2 - a.o1 for a in atoms))
    return text if count == 1 else f"{text} ({k}/{count})"
