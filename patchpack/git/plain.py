"""A repository read through the git program alone: refs, commits, trees and blobs from one
`git cat-file --batch`, diffs from `git diff`. No libgit2, no `dataclasses`, no `typing`.

`status`, `next` and `check --staged` run at every step of an agent's loop, and libgit2 alone
costs them three interpreter start-ups (#16). :class:`Plain` has the reading methods of
:class:`~patchpack.git.door.Repo` that the queue and the ledger use to read, with the same
names and results, so their parsing serves both (``repo: Repo | Plain``).
"""

from __future__ import annotations

import functools
import os
import re
import time
from pathlib import Path

from patchpack.git.where import (
    DIFF_OPTIONS,
    ENCODING,
    ERRORS,
    config_getter,
    decode,
    find,
    run_git,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from patchpack.git.run import Oid
else:
    Oid = str  # typing.NewType at check time; a plain str is what it is at run time

_SHOWN = ("-c", "core.quotePath=true")  # over run_git's false: names as people see them
# A text file may hold NUL bytes, but never at the start of a diff line (each begins with a
# space, + or -): a NUL there is the format's, before each commit's id.
_SHOW_SPLIT = re.compile(rb"(?:\A|(?<=\n))\0([0-9a-f]{40}(?:[0-9a-f]{24})?)\n")


def show_diffs(cwd: str | Path, oids: Sequence[Oid], *, shown: bool = False) -> dict[Oid, str]:
    """Each commit's diff against its first parent, exactly as `patchpack check` sees it;
    ``shown``: names quoted as git shows them to people."""
    if not oids:
        return {}
    output = run_git([*(_SHOWN if shown else ()), "show", "--format=%x00%H", *DIFF_OPTIONS,
                      "--first-parent", "--root", *oids, "--"], cwd=cwd).stdout
    parts = _SHOW_SPLIT.split(output)
    return {Oid(decode(oid)): decode(diff.lstrip(b"\n"))
            for oid, diff in zip(parts[1::2], parts[2::2])}


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
            buf[:filled - cut] = buf[cut:filled]  # the start of the next line
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
        found = run_git(["rev-parse", "--verify", "--quiet", "--end-of-options",
                         f"{ref}^{{commit}}"], cwd=cwd, check=False)
        if found.returncode != 0:
            return None
        head = Oid(decode(found.stdout).strip())
        tops = []
        for item in decode(run_git(["ls-tree", "-z", head], cwd=cwd).stdout).split("\0"):
            meta, _, name = item.partition("\t")
            if name:  # "MODE TYPE OID\tNAME"
                tops.append(NotesTop(name, f"{name} {meta.rpartition(' ')[2]}"))
        return head, tops


class Plain:
    """The repository at or above ``start`` as git finds it (``GIT_DIR`` too)."""

    def __init__(self, start: str = ".") -> None:
        git_dir, top, self.is_bare = find(start)
        self.git_dir = Path(git_dir)
        self.workdir = Path(top) if top is not None else None
        self._cwd = top or git_dir  # where the door runs git (``Repo.git``)

    def git(self, *args: str) -> str:
        return decode(run_git(args, cwd=self._cwd).stdout)

    def git_ok(self, *args: str) -> bool:
        return run_git(args, cwd=self._cwd, check=False).returncode == 0

    @functools.cached_property
    def config_get(self) -> Callable[[str], str | None]:
        """The value git takes for a key (the config read once)."""
        return config_getter(self._cwd)

    @functools.cached_property
    def common_dir(self) -> Path:
        out = run_git(["rev-parse", "--path-format=absolute", "--git-common-dir"],
                      cwd=self.git_dir).stdout
        return Path(decode(out).strip())

    def staged_diff(self) -> str:
        """The staged change as `git diff --cached -M` prints it (GIT_INDEX_FILE honoured)."""
        return self.git("diff", "--cached", *DIFF_OPTIONS, "--")

    def commit_diffs(self, oids: Sequence[Oid], *, shown: bool = False) -> dict[Oid, str]:
        """Each commit's diff against its first parent (see the door's ``commit_diffs``)."""
        return show_diffs(self._cwd, oids, shown=shown)
