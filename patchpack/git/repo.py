"""A repository: where it is, its config, its refs and revisions."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Self

from patchpack.errors import BadInput, Failed
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
from patchpack.git.where import config_key as config_key
from patchpack.git.where import find
from patchpack.git.where import read_config as read_config


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
        git_dir, top, bare = find(start)
        # No top level from inside the git dir of a work tree: libgit2 knows where it is.
        return cls(Path(git_dir), Path(top) if top is not None else None, bare=bare)

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
        out = run_git(["rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=self.git_dir).stdout
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
        by GIT_*_DATE in any format git takes); None when git knows no identity."""
        if who not in self._idents:
            proc = run_git(["var", f"GIT_{who}_IDENT"], cwd=self.workdir or self.git_dir, check=False)
            ident = decode(proc.stdout).strip()
            self._idents[who] = _signature(ident) if proc.returncode == 0 and ident else None
        return self._idents[who]

    # -- running git ------------------------------------------------------------------------

    def git(self, *args: str, input: bytes | None = None) -> str:
        """Run git in this repository and return its standard output as text."""
        return decode(run_git(args, cwd=self.workdir or self.git_dir, input=input).stdout)

    def git_ok(self, *args: str) -> bool:
        return run_git(args, cwd=self.workdir or self.git_dir, check=False).returncode == 0

    # -- config -----------------------------------------------------------------------------

    def config_get(self, name: str) -> str | None:
        """The effective value of a config key across all levels, or None."""
        values = self.config_get_all(name)
        return values[-1] if values else None

    def config_get_all(self, name: str) -> list[str]:
        return self._config_map().get(config_key(name), [])

    def config_true(self, name: str) -> bool:
        """Whether a boolean config key is set to true (git's spellings of it)."""
        return (self.config_get(name) or "false").lower() in ("true", "yes", "on", "1")

    def config_names(self, prefix: str) -> list[str]:
        """The (normalised) keys set at any level that start with ``prefix`` (``hook.``)."""
        return [key for key in self._config_map() if key.startswith(prefix)]

    def _config_map(self) -> dict[str, list[str]]:
        if self._config is None:
            self._config = read_config(self.workdir or self.git_dir)
        return self._config

    def config_add(self, name: str, value: str) -> None:
        self.git("config", "--local", "--add", name, value)
        self._config = None

    # -- HEAD and history -------------------------------------------------------------------

    def head_oid(self) -> Oid | None:
        """The commit HEAD points at, or None in a repository with no commits yet."""
        if self._raw.head_is_unborn:
            return None
        return Oid(str(self._raw.head.target))

    def branch(self) -> str | None:
        """The short name of the checked-out branch, or None on a detached HEAD."""
        if self._raw.head_is_detached:
            return None
        ref = self._raw.references.get("HEAD")
        target = ref.target if ref is not None else ""
        return str(target).removeprefix("refs/heads/") or None

    def commits_in_range(self, spec: str) -> list[CommitDiff]:
        """Each commit of ``A..B`` (oldest first) with its diff against its first parent."""
        if ".." not in spec:
            spec = f"{spec}^!"  # a single revision: that commit on its own
        try:
            listed = self.git("rev-list", "--reverse", "--no-merges", spec, "--")
        except GitFailed:
            raise BadInput(
                f"bad revision range: {spec}",
                hint="give a range such as `HEAD~3..HEAD` or `origin/main..`",
            ) from None
        out = []
        for oid in listed.split():
            shown = self.git("show", "--format=%s", *DIFF_OPTIONS, "--first-parent", "--root", oid, "--")
            title, _, diff = shown.partition("\n")
            out.append(CommitDiff(Oid(oid), title, diff.lstrip("\n")))
        return out

    # -- diffs ------------------------------------------------------------------------------

    def empty_tree(self) -> Oid:
        """The empty tree, written in process (its id depends on the repository's hash)."""
        return Oid(str(self._raw.TreeBuilder().write()))

    def staged_diff(self) -> str:
        """The staged change as `git diff --cached -M` prints it (GIT_INDEX_FILE honoured)."""
        # The git program reads GIT_INDEX_FILE, so this is right inside hooks run by
        # `git commit -a` and `git commit PATH` too, and it diffs against the empty tree
        # when there is no commit yet.
        return self.git("diff", "--cached", *DIFF_OPTIONS, "--")

    # -- ledger: notes trees, refs with compare-and-swap ----------------------------------

    def read_ref(self, name: str) -> Oid | None:
        """The object a ref points at (peeled through symbolic refs), or None."""
        ref = self._raw.references.get(name)
        return None if ref is None else Oid(str(ref.resolve().target))

    def has_ref(self, name: str) -> bool:
        """Whether ref ``name`` exists; asks the git program, so libgit2 stays unloaded."""
        return self.git_ok("show-ref", "--verify", "--quiet", name)

    def update_ref(self, name: str, new: Oid, old: Oid | None, *, message: str) -> bool:
        """Move ``name`` to ``new`` only if it still points at ``old`` (None: does not exist),
        with ``message`` in its reflog. False, and no change, when another writer moved it
        first: the caller rebuilds on what won and retries."""
        if old is None:
            # git creates the ref with its reflog, which libgit2 then keeps writing to.
            proc = run_git(
                ["update-ref", "--create-reflog", "-m", message, name, new, ""],
                cwd=self.workdir or self.git_dir,
                check=False,
            )
            return proc.returncode == 0
        ref = self._raw.references.get(name)
        if ref is None or str(ref.resolve().target) != old:
            return False
        if not self._ident_set:
            me = self.committer()
            # The reflog's identity (a Signature made in Python cannot be passed here).
            self._raw.set_ident(me.name, me.email)
            self._ident_set = True
        try:
            # libgit2 writes the new value only if the ref still holds the one ``ref`` was
            # read with (a compare-and-swap under the ref's lock).
            # A reflog line is text: bytes that are not UTF-8 (a title's) are replaced there.
            ref.resolve().set_target(pygit2.Oid(hex=new), encode(message).decode(errors="replace"))
        except pygit2.GitError:  # moved meanwhile
            return False
        except OSError as e:  # locked by another writer at this very moment (GIT_ELOCKED)
            if "lock" not in str(e):
                raise
            return False
        return True

    def delete_ref(self, name: str, old: Oid) -> bool:
        """Delete ``name`` only if it still points at ``old``; False, and no change, if not."""
        proc = run_git(["update-ref", "-d", name, old], cwd=self.workdir or self.git_dir, check=False)
        return proc.returncode == 0

    def is_ancestor(self, ancestor: Oid, descendant: Oid) -> bool:
        """True when ``ancestor`` is ``descendant`` or in its history."""
        if ancestor == descendant:
            return True
        try:
            return bool(self._raw.descendant_of(descendant, ancestor))
        except (KeyError, ValueError, pygit2.GitError):
            return False

    def resolve_commit(self, rev: str) -> Oid:
        """The commit ``rev`` names; BadInput when it names none."""
        try:
            commit = self._raw.revparse_single(rev).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            raise BadInput(f"not a commit: {rev}", hint="give a revision such as HEAD or HEAD~1") from None
        return Oid(str(commit.id))

    def rev_list(self, spec: str) -> list[Oid]:
        """The commits of a revision range (``A..B``, or one revision and its history)."""
        try:
            return [Oid(o) for o in self.git("rev-list", spec, "--").split()]
        except GitFailed:
            raise BadInput(
                f"bad revision range: {spec}", hint="give a range such as `HEAD~3..HEAD` or `origin/main..`"
            ) from None

    def commit_subject(self, oid: Oid) -> str:
        try:
            return str(self._raw[oid].peel(pygit2.Commit).message).partition("\n")[0]
        except (KeyError, ValueError):
            return ""


def require_workdir(repo: RepoCore) -> Path:
    if repo.workdir is None:
        raise Failed("this is a bare repository: there is no work tree to act on")
    return repo.workdir


def global_config_get(name: str) -> str | None:
    """A config value outside any repository (system and global levels)."""
    values = read_config().get(config_key(name), [])
    return values[-1] if values else None
