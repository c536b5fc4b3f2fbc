"""A repository read through the git program alone: refs, commits, trees and blobs from one
`git cat-file --batch`, diffs from `git diff`. No libgit2, no `dataclasses`, no `typing`.

`status`, `next` and `check --staged` run at every step of an agent's loop, and libgit2 alone
costs them three interpreter start-ups (#16). :class:`Plain` has the reading methods of
:class:`~patchpack.git.door.Repo` that the queue and the ledger use to read, with the same
names and results, so their parsing serves both (``repo: Repo | Plain``).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import re
import subprocess
import time
from pathlib import Path

from patchpack.errors import BadInput
from patchpack.git.where import (
    DIFF_OPTIONS,
    ENCODING,
    ERRORS,
    GitFailed,
    config_getter,
    config_key,
    decode,
    encode,
    find,
    parse_config,
    remembering,
    run_git,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from patchpack.git.run import Oid
else:
    Oid = str  # typing.NewType at check time; a plain str is what it is at run time

_TREE_MODE = 0o040000
_SHOWN = ("-c", "core.quotePath=true")  # over run_git's false: names as people see them
# A text file may hold NUL bytes, but never at the start of a diff line (each begins with a
# space, + or -): a NUL there is the format's, before each commit's id.
_SHOW_SPLIT = re.compile(rb"(?:\A|(?<=\n))\0([0-9a-f]{40}(?:[0-9a-f]{24})?)\n")


def show_diffs(cwd: str | Path, oids: Sequence[Oid], *, shown: bool = False) -> dict[Oid, str]:
    """Each commit's diff against its first parent, exactly as `patchpack check` sees it;
    ``shown``: names quoted as git shows them to people."""
    if not oids:
        return {}
    output = run_git(
        [
            *(_SHOWN if shown else ()),
            "show",
            "--format=%x00%H",
            *DIFF_OPTIONS,
            "--first-parent",
            "--root",
            *oids,
            "--",
        ],
        cwd=cwd,
    ).stdout
    parts = _SHOW_SPLIT.split(output)
    return {Oid(decode(oid)): decode(diff.lstrip(b"\n")) for oid, diff in zip(parts[1::2], parts[2::2])}


_FIND = (
    "rev-parse",
    "--absolute-git-dir",
    "--is-bare-repository",
    "--show-object-format",
    "--show-toplevel",
)  # where.find's question
_CONFIG = ("-c", "core.quotePath=false", "config", "--list", "-z")  # where.read_config's


def _spawn(args: Sequence[str], cwd: str, *, stdin: bool, errors: bool = False) -> subprocess.Popen[bytes]:
    """git started and left to run while the caller does something else."""
    return subprocess.Popen(
        ["git", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stderr=subprocess.PIPE if errors else subprocess.DEVNULL,
    )


class Moved(Exception):
    """What was asked needs more than the git program's reading (a 3-way merge of trees):
    nothing was printed, and the door answers the command."""


class CommitHead:
    """What the queue reads of a commit: its tree and its parents."""

    __slots__ = ("parents", "tree")

    def __init__(self, tree: Oid, parents: tuple[Oid, ...]) -> None:
        self.tree, self.parents = tree, parents


def _commit_head(data: bytes) -> CommitHead:
    tree, parents = "", []
    for line in data.split(b"\n"):
        if not line:
            break  # the headers end at the first empty line
        key, _, value = line.partition(b" ")
        if key == b"tree":
            tree = decode(value)
        elif key == b"parent":
            parents.append(Oid(decode(value)))
    return CommitHead(Oid(tree), tuple(parents))


class NotesTop:
    """One entry at the top of a notes tree: a note, or a fan-out directory of notes.

    ``key`` names its content (path and object id): equal keys hold equal notes, which is
    what lets the ledger cache what it read from a subtree that has not changed.
    """

    __slots__ = ("key", "name")

    def __init__(self, name: str, key: str) -> None:
        self.name, self.key = name, key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NotesTop) and (self.name, self.key) == (other.name, other.key)

    def __hash__(self) -> int:
        return hash((self.name, self.key))

    def __repr__(self) -> str:
        return f"NotesTop(name={self.name!r}, key={self.key!r})"


_CHUNK = 1 << 16  # bytes of whole lines passed on at once, at least


def _chunks(fd: int) -> Iterator[str]:
    # Read into one buffer, and pass on the whole lines once it holds 64 KiB (each small
    # piece a pipe returns, parsed on its own, cost more than the reading): no new bytes per
    # read, for 26 MB on 100,000 notes. After a short read (the writer is slower than the
    # reader) a moment's wait lets the pipe fill: 3,600 reads of 7 KiB each cost 45 ms of CPU.
    buf, filled = bytearray(1 << 20), 0
    while True:
        if filled == len(buf):  # a line longer than the buffer
            buf.extend(bytes(len(buf)))
        with memoryview(buf) as view:
            got = os.readv(fd, [view[filled:]])
        filled += got
        if got and filled < _CHUNK:
            if got < _CHUNK:
                time.sleep(0.001)
            continue
        cut = buf.rfind(b"\n", 0, filled) + 1 if got else filled
        if cut:
            with memoryview(buf) as view:
                text = str(view[:cut], ENCODING, ERRORS)
            buf[: filled - cut] = buf[cut:filled]  # the start of the next line
            filled -= cut
            yield text
        if not got:
            return


class NotesReads:
    """The ledger's notes read through the git program, for the door's ``Repo`` and for
    :class:`Plain` alike (``git_dir`` and ``workdir`` are theirs)."""

    git_dir: Path
    if TYPE_CHECKING:

        @property
        def workdir(self) -> Path | None: ...

    def notes_top(self, ref: str) -> tuple[Oid, list[NotesTop]] | None:
        """The notes commit ``ref`` points at and the top level of its tree; None when there
        is no such ref. Asks the git program: loading libgit2 would cost `patchpack budget`
        more than reading a warm ledger cache."""
        cwd = self.workdir or self.git_dir
        found = run_git(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
            cwd=cwd,
            check=False,
        )
        if found.returncode != 0:
            return None
        head = Oid(decode(found.stdout).strip())
        tops = []
        for item in decode(run_git(["ls-tree", "-z", head], cwd=cwd).stdout).split("\0"):
            meta, _, name = item.partition("\t")
            if name:  # "MODE TYPE OID\tNAME"
                tops.append(NotesTop(name, f"{name} {meta.rpartition(' ')[2]}"))
        return head, tops

    def note_lines(self, notes_commit: Oid, paths: Sequence[str] | None = None) -> Iterator[str]:
        """Every line of every note in the notes tree of ``notes_commit`` (or only at
        ``paths``: top-level entries, or notes), in chunks of whole lines that arrive while
        git is still reading the rest. Each line reads
        ``f"{notes_commit}:{path}\\0{number}\\0{text}\\n"``: git puts the path and line
        number in front of every line, so no note can pass for another, whatever it holds.
        An empty note has no line.

        `git grep` reads a tree's blobs in one process, for less than `ls-tree | cat-file
        --batch`: `patchpack budget` reads 100,000 notes this way when it has no cache (#6).
        Measured no faster: two greps on halves of the tree (git spends 35% more: each
        resolves deltas the other needs), a forked second parser fed half of one grep's
        output, git writing into a file instead of a pipe.
        """
        if paths is not None and not paths:
            return  # no pathspec would mean the whole tree
        read_end, write_end = os.pipe()
        with contextlib.suppress(AttributeError, OSError):  # Linux: fewer, bigger reads
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 1 << 20)
        try:
            proc = subprocess.Popen(
                [
                    "git",
                    "grep",
                    "--threads=1",
                    "--text",
                    "--null",
                    "--line-number",
                    "--fixed-strings",
                    "--no-color",
                    "--no-column",
                    "--no-recurse-submodules",
                    "-e",
                    "",
                    notes_commit,
                    "--",
                    *(f":(literal){path}" for path in paths or ()),
                ],
                cwd=self.workdir or self.git_dir,
                stdout=write_end,
                stderr=subprocess.PIPE,
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        try:
            yield from _chunks(read_end)
        finally:
            os.close(read_end)  # a consumer that stopped early: git gets EPIPE, not a hang
            proc.wait()
        if proc.returncode > 1:  # 1: no line at all (no notes, or only empty ones)
            assert proc.stderr is not None
            message = decode(proc.stderr.read()).strip().splitlines()
            raise GitFailed(
                f"git grep failed: {message[-1] if message else 'no output'}",
                hint="check the notes tree with `git fsck`",
            )

    def changed_files(self, old: Oid, new: Oid, *, limit: int) -> list[tuple[str, Oid | None]] | None:
        """The files added, changed or removed from the tree of ``old`` to that of ``new``,
        each as (path, its blob in ``new``, None when removed or not a file, as `git grep`
        sees files); None when ``old`` is gone or more than ``limit`` changed."""
        proc = run_git(
            ["diff-tree", "-r", "-z", "--no-renames", "--raw", old, new],
            cwd=self.workdir or self.git_dir,
            check=False,
        )
        # ":OLDMODE NEWMODE OLDOID NEWOID STATUS\0PATH\0" per file
        fields = decode(proc.stdout).split("\0")[:-1]
        if proc.returncode != 0 or len(fields) > 2 * limit:
            return None
        changed = []
        for meta, path in zip(fields[::2], fields[1::2]):
            _, mode, _, blob, _ = meta.split(" ")
            changed.append((path, Oid(blob) if mode.startswith(("100", "120")) else None))
        return changed

    def blobs(self, oids: Sequence[Oid]) -> list[bytes]:
        """The content of each blob of ``oids``, in order (a few hundred: one `cat-file`)."""
        if not oids:
            return []
        out = run_git(
            ["cat-file", "--batch"],
            cwd=self.workdir or self.git_dir,
            input="".join(f"{oid}\n" for oid in oids).encode(),
        ).stdout
        texts, at = [], 0
        for _ in oids:  # "OID TYPE SIZE\n", SIZE bytes, "\n": framed by the sizes git gives
            header_end = out.index(b"\n", at)
            oid, kind, size = out[at:header_end].split(b" ")
            if kind != b"blob":
                raise GitFailed(f"git cat-file: {decode(oid)} is a {decode(kind)}, not a blob")
            start = header_end + 1
            texts.append(out[start : start + int(size)])
            at = start + int(size) + 1
        return texts


class Plain(NotesReads):
    """The repository at or above ``start`` as git finds it (``GIT_DIR`` too)."""

    def __init__(self, start: str = ".", *, objects: bool = False) -> None:
        # One `rev-parse` finds the repository, its common dir and HEAD's branch (each was a
        # process of its own); it fails with no commit yet, where `find` says as before.
        self._ref: str | None = None
        out: list[str] = []
        if os.path.isdir(start):
            proc = run_git(
                [*_FIND, "--path-format=absolute", "--git-common-dir", "--symbolic-full-name", "HEAD"],
                cwd=os.path.abspath(start),
                check=False,
            )
            out = decode(proc.stdout).splitlines() if proc.returncode == 0 else []
        top: str | None
        self._common = Path(out[4]) if len(out) == 6 and out[2] == "sha1" else None
        if self._common is not None:
            git_dir, top, self.is_bare, self._ref = out[0], out[3], out[1] == "true", out[5]
        else:
            git_dir, top, self.is_bare = find(start)
            if top is None and not self.is_bare:  # in the git dir: libgit2 finds the work tree
                raise Moved("a work tree seen from its git dir")
        self.git_dir = Path(git_dir)
        self._top = Path(top) if top is not None else None
        self._cwd = top or git_dir  # where the door runs git (``Repo.git``)
        self._batch: subprocess.Popen[bytes] | None = None
        # Every command here reads the config, and ``objects`` the ones that read objects:
        # git reads them while Python loads the modules that ask for them.
        self._config: subprocess.Popen[bytes] | None = None
        if not remembering():
            self._config = _spawn(_CONFIG, self._cwd, stdin=False)
        if objects:
            self._batch = _spawn(["cat-file", "--batch"], self._cwd, stdin=True)

    @property
    def workdir(self) -> Path | None:
        return self._top

    @property
    def cwd(self) -> str:
        """Where git runs for this repository."""
        return self._cwd

    def git(self, *args: str) -> str:
        return decode(run_git(args, cwd=self._cwd).stdout)

    def git_ok(self, *args: str) -> bool:
        return run_git(args, cwd=self._cwd, check=False).returncode == 0

    @functools.cached_property
    def config_get(self) -> Callable[[str], str | None]:
        """The value git takes for a key (the config read once)."""
        if self._config is None:
            return config_getter(self._cwd)
        config = parse_config(self._config.communicate()[0])  # as `run_git(_CONFIG)` reads

        def get(name: str) -> str | None:
            values = config.get(config_key(name))
            return values[-1] if values else None

        return get

    @functools.cached_property
    def common_dir(self) -> Path:
        if self._common is not None:
            return self._common
        out = run_git(["rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=self.git_dir).stdout
        return Path(decode(out).strip())

    def staged_diff(self) -> str:
        """The staged change as `git diff --cached -M` prints it (GIT_INDEX_FILE honoured)."""
        return self.git("diff", "--cached", *DIFF_OPTIONS, "--")

    def commit_diffs(self, oids: Sequence[Oid], *, shown: bool = False) -> dict[Oid, str]:
        """Each commit's diff against its first parent (see the door's ``commit_diffs``)."""
        return show_diffs(self._cwd, oids, shown=shown)

    # -- HEAD, refs and objects, from one `git cat-file --batch` ------------------------------

    @functools.cached_property
    def _head(self) -> tuple[str | None, Oid | None]:
        ref = self._ref
        if ref is None:
            proc = run_git(["symbolic-ref", "-q", "HEAD"], cwd=self._cwd, check=False)
            ref = decode(proc.stdout).strip() if proc.returncode == 0 else ""
        elif not ref.startswith("refs/"):
            ref = ""  # "HEAD": detached, as `symbolic-ref` fails then
        found = self.object("HEAD")
        oid = found[0] if found is not None and found[1] == "commit" else None
        return ref.removeprefix("refs/heads/") or None, oid

    def branch(self) -> str | None:
        """The short name of the checked-out branch, or None on a detached HEAD."""
        return self._head[0]

    def head_oid(self) -> Oid | None:
        """The commit HEAD points at, or None in a repository with no commits yet."""
        return self._head[1]

    def read_ref(self, name: str) -> Oid | None:
        """The object a ref (a full name, ``refs/...``) points at, or None."""
        if not name.startswith("refs/"):
            raise ValueError(f"not a full ref name: {name!r}")  # no revision syntax
        found = self.object(name)
        return found[0] if found is not None else None

    def has_ref(self, name: str) -> bool:
        return self.git_ok("show-ref", "--verify", "--quiet", name)

    def is_ancestor(self, ancestor: Oid, descendant: Oid) -> bool:
        """True when ``ancestor`` is ``descendant`` or in its history."""
        return ancestor == descendant or self.git_ok("merge-base", "--is-ancestor", ancestor, descendant)

    def rev_list(self, spec: str) -> list[Oid]:
        """The commits of a revision range (``A..B``, or one revision and its history)."""
        try:
            return [Oid(o) for o in self.git("rev-list", spec, "--").split()]
        except GitFailed:
            raise BadInput(
                f"bad revision range: {spec}", hint="give a range such as `HEAD~3..HEAD` or `origin/main..`"
            ) from None

    def object(self, name: str) -> tuple[Oid, str, bytes] | None:
        """The id, type and content of the object ``name`` names, or None when none."""
        if "\n" in name or not name:
            raise ValueError(f"not an object name: {name!r}")
        if self._batch is None:
            self._batch = _spawn(["cat-file", "--batch"], self._cwd, stdin=True)
        batch = self._batch
        assert batch.stdin is not None and batch.stdout is not None
        batch.stdin.write(encode(name) + b"\n")
        batch.stdin.flush()
        header = batch.stdout.readline().split()
        if len(header) != 3:  # "NAME missing", "NAME ambiguous"
            return None
        data = batch.stdout.read(int(header[2]) + 1)[:-1]
        return Oid(decode(header[0])), decode(header[1]), data

    def _read(self, oid: Oid, kind: str) -> bytes:
        found = self.object(oid)
        if found is None or found[1] != kind:
            raise GitFailed(f"git cat-file: {oid} is not a {kind}")
        return found[2]

    def commit_info(self, oid: Oid) -> CommitHead:
        return _commit_head(self._read(oid, "commit"))

    def notes_top(self, ref: str) -> tuple[Oid, list[NotesTop]] | None:
        """NotesReads.notes_top through the open `git cat-file --batch`: two processes fewer
        for each `status` and `next`."""
        found = self.object(f"{ref}^{{commit}}")
        if found is None:
            return None
        return found[0], [
            NotesTop(name, f"{name} {oid}") for name, oid, _ in self._entries(_commit_head(found[2]).tree)
        ]

    def commit_subject(self, oid: Oid) -> str:
        found = self.object(oid)
        if found is None or found[1] != "commit":
            return ""
        return decode(found[2].partition(b"\n\n")[2]).partition("\n")[0]

    def tree_of(self, rev: Oid) -> Oid:
        return self.commit_info(rev).tree

    def read_blob(self, oid: Oid) -> bytes:
        return self._read(oid, "blob")

    def _entries(self, tree: Oid) -> list[tuple[str, Oid, int]]:
        # "MODE NAME\0" and the 20 bytes of the id, entry after entry (sha1 only: `find`)
        data, out, at = self._read(tree, "tree"), [], 0
        while at < len(data):
            space = data.index(b" ", at)
            nul = data.index(b"\0", space)
            out.append(
                (decode(data[space + 1 : nul]), Oid(data[nul + 1 : nul + 21].hex()), int(data[at:space], 8))
            )
            at = nul + 21
        return out

    def tree_items(self, tree: Oid) -> list[tuple[str, Oid]]:
        """The (name, object) entries of ``tree``, in git's order."""
        return [(name, oid) for name, oid, _ in self._entries(tree)]

    def entry(self, tree: Oid, path: str) -> tuple[Oid, int] | None:
        """The object at ``path`` in ``tree`` with its mode, or None."""
        found: tuple[Oid, int] | None = (tree, _TREE_MODE)
        for part in path.split("/"):
            if found is None or found[1] != _TREE_MODE:
                return None
            found = next(((oid, mode) for name, oid, mode in self._entries(found[0]) if name == part), None)
        return found

    def empty_tree(self) -> Oid:
        raise Moved("a patch made on no commit")

    def merge(self, ancestor: Oid, ours: Oid, theirs: Oid) -> tuple[Oid | None, list[str]]:
        raise Moved("a 3-way merge")

    def diff_trees(self, old: Oid, new: Oid, *, context: int = 3, shown: bool = False) -> str:
        raise Moved("a replayed patch")


def plain_uncommitted_diff(repo: Plain, *, untracked: bool = True) -> str:
    """The door's ``uncommitted_diff`` (the work tree against HEAD) through the git program:
    Moved when a new untracked file is to be shown, whose diff libgit2 makes, or when there
    is no commit yet."""
    head = repo.head_oid()
    if head is None:
        raise Moved("no commit yet")
    # Both at once: the diff is most of the wait, and the answer to ls-files seldom stops it.
    diff = _spawn(
        ["-c", "core.quotePath=false", "diff", *DIFF_OPTIONS, head, "--"], repo.cwd, stdin=False, errors=True
    )
    try:
        if untracked and repo.git("ls-files", "-z", "--others", "--exclude-standard"):
            raise Moved("untracked files")
        out, err = diff.communicate()
    except BaseException:
        diff.kill()
        diff.communicate()
        raise
    if diff.returncode != 0:  # as run_git says it
        message = decode(err).strip().splitlines()
        raise GitFailed(f"git diff failed: {message[-1] if message else f'exit {diff.returncode}'}")
    return decode(out)
