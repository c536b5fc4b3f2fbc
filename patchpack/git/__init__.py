"""The only door to git: pygit2 and the ``git`` program are used in this package and nowhere
else. The rest of patchpack sees :class:`Repo`, typed ids and plain values.

:class:`Repo` is one repository, its operations grouped by what they touch, one module each:
``repo`` (where it is, config, refs, revisions), ``objects`` (blobs, trees, commits, merges,
batches), ``notes`` (the ledger's notes trees and remotes), ``worktree`` (the index, the work
tree, work diffs and grep) and ``commit`` (the hooked commit). ``run`` runs the git program and
holds the plain values; ``files`` and ``packs`` serve the rest of the door and its users.
"""

from __future__ import annotations

from patchpack.git.commit import CommitOps, stripspace
from patchpack.git.notes import NotesOps, NotesTop
from patchpack.git.objects import CommitInfo, CommitRun, DoesNotFit, RawChange, RefMoved
from patchpack.git.repo import global_config_get, read_config, require_workdir
from patchpack.git.run import (
    DIFF_OPTIONS,
    FILE_MODE,
    FULL_OID,
    TREE_MODE,
    ZERO_OID,
    CommitDiff,
    GitFailed,
    Oid,
    decode,
    encode,
    run_git,
)
from patchpack.git.worktree import (
    WHOLE_FILE_CONTEXT,
    BadPattern,
    GrepHit,
    GrepResult,
    Patcher,
    diff_against_head,
    grep,
    tracked_files,
    uncommitted_diff,
    untracked_files,
    work_diff,
)


class Repo(NotesOps, CommitOps):
    """A repository opened at (or above) a directory: :meth:`discover` finds it."""


__all__ = [
    "DIFF_OPTIONS", "FILE_MODE", "FULL_OID", "TREE_MODE", "WHOLE_FILE_CONTEXT", "ZERO_OID",
    "BadPattern", "CommitDiff", "CommitInfo", "CommitRun", "DoesNotFit", "GitFailed", "GrepHit",
    "GrepResult", "NotesTop", "Oid", "Patcher", "RawChange", "RefMoved", "Repo", "decode",
    "diff_against_head", "encode", "global_config_get", "grep", "read_config",
    "require_workdir", "run_git", "stripspace", "tracked_files", "uncommitted_diff",
    "untracked_files", "work_diff",
]
