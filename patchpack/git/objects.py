"""Objects: blobs, trees and commits built in memory, diffs of trees, 3-way merges,
and the batches that write a series' objects as one pack."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from patchpack.errors import Failed
from patchpack.git import packs
from patchpack.git.plain import _SHOWN, show_diffs
from patchpack.git.repo import RepoCore
from patchpack.git.run import (
    DIFF_OPTIONS,
    Oid,
    _person,
    _utf8,
    decode,
    encode,
    pygit2,
    run_git,
)
from patchpack.git.where import RefMoved as RefMoved


def _edit_tree(
    raw: pygit2.Repository, tree: pygit2.Tree | None, changes: Mapping[str, tuple[pygit2.Oid, int] | None]
) -> pygit2.Oid | None:
    """``tree`` (None: empty) with each path set to (object, mode), or removed where the value
    is None; a directory left empty goes too, and a file where a directory was (or the
    reverse) replaces it, as in an index. None when the result is empty.

    Only the trees on the changed paths are written again, each once however many of its
    entries change: the cost follows the change, not the size of the tree.
    """
    builder = raw.TreeBuilder(tree) if tree is not None else raw.TreeBuilder()
    below: dict[str, dict[str, tuple[pygit2.Oid, int] | None]] = {}
    for path, value in changes.items():
        name, slash, rest = path.partition("/")
        if slash:
            below.setdefault(name, {})[rest] = value
        elif value is not None:
            builder.insert(name, *value)
        elif builder.get(name) is not None:
            builder.remove(name)
    for name, inner in below.items():
        if changes.get(name) is not None:
            continue  # a file set at ``name`` takes the place of the directory
        old = tree[name] if tree is not None and name in tree else None
        if old is not None and old.type_str == "tree" and _holds(raw[old.id], inner):
            continue  # kept as it is: written again, it would be hashed and touched (#16)
        sub = _edit_tree(
            raw, raw[old.id].peel(pygit2.Tree) if old is not None and old.type_str == "tree" else None, inner
        )
        if sub is not None:
            builder.insert(name, sub, pygit2.GIT_FILEMODE_TREE)
        elif old is not None and old.type_str == "tree" and builder.get(name) is not None:
            # Emptied. A file already at ``name`` (a directory replaced by a file, whose old
            # files go later, see #15) has nothing below it to remove: it stays.
            builder.remove(name)
    return builder.write() if len(builder) else None


def _holds(tree: pygit2.Object, changes: Mapping[str, tuple[pygit2.Oid, int] | None]) -> bool:
    """Whether ``tree`` already has each path as ``changes`` sets it (None: not there)."""
    assert isinstance(tree, pygit2.Tree)
    for path, value in changes.items():
        try:
            entry = tree[path]
        except KeyError:
            if value is not None:
                return False
            continue
        if value is None or (entry.id, entry.filemode) != value:
            return False
    return True


class DoesNotFit(Failed):
    """A diff does not apply to the tree it was meant for."""


@dataclass(frozen=True)
class CommitInfo:
    oid: Oid
    tree: Oid
    parents: tuple[Oid, ...]
    message: str
    author: str
    """``Name <email>``."""

    @property
    def title(self) -> str:
        return self.message.split("\n", 1)[0]


@dataclass(frozen=True)
class RawChange:
    """One file of a tree-to-tree change, as `git diff-tree -M --raw` reports it."""

    status: str
    """``A``, ``D``, ``M``, ``R``, ``T``..."""
    old_path: str | None
    """The path before a rename; None otherwise."""
    path: str
    old_mode: int | None
    """None when the file is new."""
    new_mode: int | None
    """None when the file is deleted."""
    new_blob: Oid


@dataclass(frozen=True)
class CommitRun:
    """The outcome of `git commit`: the new commit, or None and what git and the hooks said."""

    oid: Oid | None
    output: str


class ObjectsOps(RepoCore):
    """Objects of the repository; see :meth:`batch` for how a series writes them."""

    _store: _MemoryStore | None = None  # the objects of a batch under way

    def create_commit(
        self, tree: Oid, parents: Sequence[Oid], message: str, author: str | None = None
    ) -> Oid:
        """Write a commit object (no ref moves)."""
        me = self.committer()
        who = me if author is None else pygit2.Signature(*_person(author), me.time, me.offset)
        # As bytes: a title from the command line may hold bytes that are not UTF-8.
        oid = self._odb.create_commit(
            None, who, me, encode(message), pygit2.Oid(hex=tree), [pygit2.Oid(hex=p) for p in parents]
        )
        return Oid(str(oid))

    def commit_info(self, oid: Oid) -> CommitInfo:
        c = self._odb[oid]
        assert isinstance(c, pygit2.Commit)
        return CommitInfo(
            Oid(str(c.id)),
            Oid(str(c.tree_id)),
            tuple(Oid(str(p)) for p in c.parent_ids),
            decode(c.raw_message),
            f"{c.author.name} <{c.author.email}>",
        )

    def tree_of(self, rev: Oid) -> Oid:
        return Oid(str(self._odb[rev].peel(pygit2.Tree).id))

    def write_blob(self, data: bytes) -> Oid:
        if self._store is not None:
            # Into the batch directly: libgit2 would look for the blob in every store first,
            # listing the packs again when it is in none, 0.2 ms a blob (#16). One already
            # on disk is written again in the batch's pack, as `git fast-import` may.
            oid = pygit2.hash(data)
            self._store.objects[oid] = (int(pygit2.enums.ObjectType.BLOB), bytes(data))
            return Oid(str(oid))
        return Oid(str(self._odb.create_blob(data)))

    def write_blob_series(self, versions: Iterable[packs.Version], *, count: int) -> list[Oid]:
        """Blobs of the ``count`` ``versions`` (each sharing its head and tail with the one
        before it in its chain), in order. Many go into one pack of deltas: a large file cut
        into many pieces writes what the pieces change, not the whole file each time (#15).
        ``versions`` is read once, one at a time (a generator keeps one text in memory)."""
        # (A sha256 repository never gets here: `Repo.discover` refuses it.)
        if count < _SERIES_PACK_AT_LEAST or "GIT_OBJECT_DIRECTORY" in os.environ:
            return [self.write_blob(v.data) for v in versions]
        self.flush()  # a batch's objects first: git reads them before the pack
        return [Oid(oid) for oid in packs.write_pack(self.common_dir / "objects" / "pack", versions)]

    def read_blob(self, oid: Oid) -> bytes:
        blob = self._odb[oid]
        assert isinstance(blob, pygit2.Blob)
        return bytes(blob.data)

    def entry(self, tree: Oid, path: str) -> tuple[Oid, int] | None:
        """The blob (or link, or subtree) at ``path`` in ``tree`` with its mode, or None."""
        t = self._odb[tree]
        assert isinstance(t, pygit2.Tree)
        try:
            e = t[path]
        except KeyError:
            return None
        return Oid(str(e.id)), int(e.filemode)

    def edit_tree(self, base: Oid | None, changes: Mapping[str, tuple[Oid, int] | None]) -> Oid | None:
        """``base`` (None: empty) with each path set to (object, mode), or removed where the
        value is None; only the trees along the changed paths are written. None: empty."""
        tree = self._odb[base].peel(pygit2.Tree) if base is not None else None
        edited = _edit_tree(
            self._odb,
            tree,
            {
                path: None if value is None else (pygit2.Oid(hex=value[0]), value[1])
                for path, value in changes.items()
            },
        )
        return None if edited is None else Oid(str(edited))

    def tree_items(self, tree: Oid) -> list[tuple[str, Oid]]:
        """The (name, object) entries of ``tree``, in git's order."""
        return [(str(e.name), Oid(str(e.id))) for e in self._odb[tree].peel(pygit2.Tree)]

    def tree_with(self, base: Oid, changes: Mapping[str, tuple[Oid, int] | None]) -> Oid:
        """``base`` with each path set to (blob, mode), or removed where the value is None.

        Only the trees on the changed paths are rebuilt (a series of small patches on a large
        repository must not cost a pass over the whole tree each); a directory left empty goes,
        a file where a directory was (or the reverse) replaces it, as in an index.
        """
        if not all(_utf8(path) for path in changes):
            return self._tree_with_index(base, changes)
        return self.edit_tree(base, changes) or self.empty_tree()

    def _tree_with_index(self, base: Oid, changes: Mapping[str, tuple[Oid, int] | None]) -> Oid:
        # A tree builder takes UTF-8 names only; an index takes any bytes.
        index = pygit2.Index()
        index.read_tree(self._odb[base].peel(pygit2.Tree))
        for path, value in changes.items():
            if value is None:
                index.remove(path)
            else:
                index.add(pygit2.IndexEntry(path, pygit2.Oid(hex=value[0]), pygit2.enums.FileMode(value[1])))
        return Oid(str(index.write_tree(self._odb)))

    # diffs ---------------------------------------------------------------------------------

    def diff_trees(self, old: Oid, new: Oid, *, context: int = 3, shown: bool = False) -> str:
        """`git diff -M` between two trees, with the measure's options; ``shown``: names
        quoted as git shows them to people (core.quotePath)."""
        quoting = _SHOWN if shown else ()
        return self.git(*quoting, "diff-tree", "-p", *DIFF_OPTIONS, f"-U{context}", "-r", old, new, "--")

    def changes(self, old: Oid, new: Oid) -> list[RawChange]:
        """The files that differ between two trees, renames found, in git's order."""
        out = decode(
            run_git(
                ["diff-tree", "-r", "-z", "-M", "--no-ext-diff", old, new], cwd=self.workdir or self.git_dir
            ).stdout
        ).split("\0")
        found, i = [], 0
        while i + 1 < len(out):
            old_mode, new_mode, _, new_oid, status = out[i].lstrip(":").split()
            paths = out[i + 1 : i + (3 if status[0] in "RC" else 2)]
            i += 1 + len(paths)
            found.append(
                RawChange(
                    status[0],
                    paths[0] if len(paths) == 2 else None,
                    paths[-1],
                    int(old_mode, 8) or None,
                    int(new_mode, 8) or None,
                    Oid(new_oid),
                )
            )
        return found

    def commit_diffs(self, oids: Sequence[Oid], *, shown: bool = False) -> dict[Oid, str]:
        """Each commit's diff against its first parent, exactly as `patchpack check` sees it;
        ``shown``: names quoted as git shows them to people."""
        if not oids:
            return {}
        return show_diffs(self.workdir or self.git_dir, oids, shown=shown)

    def blob_abbrevs(self, commits: Sequence[Oid]) -> dict[Oid, tuple[str, str]]:
        """The blobs before and after of the file each commit changes (the first, if more),
        abbreviated as the ``index`` line of its diff names them: a diff of trees alone."""
        if not commits:
            return {}
        shown = self.git(
            "show",
            "--format=%x00%H",
            "--raw",
            "--abbrev",
            "--no-renames",
            "--first-parent",
            "--root",
            *commits,
            "--",
        )
        out = {}
        for chunk in shown.split("\0")[1:]:
            oid, _, raw = chunk.partition("\n")
            fields = raw.lstrip("\n").split(maxsplit=4)
            out[Oid(oid)] = (fields[2], fields[3])
        return out

    def diff_drivers(self, paths: Sequence[str]) -> dict[str, str]:
        """The ``diff`` attribute of each path: ``unspecified``, ``set``, ``unset``, or the
        name of the diff driver that .gitattributes gives it."""
        if not paths:
            return {}
        out = run_git(
            ["check-attr", "-z", "--stdin", "diff"],
            cwd=self.workdir or self.git_dir,
            input=b"".join(encode(p) + b"\0" for p in paths),
        )
        fields = decode(out.stdout).split("\0")
        return {fields[k]: fields[k + 2] for k in range(0, len(fields) - 2, 3)}

    def paths_between(self, old: Oid, new: Oid) -> list[str]:
        """Every path that differs between two trees (both sides of a rename)."""
        diff = self._odb[old].peel(pygit2.Tree).diff_to_tree(self._odb[new].peel(pygit2.Tree))
        return sorted({p for d in diff.deltas for p in (d.old_file.path, d.new_file.path)})

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Objects made meanwhile are kept in memory and written together on the way out: one
        pack for a series (as `git fetch` keeps one), loose if only a few; on an exception,
        not at all. A git process started meanwhile must be preceded by :meth:`flush`."""
        if self._store is not None or "GIT_OBJECT_DIRECTORY" in os.environ:
            yield  # already batching; or objects go where libgit2 would not find a pack
            return
        self._store = _memory_store_type()()
        # A repository of its own: a backend cannot be taken off again.
        self._batch_raw = pygit2.Repository(str(self.git_dir))
        self._batch_raw.odb.add_backend(self._store, 1000)  # before the loose and pack backends
        try:
            yield
            self.flush()
        finally:
            self._batch_raw, self._store = None, None

    def flush(self) -> None:
        """Write the objects a :meth:`batch` holds so far, for a git process to read."""
        if self._store is None:
            return
        objects = self._store.objects
        if len(objects) >= _PACK_AT_LEAST:
            packs.write_objects(
                self.common_dir / "objects" / "pack",
                ((oid.raw, kind, data) for oid, (kind, data) in objects.items()),
            )
        else:
            for kind, data in objects.values():
                self._raw.odb.write(kind, data)
        objects.clear()

    def merge(self, ancestor: Oid, ours: Oid, theirs: Oid) -> tuple[Oid | None, list[str]]:
        """A 3-way merge of trees: the result, or None and the conflicted paths."""
        index = self._odb.merge_trees(ancestor, ours, theirs)
        if index.conflicts is not None:
            paths = sorted({e.path for entries in index.conflicts for e in entries if e})
            return None, paths
        return Oid(str(index.write_tree(self._odb))), []

    # the work tree, the index and HEAD -----------------------------------------------------


# -- objects written in a batch ---------------------------------------------------------------
# A series of 500 mails makes 2,000 objects; as loose objects that is 2,000 files written, and
# as many read again by the `git show` that measures the series.

_PACK_AT_LEAST = 100  # as git's transfer.unpackLimit: fewer objects are written loose
# A file's versions are a pack sooner: each loose one is the whole file, compressed again.
_SERIES_PACK_AT_LEAST = 16


if TYPE_CHECKING:

    class _MemoryStore(pygit2.OdbBackend):
        objects: dict[pygit2.Oid, tuple[int, bytes]]


@functools.cache
def _memory_store_type() -> type[_MemoryStore]:
    # Defined on first use: subclassing loads libgit2, which `check` and `run` never need.
    class MemoryStore(pygit2.OdbBackend):
        """An object database backend in memory (libgit2 asks it first, and writes to it)."""

        def __init__(self) -> None:
            super().__init__()
            self.objects: dict[pygit2.Oid, tuple[int, bytes]] = {}

        def read_cb(self, oid: pygit2.Oid) -> tuple[int, bytes]:
            return self.objects[oid]  # KeyError: libgit2 asks the next backend

        def read_prefix_cb(self, oid: pygit2.Oid) -> tuple[int, bytes, pygit2.Oid]:
            kind, data = self.objects[oid]  # pygit2 looks full ids up as prefixes too
            return kind, data, oid

        def read_header_cb(self, oid: pygit2.Oid) -> tuple[int, int]:
            kind, data = self.objects[oid]
            return kind, len(data)

        def exists_cb(self, oid: pygit2.Oid) -> bool:
            return oid in self.objects

        def exists_prefix_cb(self, oid: pygit2.Oid) -> pygit2.Oid:
            raise KeyError(oid)

        def write_cb(self, oid: pygit2.Oid, data: bytes, kind: int) -> None:
            self.objects[oid] = (int(kind), bytes(data))

        def refresh_cb(self) -> None:
            pass

        def __iter__(self) -> Iterator[pygit2.Oid]:
            return iter(list(self.objects))

    return MemoryStore  # type: ignore[return-value]
