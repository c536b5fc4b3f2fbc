"""The hooked commit: a commit made in process as `git commit` makes it, hooks and all."""

from __future__ import annotations

import errno
import os
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
from patchpack.git.where import read_all
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

    def commit(
        self,
        message: str,
        *,
        tree: Oid,
        author: str,
        verify: bool,
        ahead: Callable[[Oid], None] | None = None,
        meanwhile: Callable[[Oid], None] | None = None,
    ) -> CommitRun:
        """Commit the index (which holds ``tree``) on HEAD as `git commit --cleanup=whitespace
        -F` would, its hooks run the same way; on refusal, what the hooks said.

        The commit is made in process and only the hooks are spawned, as `git am` does; hooks
        declared in config (``hook.*``) and signed commits go through `git commit` itself.
        Two callbacks do work beside the hooks, and must change nothing anyone can see (they
        may write objects): ``ahead(commit)`` while the pre-commit hook runs, with the commit
        as it will be unless a hook changes the index or the message (then it is called again,
        with the commit made); ``meanwhile(new commit)`` once HEAD is on it, while the
        post-commit hook runs. This returns once all are done.
        """
        if self._needs_git_commit():
            run = self._git_commit(message, author=author, verify=verify)
            if run.oid is not None:
                for then in (ahead, meanwhile):
                    if then is not None:
                        then(run.oid)
            return run
        hooked = _HookedCommit(self, author)
        return hooked.run(message, tree=tree, verify=verify, ahead=ahead, meanwhile=meanwhile)

    def _git_commit(self, message: str, *, author: str, verify: bool) -> CommitRun:
        args = ["commit", "--quiet", "--cleanup=whitespace", f"--author={author}", "-F", "-"]
        proc = run_git(
            [*args, *([] if verify else ["--no-verify"])], cwd=self._top(), input=encode(message), check=False
        )
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
        self.committer = pygit2.Signature(me.name, me.email, *(repo.fixed_date("COMMITTER") or now))
        # Paths as git gives them: relative to the top in a plain repository, absolute (and
        # GIT_DIR exported) from a linked worktree or a separate git dir.
        linked = self._git_dir != self._workdir / ".git"
        self._shown: Callable[[Path], str] = (
            (lambda p: str(p)) if linked else (lambda p: str(p.relative_to(self._workdir)))
        )
        self._env = {
            **os.environ,
            "GIT_INDEX_FILE": self._shown(self._index),
            "GIT_EDITOR": ":",
            "GIT_PREFIX": "",
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": mail,
            "GIT_AUTHOR_DATE": f"@{self.author.time} {_zone(self.author.offset)}",
        }
        if linked:
            self._env["GIT_DIR"] = str(self._git_dir)
        self._said: list[str] = []

    def run(
        self,
        message: str,
        *,
        tree: Oid,
        verify: bool,
        ahead: Callable[[Oid], None] | None = None,
        meanwhile: Callable[[Oid], None] | None = None,
    ) -> CommitRun:
        head = self._repo.head_oid()
        assert head is not None
        self._repo.index_holds(tree)
        message = stripspace(message)
        pre = self._start("pre-commit") if verify else None
        # The commit as it will be unless a hook changes it: the same bytes, the same id.
        planned = tree, message
        expected = self._object(tree, message, head) if ahead is not None else None
        try:
            if ahead is not None and expected is not None:
                ahead(expected)
        finally:
            passed = pre is None or self._finish("pre-commit", pre)
        if not passed:
            return self._refused()
        try:
            # The pre-commit hook may have staged more, or less: git commits what the index
            # holds after it (read again only if the hook rewrote the index file).
            tree = self._repo.index_tree()
        except pygit2.GitError as e:
            return self._refused(f"the index cannot be committed: {e}")
        if tree == self._repo.tree_of(head):
            return self._refused("nothing to commit: the index is at HEAD")
        edit = self._git_dir / "COMMIT_EDITMSG"
        # A new file, not the last one truncated: ext4 (auto_da_alloc) flushes a file
        # rewritten after a truncation when it is closed, 2.5 ms a patch against 0.1 (#16).
        edit.unlink(missing_ok=True)
        edit.write_bytes(encode(message))
        if not self._hook("prepare-commit-msg", self._shown(edit), "message"):
            return self._refused()
        if verify and not self._hook("commit-msg", self._shown(edit)):
            return self._refused()
        message = stripspace(decode(edit.read_bytes()))  # commit-msg may have rewritten it
        if not message:
            return self._refused("Aborting commit due to empty commit message.")
        if expected is not None and (tree, message) == planned:
            oid = expected  # written already, while the pre-commit hook ran
        else:
            oid = self._object(tree, message, head)
            if ahead is not None:
                ahead(oid)
        ref = "HEAD" if self._raw.head_is_detached else self._raw.head.name
        title = message.split("\n", 1)[0]
        if not self._repo.update_ref(ref, oid, head, message=f"commit: {title}"):
            return self._refused(f"{ref} moved while the hooks ran; nothing was committed")
        # As with git, the post-commit hook's exit status changes nothing. Python would only
        # wait for it: ``meanwhile`` does its work then (on the other core, if there is one).
        post = self._start("post-commit")
        try:
            if meanwhile is not None:
                meanwhile(oid)
        finally:
            if post is not None:
                self._finish("post-commit", post)
        return CommitRun(oid, "\n".join(self._said))

    def _object(self, tree: Oid, message: str, parent: Oid) -> Oid:
        """The commit object of ``tree`` with ``message`` on ``parent``, written (no ref moves)."""
        made = self._raw.create_commit(
            None, self.author, self.committer, encode(message), pygit2.Oid(hex=tree), [pygit2.Oid(hex=parent)]
        )
        return Oid(str(made))

    def _refused(self, why: str | None = None) -> CommitRun:
        return CommitRun(None, "\n".join([*self._said, *([why] if why else [])]).strip())

    def _hook(self, name: str, *args: str) -> bool:
        """Run hook ``name`` if there is one; False when it exits non-zero."""
        hook = self._start(name, *args)
        return hook is None or self._finish(name, hook)

    def _start(self, name: str, *args: str) -> _Hook | None:
        """Start hook ``name``; None when there is none."""
        path = self._repo.hooks_dir() / name
        if not (path.is_file() and os.access(path, os.X_OK)):
            return None  # git ignores a hook that is not executable
        argv = [str(path), *args]
        try:
            hook = self._spawn(argv)
        except OSError as e:
            if e.errno != errno.ENOEXEC:
                raise
            hook = self._spawn(["/bin/sh", *argv])  # no #! line: git runs it with sh too
        # The hook waits on this CPU's queue until the scheduler moves one of the two, about
        # a millisecond: yielding runs it at once, so that work done meanwhile is done beside
        # it (bench/queue_throughput.py, #16).
        os.sched_yield()
        return hook

    def _finish(self, name: str, hook: _Hook) -> bool:
        """Wait for a started hook and keep what it said; False when it exited non-zero."""
        status = hook.wait()
        said = decode(hook.output).rstrip()
        if said:
            self._said.append(said)
        if status != 0:
            self._said.append(f"(the {name} hook exited with status {status})")
        return status == 0

    def _spawn(self, argv: list[str]) -> _Hook:
        # os.posix_spawn, not subprocess: a tenth of a millisecond less a hook, four hooks a
        # patch (#16). It has no working directory of its own: this process moves there for
        # the call, when it is elsewhere.
        here = os.getcwd()
        if here != str(self._workdir):
            os.chdir(self._workdir)
        try:
            return _Hook(argv, self._env)
        finally:
            if here != str(self._workdir):
                os.chdir(here)


class _Hook:
    """A hook started with stdin empty and stdout and stderr in one pipe (git sends a hook's
    stdout to stderr; both are collected here, in order)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.output = b""
        self._out, write = os.pipe()
        try:
            self._pid = os.posix_spawn(
                argv[0],
                argv,
                env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, write, 1),
                    (os.POSIX_SPAWN_DUP2, write, 2),
                ],
            )
        except BaseException:
            os.close(self._out)
            raise
        finally:
            os.close(write)

    def wait(self) -> int:
        """Its exit status, once it has ended (minus the signal that ended it); what it said is
        in ``output``. Interrupted, it does not wait: the hook had the same Ctrl-C."""
        try:
            self.output = read_all(self._out)
        except BaseException:
            os.waitpid(self._pid, os.WNOHANG)
            raise
        finally:
            os.close(self._out)
        return os.waitstatus_to_exitcode(os.waitpid(self._pid, 0)[1])


def stripspace(text: str) -> str:
    """A commit message as `git commit --cleanup=whitespace` keeps it: trailing whitespace
    and leading and trailing blank lines gone, runs of blank lines made one, a final newline."""
    out: list[str] = []
    gap = False
    for line in text.split("\n"):
        line = line.rstrip(" \t\r\n")  # git's isspace(), not Python's wider one
        if not line:
            gap = bool(out)
            continue
        if gap:
            out.append("")
        out.append(line)
        gap = False
    return "".join(line + "\n" for line in out)
