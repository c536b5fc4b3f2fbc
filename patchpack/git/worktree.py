"""The index and the work tree: diffs of the work, grep, checkouts, dirty paths."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from patchpack.errors import BadInput
from patchpack.git.objects import DoesNotFit, ObjectsOps
from patchpack.git.repo import RepoCore, require_workdir
from patchpack.git.run import (
    DIFF_OPTIONS,
    TREE_MODE,
    GitFailed,
    Oid,
    _prune_empty_dirs,
    _stamp,
    _utf8,
    decode,
    encode,
    pygit2,
    run_git,
)

# -- agent guard ------------------------------------------------------------------------------
# The guard (patchpack.agents.guard) measures an agent's edit before it happens: the uncommitted change
# as it is, and what one file's part of it would become.


def uncommitted_diff(repo: RepoCore, *, untracked: bool = True) -> str:
    """The work tree against HEAD (staged and unstaged), new untracked files included unless
    not ``untracked``."""
    base = repo.head_oid() or repo.empty_tree()
    tracked = repo.git("diff", *DIFF_OPTIONS, base, "--")
    if not untracked:
        return tracked
    root = require_workdir(repo)
    new = [_patch_text(None, _read_file(root / path), path) for path in untracked_files(repo)]
    return tracked + "".join(new)


def diff_against_head(repo: RepoCore, path: str, new: bytes | None) -> str:
    """The diff of ``path`` (relative to the work tree) from HEAD to ``new`` (None: deleted)."""
    return _patch_text(_head_blob(repo, path), new, path)


def _read_file(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return None


def _patch_text(old: pygit2.Blob | None, new: bytes | None, path: str) -> str:
    # libgit2 runs git's own xdiff and prints git's headers, so this text measures as
    # `git diff` would (checked against it in tests/test_guard.py). It takes UTF-8 names
    # only: another is put into the headers afterwards, as git (core.quotePath=false) prints it.
    name = path if _utf8(path) else "patchpack.not-utf-8"
    patch = pygit2.Patch.create_from(
        old, new, old_as_path=name, new_as_path=name, context_lines=3, interhunk_lines=0
    )
    if patch is None:
        return ""
    head, hunks, rest = decode(patch.data).partition("\n@@")
    return head.replace(name, path) + hunks + rest


def _head_blob(repo: RepoCore, path: str) -> pygit2.Blob | None:
    raw = repo._raw
    if raw.head_is_unborn:
        return None
    try:
        entry = raw.head.peel(pygit2.Commit).tree[path]
    except KeyError:
        return None
    obj = raw[entry.id]
    return obj if isinstance(obj, pygit2.Blob) else None


# -- context: the work diff and grep ----------------------------------------------------------

# Enough lines of context for any file: the whole file becomes one hunk, which context packs
# cut into windows themselves (enclosing functions, changed lines only).
WHOLE_FILE_CONTEXT = "-U2147483647"


@dataclass(frozen=True)
class GrepHit:
    path: str
    line: int
    """1-based line number in the work tree file."""
    text: str


@dataclass(frozen=True)
class GrepResult:
    hits: tuple[GrepHit, ...]
    binary: tuple[str, ...]
    """Tracked binary files that matched; git prints no lines for them."""


class BadPattern(BadInput):
    """git grep refused the regular expression."""


def work_diff(repo: RepoCore, *, base: str | None = None, side: str = "both",
              whole_files: bool = False, untracked: Sequence[str] = ()) -> str:
    """The diff of the work in progress, as `git diff -M` prints it.

    ``side`` is ``both`` (`git diff BASE`: staged and unstaged), ``cached`` (`git diff --cached
