"""The only door to git: pygit2 and the ``git`` program are used in this package and nowhere
else. The rest of patchpack sees :class:`Repo`, typed ids and plain values.

:class:`Repo` is one repository, its operations grouped by what they touch, one module each:
``repo`` (where it is, config, refs, revisions), ``objects`` (blobs, trees, commits, merges,
batches), ``notes`` (the ledger's notes trees and remotes), ``worktree`` (the index, the work
tree, work diffs and grep) and ``commit`` (the hooked commit). ``run`` runs the git program and
holds the plain values; ``files`` and ``packs`` serve the rest of the door and its users.
"""

from __future__ import annotations

import importlib

# The door loads a module of it when one of its names is first used (PEP 562): the guard,
# which needs only ``where``, then never pays for the rest at each tool call of an agent (#16).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from patchpack.git.commit import stripspace
    from patchpack.git.door import Repo
    from patchpack.git.notes import NotesTop
    from patchpack.git.objects import CommitInfo, CommitRun, DoesNotFit, RawChange
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
    from patchpack.git.where import RefMoved
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

_HOME = {
    "stripspace": "commit",
    "Repo": "door",
    "NotesTop": "notes",
    "CommitInfo": "objects",
    "CommitRun": "objects",
    "DoesNotFit": "objects",
    "RawChange": "objects",
    "RefMoved": "where",
    "global_config_get": "repo",
    "read_config": "repo",
    "require_workdir": "repo",
    "CommitDiff": "run",
    "DIFF_OPTIONS": "run",
    "FILE_MODE": "run",
    "FULL_OID": "run",
    "GitFailed": "run",
    "Oid": "run",
    "TREE_MODE": "run",
    "ZERO_OID": "run",
    "decode": "run",
    "encode": "run",
    "run_git": "run",
    "BadPattern": "worktree",
    "GrepHit": "worktree",
    "GrepResult": "worktree",
    "Patcher": "worktree",
    "WHOLE_FILE_CONTEXT": "worktree",
    "diff_against_head": "worktree",
    "grep": "worktree",
    "tracked_files": "worktree",
    "uncommitted_diff": "worktree",
    "untracked_files": "worktree",
    "work_diff": "worktree",
}

if not TYPE_CHECKING:  # the type checker sees the imports above instead

    def __getattr__(name: str) -> object:
        home = _HOME.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
        globals()[name] = value
        return value


__all__ = [
    "DIFF_OPTIONS",
    "FILE_MODE",
    "FULL_OID",
    "TREE_MODE",
    "WHOLE_FILE_CONTEXT",
    "ZERO_OID",
    "BadPattern",
    "CommitDiff",
    "CommitInfo",
    "CommitRun",
    "DoesNotFit",
    "GitFailed",
    "GrepHit",
    "GrepResult",
    "NotesTop",
    "Oid",
    "Patcher",
    "RawChange",
    "RefMoved",
    "Repo",
    "decode",
    "diff_against_head",
    "encode",
    "global_config_get",
    "grep",
    "read_config",
    "require_workdir",
    "run_git",
    "stripspace",
    "tracked_files",
    "uncommitted_diff",
    "untracked_files",
    "work_diff",
]
