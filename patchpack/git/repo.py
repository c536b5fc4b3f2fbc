"""A repository: where it is, its config, its refs and revisions."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Self

from patchpack.errors import BadInput, Failed, NotARepository
from patchpack.git.run import (
    DIFF_OPTIONS,
    CommitDiff,
    GitFailed,
    Oid,
    _signature,
    decode,
    encode,
    pygit2,
    run_git,
)


class RepoCore:
    """Where a repository is, its config, its refs and revisions; the state the other groups
    of operations share."""

    def __init__(self, git_dir: Path, workdir: Path | None, *, bare: bool) -> None:
        self.git_dir = git_dir
        """The git dir of this worktree (``.git``, or ``.git/worktrees/NAME``)."""
        self._workdir = workdir
        self.is_bare = bare
        self._config: dict[str, list[str]] | None = None
        self._idents: dict[str, pygit2.Signature | None] = {}
        self._ident_set = False
        self._hooks_dir: Path | None = None
        self._index_tree: tuple[tuple[int, int, int] | None, Oid] | None = None
        self._batch_raw: pygit2.Repository | None = None

    @classmethod
    def discover(cls, start: str | os.PathLike[str] = ".") -> Self:
        """The repository at or above ``start``, found as git finds it (``GIT_DIR`` too)."""
        start = os.path.abspath(start)
        if not os.path.isdir(start):
            raise NotARepository(start)
        proc = run_git(["rev-parse", "--absolute-git-dir", "--is-bare-repository",
                        "--show-object-format", "--show-toplevel"], cwd=start, check=False)
        out = decode(proc.stdout).splitlines()
        if len(out) < 3:  # git said why on stderr: not a repository, dubious ownership...
            message = decode(proc.stderr).strip()
            if "not a git repository" in message:
                raise NotARepository(start)
            raise Failed(f"git cannot open the repository at {start}: {message}",
                         hint="see `git status` there")
        if out[2] != "sha1":
            # libgit2 (pygit2 1.21, libgit2 1.9) opens no sha256 repository: refused here,
            # before any command reads or writes a thing (issue 15).
            raise BadInput(f"{out[0]} is a {out[2]} repository; patchpack works in sha1 "
                           "repositories only (libgit2, which it uses, cannot read "
                           f"{out[2]} ones yet)",
                           hint="use git itself in this repository, or patchpack in one "
                           "made by `git init --object-format=sha1`")
        bare = out[1] == "true"
        # No top level from inside the git dir of a work tree: libgit2 knows where it is.
        workdir = Path(out[3]) if len(out) > 3 else None
        return cls(Path(out[0]), workdir, bare=bare)

    @functools.cached_property
    def _raw(self) -> pygit2.Repository:
        return pygit2.Repository(str(self.git_dir))

    # -- where things are -------------------------------------------------------------------

    @property
    def _odb(self) -> pygit2.Repository:
        """The repository objects are read from and written to: the one of a :meth:`batch`
        while one is under way (objects in memory first), else the repository itself."""
        return self._raw if self._batch_raw is None else self._batch_raw

    def _top(self) -> Path:
        """The top of the work tree; Failed in a bare repository."""
        return require_workdir(self)

    @property
    def common_dir(self) -> Path:
        """The git dir shared by all worktrees (refs, objects, config)."""
        out = run_git(["rev-parse", "--path-format=absolute", "--git-common-dir"],
                      cwd=self.git_dir).stdout
        return Path(decode(out).strip())

    @functools.cached_property
    def workdir(self) -> Path | None:
        if self._workdir is not None or self.is_bare:
            return self._workdir
        return Path(self._raw.workdir) if self._raw.workdir else None

    def hooks_dir(self) -> Path:
        """Where git looks for hooks, ``core.hooksPath`` respected."""
        if self._hooks_dir is None:
            where = self.git("rev-parse", "--git-path", "hooks").strip()
            self._hooks_dir = Path(self.workdir or self.git_dir, where).resolve()
        return self._hooks_dir

    def committer(self) -> pygit2.Signature:
        """Who commits: `git var` applies GIT_COMMITTER_* and the config as `git commit` does.

        Without any identity (a fresh machine), objects patchpack writes for itself (notes,
        queue states) are signed by patchpack rather than refused.
        """
        return self.ident("COMMITTER") or pygit2.Signature("patchpack", "patchpack@localhost")

    def ident(self, who: str) -> pygit2.Signature | None:
        """``AUTHOR`` or ``COMMITTER`` as `git var` gives it (environment, config, dates set
