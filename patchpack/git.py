"""The only door to git: pygit2 and the ``git`` program are used here and nowhere else.

The rest of patchpack sees :class:`Repo`, typed ids and plain values.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NewType

import pygit2

from patchpack.errors import BadInput, Failed, NotARepository

Oid = NewType("Oid", str)
"""A full hexadecimal object id."""

# The measure of DESIGN.md: `git diff -M` with 3 lines of context, whatever the user's config
# says about context, hunk merging, prefixes, colour, external diff drivers or path quoting.
DIFF_OPTIONS = (
    "-M",
    "-U3",
    "--inter-hunk-context=0",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)

# Decoding that keeps every byte (non-UTF-8 content and paths) and round-trips to bytes.
ENCODING = "utf-8"
ERRORS = "surrogateescape"


def decode(data: bytes) -> str:
    return data.decode(ENCODING, ERRORS)


def encode(text: str) -> bytes:
    return text.encode(ENCODING, ERRORS)


class GitFailed(BadInput):
    """The git program refused what it was asked (bad revision, bad range, ...)."""


@dataclass(frozen=True)
class CommitDiff:
    oid: Oid
    title: str
    diff: str


def run_git(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run the git program; on failure raise :class:`GitFailed` with git's own message."""
    proc = subprocess.run(
        ["git", "-c", "core.quotePath=false", *args],
        cwd=cwd,
        input=input,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
    )
    if check and proc.returncode != 0:
        message = decode(proc.stderr).strip().splitlines()
        raise GitFailed(
            f"git {args[0]} failed: {message[-1] if message else f'exit {proc.returncode}'}"
        )
    return proc


class Repo:
    """A repository opened at (or above) a directory."""

    def __init__(self, raw: pygit2.Repository) -> None:
        self._raw = raw

    @classmethod
    def discover(cls, start: str | os.PathLike[str] = ".") -> Repo:
        start = os.path.abspath(start)
        found = pygit2.discover_repository(start)
        if found is None:
            raise NotARepository(start)
        return cls(pygit2.Repository(found))

    # -- where things are -------------------------------------------------------------------

    @property
    def git_dir(self) -> Path:
        """The git dir of this worktree (``.git``, or ``.git/worktrees/NAME``)."""
        return Path(self._raw.path)

    @property
    def common_dir(self) -> Path:
        """The git dir shared by all worktrees (refs, objects, config)."""
        return Path(self.git("rev-parse", "--git-common-dir", cwd=self.git_dir).strip())

    @property
    def workdir(self) -> Path | None:
        return Path(self._raw.workdir) if self._raw.workdir else None

    @property
    def is_bare(self) -> bool:
        return bool(self._raw.is_bare)

    def hooks_dir(self) -> Path:
        """Where git looks for hooks, ``core.hooksPath`` respected."""
        where = self.git("rev-parse", "--git-path", "hooks").strip()
        return Path(self.workdir or self.git_dir, where).resolve()

    # -- running git ------------------------------------------------------------------------

    def git(self, *args: str, input: bytes | None = None) -> str:
        """Run git in this repository and return its standard output as text."""
        return decode(run_git(args, cwd=self.workdir or self.git_dir, input=input).stdout)

    def git_ok(self, *args: str) -> bool:
        return run_git(args, cwd=self.workdir or self.git_dir, check=False).returncode == 0

    # -- config -----------------------------------------------------------------------------

    def config_get(self, name: str) -> str | None:
        """The effective value of a config key across all levels, or None."""
        try:
            value = self._raw.config[name]
        except KeyError:
            return None
        return str(value)

    def config_get_all(self, name: str) -> list[str]:
        try:
            return [str(v) for v in self._raw.config.get_multivar(name)]
        except KeyError:
            return []

    def config_set(self, name: str, value: str) -> None:
        self.git("config", "--local", name, value)

    def config_add(self, name: str, value: str) -> None:
        self.git("config", "--local", "--add", name, value)

    def config_unset(self, name: str) -> None:
        run_git(["config", "--local", "--unset-all", name], cwd=self.git_dir, check=False)

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
            shown = self.git(
                "show", "--format=%s", *DIFF_OPTIONS, "--first-parent", "--root", oid, "--"
            )
            title, _, diff = shown.partition("\n")
            out.append(CommitDiff(Oid(oid), title, diff.lstrip("\n")))
        return out

    # -- diffs ------------------------------------------------------------------------------

    def staged_diff(self) -> str:
        """The staged change as `git diff --cached -M` prints it (GIT_INDEX_FILE honoured)."""
        # The git program reads GIT_INDEX_FILE, so this is right inside hooks run by
        # `git commit -a` and `git commit PATH` too, and it diffs against the empty tree
        # when there is no commit yet.
        return self.git("diff", "--cached", *DIFF_OPTIONS, "--")


def require_workdir(repo: Repo) -> Path:
    if repo.workdir is None:
        raise Failed("this is a bare repository: there is no work tree to act on")
    return repo.workdir


def global_config_get(name: str) -> str | None:
    """A config value outside any repository (system and global levels)."""
    proc = run_git(["config", "--get", name], check=False)
    return decode(proc.stdout).strip() if proc.returncode == 0 else None


# -- the micro-patch queue ----------------------------------------------------------------------
# Objects are built in memory with pygit2; anything that must behave exactly as git does (applying
# a diff, measuring one, moving a ref with its reflog, committing through hooks, touching the work
# tree) goes through the git program.

ZERO_OID = Oid("0" * 40)
FILE_MODE = 0o100644
TREE_MODE = 0o040000


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


def _signature(ident: str) -> pygit2.Signature:
    """A signature from `git var`'s ``Name <email> 1700000000 +0000``."""
    who, _, when = ident.rpartition("> ")
    name, _, mail = who.partition(" <")
    seconds, zone = when.split()
    minutes = int(zone[1:3]) * 60 + int(zone[3:5])
    return pygit2.Signature(name, mail, int(seconds), -minutes if zone[0] == "-" else minutes)


def _person(text: str) -> tuple[str, str]:
    import email.utils

    name, mail = email.utils.parseaddr(text)
    return (name or mail, mail)


class QueueGit:
    """The git operations of the micro-patch queue, on one repository."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._raw = repo._raw
        self._committer: pygit2.Signature | None = None

    # objects -------------------------------------------------------------------------------

    def committer(self) -> pygit2.Signature:
        # `git var` applies GIT_COMMITTER_* and the config exactly as `git commit` does.
        if self._committer is None:
            self._committer = _signature(self.repo.git("var", "GIT_COMMITTER_IDENT").strip())
        return self._committer

    def create_commit(self, tree: Oid, parents: Sequence[Oid], message: str,
                      author: str | None = None) -> Oid:
        """Write a commit object (no ref moves)."""
        me = self.committer()
        who = me if author is None else pygit2.Signature(*_person(author), me.time, me.offset)
        oid = self._raw.create_commit(None, who, me, message, pygit2.Oid(hex=tree),
                                      [pygit2.Oid(hex=p) for p in parents])
        return Oid(str(oid))

    def commit_info(self, oid: Oid) -> CommitInfo:
        c = self._raw[oid]
        assert isinstance(c, pygit2.Commit)
        return CommitInfo(Oid(str(c.id)), Oid(str(c.tree_id)),
                          tuple(Oid(str(p)) for p in c.parent_ids), c.message,
                          f"{c.author.name} <{c.author.email}>")

    def tree_of(self, rev: Oid) -> Oid:
        return Oid(str(self._raw[rev].peel(pygit2.Tree).id))

    def empty_tree(self) -> Oid:
        return Oid(str(self._raw.TreeBuilder().write()))

    def write_blob(self, data: bytes) -> Oid:
        return Oid(str(self._raw.create_blob(data)))

    def read_blob(self, oid: Oid) -> bytes:
        blob = self._raw[oid]
        assert isinstance(blob, pygit2.Blob)
        return bytes(blob.data)

    def entry(self, tree: Oid, path: str) -> tuple[Oid, int] | None:
        """The blob (or link, or subtree) at ``path`` in ``tree`` with its mode, or None."""
        t = self._raw[tree]
        assert isinstance(t, pygit2.Tree)
        try:
            e = t[path]
        except KeyError:
            return None
        return Oid(str(e.id)), int(e.filemode)

    def flat_tree(self, entries: Mapping[str, tuple[Oid, int]]) -> Oid:
        """A tree of the given names (no slashes), e.g. the state tree of the queue."""
        builder = self._raw.TreeBuilder()
        for name, (oid, mode) in sorted(entries.items()):
            builder.insert(name, pygit2.Oid(hex=oid), mode)
        return Oid(str(builder.write()))

    def tree_with(self, base: Oid, changes: Mapping[str, tuple[Oid, int] | None]) -> Oid:
        """``base`` with each path set to (blob, mode), or removed where the value is None."""
        index = pygit2.Index()
        index.read_tree(self._raw[base].peel(pygit2.Tree))
        for path, value in changes.items():
            if value is None:
                index.remove(path)
            else:
                index.add(pygit2.IndexEntry(path, pygit2.Oid(hex=value[0]), value[1]))
        return Oid(str(index.write_tree(self._raw)))

    # refs ----------------------------------------------------------------------------------

    def ref(self, name: str) -> Oid | None:
        ref = self._raw.references.get(name)
        return None if ref is None else Oid(str(ref.target))

    def move_ref(self, name: str, new: Oid, old: Oid | None, reason: str) -> None:
        """Move ``name`` to ``new`` only if it is still at ``old`` (None: does not exist yet),
        with ``reason`` in its reflog; RefMoved (and no change) otherwise."""
        if old is None:
            # git creates the reflog, which libgit2 then keeps writing to.
            proc = run_git(["update-ref", "--create-reflog", "-m", reason, name, new, ""],
                           cwd=self.repo.workdir or self.repo.git_dir, check=False)
            if proc.returncode != 0:
                raise RefMoved(f"{name} was created by another process meanwhile")
            return
        try:
            with self._raw.transaction() as txn:
                txn.lock_ref(name)  # held until the end: a compare-and-swap
                if self.ref(name) != old:
                    raise RefMoved(f"{name} was moved by another process meanwhile")
                me = self.committer()
                # The reflog's identity (a Signature made in Python cannot be passed here).
                self._raw.set_ident(me.name, me.email)
                txn.set_target(name, new, message=reason)
        except pygit2.GitError as e:  # locked by another writer at this very moment
            raise RefMoved(f"{name} is being changed by another process: {e}") from None

    # diffs ---------------------------------------------------------------------------------

    def diff_trees(self, old: Oid, new: Oid, *, context: int = 3) -> str:
        """`git diff -M` between two trees, with the measure's options."""
        return self.repo.git("diff-tree", "-p", *DIFF_OPTIONS, f"-U{context}", "-r",
                             old, new, "--")

    def changes(self, old: Oid, new: Oid) -> list[RawChange]:
        """The files that differ between two trees, renames found, in git's order."""
        out = decode(run_git(["diff-tree", "-r", "-z", "-M", "--no-ext-diff", old, new],
                             cwd=self.repo.workdir or self.repo.git_dir).stdout).split("\0")
        found, i = [], 0
        while i + 1 < len(out):
            old_mode, new_mode, _, new_oid, status = out[i].lstrip(":").split()
            paths = out[i + 1: i + (3 if status[0] in "RC" else 2)]
            i += 1 + len(paths)
            found.append(RawChange(status[0], paths[0] if len(paths) == 2 else None, paths[-1],
                                   int(old_mode, 8) or None, int(new_mode, 8) or None,
                                   Oid(new_oid)))
        return found

    def commit_diffs(self, oids: Sequence[Oid]) -> dict[Oid, str]:
        """Each commit's diff against its first parent, exactly as `patchpack check` sees it."""
        if not oids:
            return {}
        shown = self.repo.git("show", "--format=%x00%H", *DIFF_OPTIONS, "--first-parent",
                              "--root", *oids, "--")
        out = {}
        for chunk in shown.split("\0")[1:]:
            oid, _, diff = chunk.partition("\n")
            out[Oid(oid)] = diff.lstrip("\n")
        return out

    def paths_between(self, old: Oid, new: Oid) -> list[str]:
        """Every path that differs between two trees (both sides of a rename)."""
        diff = self._raw[old].peel(pygit2.Tree).diff_to_tree(self._raw[new].peel(pygit2.Tree))
        return sorted({p for d in diff.deltas for p in (d.old_file.path, d.new_file.path)})

    def patcher(self) -> Patcher:
        """Applies diffs to trees in a private index (`with qg.patcher() as p: p.apply(...)`)."""
        return Patcher(self)

    def merge(self, ancestor: Oid, ours: Oid, theirs: Oid) -> tuple[Oid | None, list[str]]:
        """A 3-way merge of trees: the result, or None and the conflicted paths."""
        index = self._raw.merge_trees(ancestor, ours, theirs)
        if index.conflicts is not None:
            paths = sorted({e.path for entries in index.conflicts for e in entries if e})
            return None, paths
        return Oid(str(index.write_tree(self._raw))), []

    # the work tree, the index and HEAD -----------------------------------------------------

    def _workdir(self) -> Path:
        return require_workdir(self.repo)

    def _temp_index(self) -> _TempIndex:
        return _TempIndex(self.repo.git_dir / "patchpack")

    def operation_in_progress(self) -> str | None:
        """``merge``, ``rebase``, ``cherry-pick``... when one is under way, else None."""
        state = self._raw.state()
        if state == pygit2.enums.RepositoryState.NONE:
            return None
        return pygit2.enums.RepositoryState(state).name.lower().replace("_", "-")

    def index_tree(self) -> Oid:
        index = self._raw.index
        index.read(False)
        return Oid(str(index.write_tree(self._raw)))

    def worktree_tree(self, *, untracked: bool) -> Oid:
        """The work tree as a tree (ignored files left out), without touching the index."""
        with self._temp_index() as env:
            index_file = Path(self.repo.git_dir, "index")
            if index_file.exists():
                # A copy keeps the stat data, so git hashes only the files that changed.
                Path(env["GIT_INDEX_FILE"]).write_bytes(index_file.read_bytes())
            run_git(["add", "--all" if untracked else "--update", "--", "."],
                    cwd=self._workdir(), env=env)
            return Oid(decode(run_git(["write-tree"], cwd=self._workdir(), env=env).stdout)
                       .strip())

    def dirty(self, paths: Sequence[str]) -> list[str]:
        """The paths among ``paths`` with staged, unstaged or untracked changes."""
        out = []
        for path in paths:
            try:
                flags = self._raw.status_file(path)
            except KeyError:
                continue  # neither in the index nor in the work tree
            if flags not in (pygit2.enums.FileStatus.CURRENT, pygit2.enums.FileStatus.IGNORED):
                out.append(path)
            elif flags == pygit2.enums.FileStatus.IGNORED and (self._workdir() / path).exists():
                out.append(path)
        return out

    def switch_tree(self, old: Oid, new: Oid) -> None:
        """Carry the index and work tree from ``old`` to ``new`` (`git read-tree -m -u`).

        Local changes to other paths stay; git refuses, changing nothing, when a path that
        differs between the trees has local changes.
        """
        run_git(["read-tree", "-m", "-u", old, new], cwd=self._workdir())

    def read_index(self, tree: Oid) -> None:
        """Set the index to ``tree``, keeping stat data, without touching the work tree."""
        run_git(["read-tree", "-m", tree], cwd=self._workdir())

    def commit(self, message: str, *, author: str, verify: bool) -> CommitRun:
        """`git commit` of the index, hooks and all; on failure, what git and the hooks said."""
        args = ["commit", "--quiet", "--cleanup=whitespace", f"--author={author}", "-F", "-"]
        proc = run_git([*args, *([] if verify else ["--no-verify"])], cwd=self._workdir(),
                       input=encode(message), check=False)
        output = decode(proc.stdout + proc.stderr).strip()
        if proc.returncode != 0:
            return CommitRun(None, output)
        return CommitRun(self.repo.head_oid(), output)

    def reset_hard(self, rev: Oid) -> None:
        """Index and work tree to ``rev``: files in the index but not in ``rev`` go too."""
        run_git(["reset", "--quiet", "--hard", rev], cwd=self._workdir())

    def reset_keep(self, rev: Oid) -> None:
        """Move HEAD to ``rev`` keeping local changes; git refuses if they would be lost."""
        run_git(["reset", "--quiet", "--keep", rev], cwd=self._workdir())

    def add_all(self, *, untracked: bool) -> None:
        run_git(["add", "--all" if untracked else "--update", "--", "."], cwd=self._workdir())

    def snapshot_index(self) -> bytes | None:
        index_file = self.repo.git_dir / "index"
        return index_file.read_bytes() if index_file.exists() else None

    def restore(self, *, head: Oid, index: bytes | None, paths: Sequence[str]) -> None:
        """Put HEAD, the index and ``paths`` of the work tree back as they were.

        ``index`` is the index file as it was; ``paths`` were clean then (equal to the index).
        """
        workdir = self._workdir()
        if self.repo.head_oid() != head:
            run_git(["update-ref", "-m", "patchpack: roll back", "HEAD", head], cwd=workdir)
        index_file = self.repo.git_dir / "index"
        if index is None:
            index_file.unlink(missing_ok=True)
        else:
            tmp = index_file.with_name("index.patchpack")
            tmp.write_bytes(index)
            os.replace(tmp, index_file)
        self._raw.index.read(True)
        tracked = [p for p in paths if p in self._raw.index]
        for path in sorted(set(paths) - set(tracked)):
            target = workdir / path
            if target.is_symlink() or target.is_file():
                target.unlink()
            _prune_empty_dirs(target.parent, workdir)
        if tracked:
            run_git(["checkout-index", "--force", "--", *tracked], cwd=workdir)


class Patcher:
    """Applies diffs to trees with `git apply --cached` in a private index, which is re-read
    only when the next diff targets another tree (a series of mails costs one process each)."""

    def __init__(self, qg: QueueGit) -> None:
        self._qg = qg
        self._tree: Oid | None = None

    def __enter__(self) -> Patcher:
        self._temp = self._qg._temp_index()
        self._env = self._temp.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._temp.__exit__(*exc)

    def apply(self, tree: Oid, diff: bytes) -> Oid:
        """The tree ``diff`` makes of ``tree``; DoesNotFit with git's words when it does not."""
        cwd = self._qg._workdir()
        if tree != self._tree:
            run_git(["read-tree", tree], cwd=cwd, env=self._env)
            self._tree = tree
        # git apply changes nothing when it fails, so the index still holds ``tree`` then.
        proc = run_git(["apply", "--cached", "--whitespace=nowarn", "-"], cwd=cwd,
                       env=self._env, input=diff, check=False)
        if proc.returncode != 0:
            raise DoesNotFit(decode(proc.stderr).strip())
        self._tree = Oid(decode(run_git(["write-tree"], cwd=cwd, env=self._env).stdout).strip())
        return self._tree


def _prune_empty_dirs(directory: Path, top: Path) -> None:
    while directory != top and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


class _TempIndex:
    """A private index file for git commands (``GIT_INDEX_FILE``), removed afterwards."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def __enter__(self) -> dict[str, str]:
        import tempfile

        self._directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="index-", dir=self._directory)
        os.close(fd)
        os.unlink(name)  # git wants to create it, not to find an empty file
        self._path = name
        return {"GIT_INDEX_FILE": name}

    def __exit__(self, *exc: object) -> None:
        for leftover in (self._path, self._path + ".lock"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
