"""The ledger's git: notes trees read and written, notes pushed, fetched and merged."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from patchpack.errors import BadInput
from patchpack.git.objects import ObjectsOps, _edit_tree
from patchpack.git.run import (
    ENCODING,
    ERRORS,
    GitFailed,
    Oid,
    decode,
    pygit2,
    run_git,
)

# -- ledger ---------------------------------------------------------------------------------

_FANOUT_AT = 256  # entries in one notes tree level before new notes go one level down


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


@dataclass(frozen=True)
class NotesTop:
    """One entry at the top of a notes tree: a note, or a fan-out directory of notes.

    ``key`` names its content (path and object id): equal keys hold equal notes, which is
    what lets the ledger cache what it read from a subtree that has not changed.
    """

    name: str
    key: str




class NotesOps(ObjectsOps):
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

    def note_lines(self, notes_commit: Oid, paths: Sequence[str] | None = None
                   ) -> Iterator[str]:
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
