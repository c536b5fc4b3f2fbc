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
from patchpack.git.repo import RepoCore
from patchpack.git.run import (
    _SHOW_SPLIT,
    _SHOWN,
    DIFF_OPTIONS,
    Oid,
    _person,
    _utf8,
    decode,
    encode,
    pygit2,
    run_git,
)


def _edit_tree(raw: pygit2.Repository, tree: pygit2.Tree | None,
               changes: Mapping[str, tuple[pygit2.Oid, int] | None]) -> pygit2.Oid | None:
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
        sub = _edit_tree(raw, raw[old.id].peel(pygit2.Tree) if old is not None and old.type_str == "tree"
                         else None, inner)
        if sub is not None:
            builder.insert(name, sub, pygit2.GIT_FILEMODE_TREE)
        elif old is not None and old.type_str == "tree" and builder.get(name) is not None:
            # Emptied. A file already at ``name`` (a directory replaced by a file, whose old
            # files go later, see #15) has nothing below it to remove: it stays.
            builder.remove(name)
    return builder.write() if len(builder) else None



class RefMoved(Failed):
    """A ref was not at the value an update expected: another process moved it."""


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

