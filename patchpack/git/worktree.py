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


def work_diff(
    repo: RepoCore,
    *,
    base: str | None = None,
    side: str = "both",
    whole_files: bool = False,
    untracked: Sequence[str] = (),
) -> str:
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
        raise BadInput(
            f"bad revision for --base: {base}", hint="give a commit, e.g. `--base HEAD~1` or `--base main`"
        )
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
        run_git(
            [
                "--literal-pathspecs",
                "add",
                "--intent-to-add",
                "--ignore-errors",
                "--pathspec-from-file=-",
                "--pathspec-file-nul",
            ],
            cwd=cwd,
            env=env,
            input=encode("\0".join(untracked)),
            check=False,
        )
        return decode(run_git(["diff", *args, "--"], cwd=cwd, env=env).stdout)


def grep(repo: RepoCore, pattern: str, *, paths: Sequence[str] = ()) -> GrepResult:
    """`git grep -n -E PATTERN` over the tracked files of the work tree, paths root-relative.

    ``paths`` are pathspecs (globs such as ``*.py`` or ``src/``). No match is an empty result;
    a regular expression git refuses raises :class:`BadPattern` (exit 2).
    """
    proc = run_git(
        [
            "grep",
            "--no-color",
            "-n",
            "-z",
            "-E",
            "--full-name",
            "--no-recurse-submodules",
            "-e",
            pattern,
            "--",
            *paths,
        ],
        cwd=repo.workdir or repo.git_dir,
        check=False,
    )
    if proc.returncode not in (0, 1):
        message = decode(proc.stderr).strip().splitlines()
        reason = message[-1].removeprefix("fatal: ") if message else f"exit {proc.returncode}"
        raise BadPattern(
            f"bad --grep pattern {pattern!r}: {reason}",
            hint="give an extended regular expression as `git grep -E` takes it",
        )
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
        """The work tree as a tree (ignored files left out), without touching the index."""
        with self._temp_index() as env:
            index_file = Path(self.git_dir, "index")
            if index_file.exists():
                # A copy keeps the stat data, so git hashes only the files that changed, and
                # the index's mtime: git trusts an entry's stat data only when the file is
                # older than the index, and a copy made now would make a same-size edit in
                # the index's second look clean ("racily clean", see git's racy-git.txt).
                copy = Path(env["GIT_INDEX_FILE"])
                copy.write_bytes(index_file.read_bytes())
                stamp = index_file.stat().st_mtime_ns
                os.utime(copy, ns=(stamp, stamp))
            run_git(["add", "--all" if untracked else "--update", "--", "."], cwd=self._top(), env=env)
            return Oid(decode(run_git(["write-tree"], cwd=self._top(), env=env).stdout).strip())

    def stamps(self, paths: Sequence[str]) -> tuple[tuple[int, int, int, int] | None, ...]:
        """What changes when anyone writes the work-tree file at each of ``paths`` (None:
        nothing there), to tell later whether someone did."""
        top = self._top()
        found: list[tuple[int, int, int, int] | None] = []
        for path in paths:
            try:
                st = os.lstat(top / path)
            except (FileNotFoundError, NotADirectoryError):
                found.append(None)
            else:
                found.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        return tuple(found)

    def dirty(self, paths: Sequence[str]) -> list[str]:
        """The paths among ``paths`` with staged, unstaged or untracked changes."""
        if self.config_true("core.sparseCheckout"):
            return self._dirty_by_git(paths)
        # libgit2 cannot word an error about a path that is not UTF-8 (a UnicodeDecodeError
        # instead of a KeyError): git is asked about those.
        odd = [path for path in paths if not _utf8(path)]
        out = self._dirty_by_git(odd)
        for path in paths:
            if path in odd:
                continue
            try:
                flags = self._odb.status_file(path)
            except KeyError:
                continue  # neither in the index nor in the work tree
            except pygit2.AmbiguousError:
                # A directory here, a file on the other side (#15): the tracked files in it
                # are among ``paths`` and checked on their own; any other file is in the way.
                # A repository of its own is a submodule's checkout, which git leaves alone.
                if not (self._top() / path / ".git").exists():
                    out += sorted(set(self._files_under(path)) - set(paths))
                continue
            if flags == pygit2.enums.FileStatus.WT_MODIFIED and self._gitlink(path):
                continue  # git leaves a submodule's checkout alone when not recursing (#15)
            status = pygit2.enums.FileStatus
            ignored = flags == status.IGNORED
            if flags != status.CURRENT and (not ignored or (self._top() / path).exists()):
                out.append(path)
        return out

    def _dirty_by_git(self, paths: Sequence[str]) -> list[str]:
        """`dirty` as git's own status sees it: libgit2 knows nothing of sparse checkouts (a
        path outside the cone, in the index only, is a deleted file to it, #15) and cannot
        name a path that is not UTF-8."""
        if not paths:
            return []
        shown = run_git(
            [
                "--literal-pathspecs",
                "status",
                "--porcelain",
                "-z",
                "--untracked-files=all",
                "--ignored=matching",
                "--no-renames",
                "--ignore-submodules=dirty",
                "--",
                *paths,
            ],
            cwd=self._top(),
        )
        return sorted(line[3:] for line in decode(shown.stdout).split("\0") if line)

    def _has_gitlink(self, trees: Sequence[Oid], paths: Sequence[str]) -> bool:
        return any(
            (found := self.entry(tree, path)) is not None and found[1] == pygit2.enums.FileMode.COMMIT
            for tree in trees
            for path in paths
        )

    def _gitlink(self, path: str) -> bool:
        """Whether the index holds a submodule (its commit) at ``path``."""
        index = self._odb.index
        index.read(False)
        return path in index and index[path].mode == pygit2.enums.FileMode.COMMIT

    def _files_under(self, directory: str) -> list[str]:
        top = self._top()
        return [
            str((Path(d) / f).relative_to(top)) for d, _, files in os.walk(top / directory) for f in files
        ]

    def switch_tree(self, old: Oid, new: Oid) -> None:
        """Carry the index and work tree from ``old`` to ``new`` (`git read-tree -m -u`).

        Local changes to other paths stay; git refuses, changing nothing, when a path that
        differs between the trees has local changes.
        """
        run_git(["read-tree", "-m", "-u", old, new], cwd=self._top())

    def index_lock(self) -> Path | None:
        """git's lock on the index, when a git process holds it (or one died holding it)."""
        lock = self.git_dir / "index.lock"
        return lock if lock.exists() else None

    def write_worktree(self, tree: Oid, paths: Sequence[str]) -> None:
        """Write the work-tree files of ``paths`` from the index, which holds ``tree``'s
        versions of them, and delete those ``tree`` has not. The index's lock is not needed
        (a git process running meanwhile cannot make this fail); its stat data is refreshed
        when the lock is free, else by the next git that looks."""
        self._checkout_index([p for p in paths if self._file_entry(tree, p)], paths)
        run_git(["update-index", "-q", "--refresh"], cwd=self._top(), check=False)

    def _file_entry(self, tree: Oid, path: str) -> tuple[Oid, int] | None:
        """What the index holds at ``path`` for ``tree``: a directory there is no entry (its
        files are entries of their own, #15)."""
        found = self.entry(tree, path)
        return None if found is None or found[1] == TREE_MODE else found

    def read_index(self, tree: Oid) -> None:
        """Set the index to ``tree``, keeping stat data, without touching the work tree.

        ``--reset``, not ``-m``: a file that is not up to date (local changes, or only
        touched) is no reason to refuse, as the work tree is not written."""
        run_git(["read-tree", "--reset", tree], cwd=self._top())

    def checkout_paths(self, old: Oid, new: Oid, paths: Sequence[str]) -> None:
        """Carry the index and the work tree's ``paths`` from tree ``old`` to ``new``.

        In process (libgit2 checkout limited to ``paths``) unless git would do more than
        libgit2 knows: filter drivers (LFS...) or a sparse checkout, where `git read-tree -m -u`
        does it. Either refuses, changing nothing, when one of ``paths`` has local changes.
        A submodule is git's too: libgit2 will not record a new one over the directory that
        holds its checkout, git records it and leaves the checkout alone (#15).
        """
        if (
            self._needs_git_checkout()
            or not all(_utf8(path) for path in paths)
            or self._has_gitlink((old, new), paths)
        ):
            self.switch_tree(old, new)  # libgit2 takes only UTF-8 paths
            return
        try:
            self._odb.checkout_tree(
                self._odb[new],
                paths=list(paths),  # type: ignore[no-untyped-call]
                strategy=_checkout_strategy(),
            )
        except pygit2.GitError as e:
            raise GitFailed(f"checkout failed: {e}") from None

    def _needs_git_commit(self) -> bool:
        return self.config_true("commit.gpgSign") or bool(self.config_names("hook."))

    def _needs_git_checkout(self) -> bool:
        return self.config_true("core.sparseCheckout") or bool(self.config_names("filter."))

    def reset_keep(self, rev: Oid) -> None:
        """Move HEAD to ``rev`` keeping local changes; git refuses if they would be lost."""
        run_git(["reset", "--quiet", "--keep", rev], cwd=self._top())

    def snapshot_index(self) -> bytes | None:
        index_file = self.git_dir / "index"
        return index_file.read_bytes() if index_file.exists() else None

    def restore(self, *, head: Oid, index: bytes | None, paths: Sequence[str]) -> None:
        """Put HEAD, the index and ``paths`` of the work tree back as they were.

        ``index`` is the index file as it was; ``paths`` were clean then (equal to the index).
        """
        workdir = self._top()
        if self.head_oid() != head:
            run_git(["update-ref", "-m", "patchpack: roll back", "HEAD", head], cwd=workdir)
        index_file = self.git_dir / "index"
        if index is None:
            index_file.unlink(missing_ok=True)
        else:
            tmp = index_file.with_name("index.patchpack")
            tmp.write_bytes(index)
            os.replace(tmp, index_file)
        self._odb.index.read(True)
        self._checkout_index([p for p in paths if p in self._odb.index], paths)

    def put_paths(self, tree: Oid, paths: Sequence[str]) -> None:
        """Make the index entries and work-tree files of ``paths`` those of ``tree`` (removed
        where ``tree`` has none), whatever they are now: the caller checked that nothing
        there would be lost. Other paths are left alone. Done again, it does nothing more."""
        entries = {p: self._file_entry(tree, p) for p in paths}
        zero = "0" * len(tree)
        # Removals first: a file may take the place of a directory the tree no longer has.
        info = [f"0 {zero}\t{p}" for p, e in entries.items() if e is None] + [
            f"{e[1]:o} {e[0]}\t{p}" for p, e in entries.items() if e is not None
        ]
        run_git(
            ["update-index", "-z", "--index-info"],
            cwd=self._top(),
            input=b"".join(encode(line) + b"\0" for line in info),
        )
        self._odb.index.read(True)
        # Their stat data is refreshed: a file written here does not look changed to git.
        self._checkout_index([p for p, e in entries.items() if e is not None], paths, ["--index"])

    def _checkout_index(
        self, tracked: Sequence[str], paths: Sequence[str], options: Sequence[str] = ()
    ) -> None:
        """Write ``tracked`` from the index to the work tree, and delete the rest of
        ``paths`` (with the directories that leaves empty)."""
        workdir = self._top()
        for path in sorted(set(paths) - set(tracked)):
            target = workdir / path
            if target.is_symlink() or target.is_file():
                target.unlink()
            _prune_empty_dirs(target.parent, workdir)
        if tracked:
            run_git(["checkout-index", "--force", *options, "--", *tracked], cwd=workdir)


def _checkout_strategy() -> pygit2.enums.CheckoutStrategy:
    # Paths are exact paths, not pathspecs: a file named ``*.py`` is that file only.
    return pygit2.enums.CheckoutStrategy.SAFE | pygit2.enums.CheckoutStrategy.DISABLE_PATHSPEC_MATCH


class Patcher:
    """Applies diffs to trees with `git apply --cached` in a private index, which is re-read
    only when the next diff targets another tree (a series of mails costs one process each)."""

    def __init__(self, repo: WorktreeOps) -> None:
        self._repo = repo
        self._tree: Oid | None = None

    def __enter__(self) -> Patcher:
        self._temp = self._repo._temp_index()
        self._env = self._temp.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._temp.__exit__(*exc)

    def apply(self, tree: Oid, diff: bytes) -> Oid:
        """The tree ``diff`` makes of ``tree``; DoesNotFit with git's words when it does not."""
        cwd = self._repo._top()
        self._repo.flush()
        if tree != self._tree:
            run_git(["read-tree", tree], cwd=cwd, env=self._env)
            self._tree = tree
        # git apply changes nothing when it fails, so the index still holds ``tree`` then.
        proc = run_git(
            ["apply", "--cached", "--whitespace=nowarn", "-"], cwd=cwd, env=self._env, input=diff, check=False
        )
        if proc.returncode != 0:
            raise DoesNotFit(decode(proc.stderr).strip())
        self._tree = Oid(decode(run_git(["write-tree"], cwd=cwd, env=self._env).stdout).strip())
        return self._tree


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
