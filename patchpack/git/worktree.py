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
    BASE`) or ``worktree`` (`git diff`: unstaged only, against the index). ``base`` defaults to
    HEAD, or to the empty tree in a repository with no commit yet. ``whole_files`` gives every
    changed file whole as context. The ``untracked`` paths show as new files, as after `git add
    -N` (not on the ``cached`` side); the index is not touched.
    """
    options = [*DIFF_OPTIONS, *([WHOLE_FILE_CONTEXT] if whole_files else [])]
    if side == "worktree":
        if base is not None:
            raise BadInput("--worktree diffs the work tree against the index; it takes no --base")
        return _diff_with(repo, untracked, options)
    if base is None:
        base = "HEAD" if repo.head_oid() is not None else repo.empty_tree()
    if not repo.git_ok("rev-parse", "--verify", "--quiet", "--end-of-options", f"{base}^{{tree}}"):
        raise BadInput(f"bad revision for --base: {base}",
                       hint="give a commit, e.g. `--base HEAD~1` or `--base main`")
    if side == "cached":
        return repo.git("diff", "--cached", *options, base, "--")
    return _diff_with(repo, untracked, [*options, base])


def _diff_with(repo: RepoCore, untracked: Sequence[str], args: Sequence[str]) -> str:
    """`git diff ARGS` with the ``untracked`` paths intent-to-add in a copy of the index."""
    if not untracked:
        return repo.git("diff", *args, "--")
    import shutil
    import tempfile

    index = Path(repo.git("rev-parse", "--path-format=absolute", "--git-path", "index").strip())
    with tempfile.TemporaryDirectory(prefix="patchpack-index-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        if index.exists():
            shutil.copyfile(index, env["GIT_INDEX_FILE"])
        cwd = require_workdir(repo)
        # A path git cannot index (`.Git/x`, gone since it was listed) is left out, not the rest.
        run_git(["--literal-pathspecs", "add", "--intent-to-add", "--ignore-errors",
                 "--pathspec-from-file=-", "--pathspec-file-nul"], cwd=cwd, env=env,
                input=encode("\0".join(untracked)), check=False)
        return decode(run_git(["diff", *args, "--"], cwd=cwd, env=env).stdout)


def grep(repo: RepoCore, pattern: str, *, paths: Sequence[str] = ()) -> GrepResult:
    """`git grep -n -E PATTERN` over the tracked files of the work tree, paths root-relative.

    ``paths`` are pathspecs (globs such as ``*.py`` or ``src/``). No match is an empty result;
    a regular expression git refuses raises :class:`BadPattern` (exit 2).
    """
    proc = run_git(
        ["grep", "--no-color", "-n", "-z", "-E", "--full-name", "--no-recurse-submodules",
         "-e", pattern, "--", *paths],
        cwd=repo.workdir or repo.git_dir, check=False,
    )
    if proc.returncode not in (0, 1):
        message = decode(proc.stderr).strip().splitlines()
        reason = message[-1].removeprefix("fatal: ") if message else f"exit {proc.returncode}"
        raise BadPattern(f"bad --grep pattern {pattern!r}: {reason}",
                         hint="give an extended regular expression as `git grep -E` takes it")
    hits, binary = [], []
    for line in decode(proc.stdout).splitlines():
        path, sep, rest = line.partition("\0")
        number, sep2, text = rest.partition("\0")
        if sep and sep2:
            hits.append(GrepHit(path, int(number), text))
        elif line.startswith("Binary file ") and line.endswith(" matches"):
            binary.append(line.removeprefix("Binary file ").removesuffix(" matches"))
    return GrepResult(tuple(hits), tuple(binary))


def untracked_files(repo: RepoCore) -> list[str]:
    """Files of the work tree git neither tracks nor ignores, root-relative, in git's order."""
    listed = repo.git("ls-files", "-z", "--others", "--exclude-standard", "--full-name")
    return [p for p in listed.split("\0") if p]


def tracked_files(repo: RepoCore) -> list[str]:
    """Every tracked path of the index, root-relative (`git ls-files`), in git's order."""
    return [p for p in repo.git("ls-files", "-z", "--full-name").split("\0") if p]




class WorktreeOps(ObjectsOps):
    """The index, the work tree and HEAD, as the queue's commands carry them."""

    def patcher(self) -> Patcher:
        """Applies diffs to trees in a private index (`with repo.patcher() as p: p.apply(...)`)."""
        return Patcher(self)

    def _temp_index(self) -> _TempIndex:
        return _TempIndex(self.git_dir / "patchpack")

    def operation_in_progress(self) -> str | None:
        """``merge``, ``rebase``, ``cherry-pick``... when one is under way, else None."""
        state = self._odb.state()
        if state == pygit2.enums.RepositoryState.NONE:
            return None
        return pygit2.enums.RepositoryState(state).name.lower().replace("_", "-")

    def index_tree(self) -> Oid:
        """The tree the index holds (remembered while the index file is not rewritten)."""
        stamp = _stamp(self.git_dir / "index")
        if self._index_tree is None or self._index_tree[0] != stamp:
            index = self._odb.index
            index.read(False)
            self._index_tree = (stamp, Oid(str(index.write_tree(self._odb))))
        return self._index_tree[1]

    def index_holds(self, tree: Oid) -> None:
        """Tell :meth:`index_tree` that the index file, as it is now, holds ``tree``."""
        self._index_tree = (_stamp(self.git_dir / "index"), tree)

    def worktree_tree(self, *, untracked: bool) -> Oid:
