"""The hooked commit: a commit made in process as `git commit` makes it, hooks and all."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from patchpack import clock
from patchpack.git.objects import CommitRun
from patchpack.git.run import (
    Oid,
    _person,
    _zone,
    decode,
    encode,
    pygit2,
    run_git,
)
from patchpack.git.worktree import WorktreeOps


class CommitOps(WorktreeOps):
    """Commits made on HEAD, as `git commit` makes them."""

    def fixed_date(self, who: str) -> tuple[int, int] | None:
        """The date (seconds, offset) ``GIT_AUTHOR_DATE`` or ``GIT_COMMITTER_DATE`` sets, read
        by git (it takes many formats); None when it is not set and commits are dated now."""
        if f"GIT_{who}_DATE" not in os.environ:
            return None
        when = self.ident(who)
        return None if when is None else (when.time, when.offset)

    def commit(self, message: str, *, tree: Oid, author: str, verify: bool,
               meanwhile: Callable[[Oid], None] | None = None) -> CommitRun:
        """Commit the index (which holds ``tree``) on HEAD as `git commit --cleanup=whitespace
        -F` would, its hooks run the same way; on refusal, what the hooks said.

        The commit is made in process and only the hooks are spawned, as `git am` does; hooks
        declared in config (``hook.*``) and signed commits go through `git commit` itself.
        ``meanwhile(new commit)`` runs while the post-commit hook does, and must change
        nothing anyone can see (it may write objects): this returns once both are done.
        """
        if self._needs_git_commit():
            run = self._git_commit(message, author=author, verify=verify)
            if run.oid is not None and meanwhile is not None:
                meanwhile(run.oid)
            return run
        return _HookedCommit(self, author).run(message, tree=tree, verify=verify,
                                               meanwhile=meanwhile)

    def _git_commit(self, message: str, *, author: str, verify: bool) -> CommitRun:
        args = ["commit", "--quiet", "--cleanup=whitespace", f"--author={author}", "-F", "-"]
        proc = run_git([*args, *([] if verify else ["--no-verify"])], cwd=self._top(),
                       input=encode(message), check=False)
        output = decode(proc.stdout + proc.stderr).strip()
        if proc.returncode != 0:
            return CommitRun(None, output)
        return CommitRun(self.head_oid(), output)

    def auto_maintenance(self) -> None:
        """`git maintenance run --auto`, which `git commit` runs after each commit and `git am`
        once after its series: packs loose objects when there are many."""
        run_git(["maintenance", "run", "--auto", "--quiet"], cwd=self._top(), check=False)


class _HookedCommit:
    """One commit made as `git commit --cleanup=whitespace --author=A -F MSG` makes it, in
    process: pre-commit, the message in ``COMMIT_EDITMSG``, prepare-commit-msg, commit-msg, the
    commit and HEAD moved with a ``commit: <title>`` reflog entry, post-commit.

    Hooks are spawned as git spawns them (githooks(5)): executable files of the hooks dir,
    run from the top of the work tree, stdin empty, with ``GIT_INDEX_FILE``, ``GIT_EDITOR=:``,
    ``GIT_PREFIX`` and the author in ``GIT_AUTHOR_*`` (and ``GIT_DIR`` in a linked worktree),
    their output (stdout and stderr) collected to show when the commit is refused.
    """

    def __init__(self, repo: CommitOps, author: str) -> None:
        self._repo, self._raw = repo, repo._odb
        self._workdir = repo._top()
        self._git_dir = repo.git_dir
        self._index = self._git_dir / "index"
        me = repo.committer()
        now = (int(clock.now().timestamp()), me.offset)
        name, mail = _person(author)
        self.author = pygit2.Signature(name, mail, *(repo.fixed_date("AUTHOR") or now))
        self.committer = pygit2.Signature(me.name, me.email,
                                          *(repo.fixed_date("COMMITTER") or now))
        # Paths as git gives them: relative to the top in a plain repository, absolute (and
        # GIT_DIR exported) from a linked worktree or a separate git dir.
        linked = self._git_dir != self._workdir / ".git"
        self._shown: Callable[[Path], str] = (lambda p: str(p)) if linked else (
            lambda p: str(p.relative_to(self._workdir)))
        self._env = {**os.environ, "GIT_INDEX_FILE": self._shown(self._index),
                     "GIT_EDITOR": ":", "GIT_PREFIX": "", "GIT_AUTHOR_NAME": name,
                     "GIT_AUTHOR_EMAIL": mail,
                     "GIT_AUTHOR_DATE": f"@{self.author.time} {_zone(self.author.offset)}"}
        if linked:
            self._env["GIT_DIR"] = str(self._git_dir)
        self._said: list[str] = []

    def run(self, message: str, *, tree: Oid, verify: bool,
            meanwhile: Callable[[Oid], None] | None = None) -> CommitRun:
        head = self._repo.head_oid()
        assert head is not None
        self._repo.index_holds(tree)
        if verify and not self._hook("pre-commit"):
            return self._refused()
        try:
            # The pre-commit hook may have staged more, or less: git commits what the index
            # holds after it (read again only if the hook rewrote the index file).
