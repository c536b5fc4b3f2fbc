"""The ledger's git: notes trees read and written, notes pushed, fetched and merged."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence

from patchpack.errors import BadInput
from patchpack.git.objects import ObjectsOps, _edit_tree
from patchpack.git.plain import NotesReads
from patchpack.git.plain import NotesTop as NotesTop
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


class NotesOps(ObjectsOps, NotesReads):
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
                ["git", "grep", "--threads=1", "--text", "--null", "--line-number",
                 "--fixed-strings", "--no-color", "--no-column", "--no-recurse-submodules",
                 "-e", "", notes_commit, "--", *(f":(literal){path}" for path in paths or ())],
                cwd=self.workdir or self.git_dir, stdout=write_end, stderr=subprocess.PIPE)
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
            raise GitFailed(f"git grep failed: {message[-1] if message else 'no output'}",
                            hint="check the notes tree with `git fsck`")

    def note_text(self, notes_commit: Oid | None, annotated: Oid) -> bytes | None:
        """The note on ``annotated`` in ``notes_commit``'s tree, wherever fan-out put it."""
        if notes_commit is None:
            return None
        tree = self._raw[notes_commit].peel(pygit2.Tree)
        path = self._note_path(tree, annotated)
        return None if path is None else bytes(self._raw[tree[path].id].peel(pygit2.Blob).data)

    def write_notes(self, notes_commit: Oid | None, notes: Mapping[Oid, bytes], *,
                    message: str) -> Oid:
        """One notes commit on top of ``notes_commit`` with each text as the note on its
        object (a whole series' notes in one commit). Built in memory; no ref moves."""
        raw = self._raw
        parents = [] if notes_commit is None else [raw[notes_commit].peel(pygit2.Commit)]
        root = parents[0].tree if parents else None
        added: dict[str, int] = {}
        changes: dict[str, tuple[pygit2.Oid, int] | None] = {}
        for annotated, text in notes.items():
            path = self._note_path(root, annotated) if root is not None else None
            if path is None:
                path = self._new_note_path(root, annotated, added)
            changes[path] = (raw.create_blob(text), pygit2.GIT_FILEMODE_BLOB)
        tree = _edit_tree(raw, root, changes)
        assert tree is not None, "no notes to write"
        signature = self.committer()
        commit = raw.create_commit(None, signature, signature, message, tree,
                                   [p.id for p in parents])
        return Oid(str(commit))

    def _note_path(self, root: pygit2.Tree, annotated: str) -> str | None:
        tree, done = root, ""
        while True:
            rest = annotated[len(done.replace("/", "")):]
            if rest in tree:
                return done + rest
            step = rest[:2]
            if step not in tree or tree[step].type_str != "tree" or len(rest) <= 2:
                return None
            tree, done = self._raw[tree[step].id].peel(pygit2.Tree), done + step + "/"

    def _new_note_path(self, root: pygit2.Tree | None, annotated: str,
                       added: dict[str, int]) -> str:
        """Where a new note goes, ``added`` counting the entries the same notes commit adds
        to each directory (``""``, ``"ab/"``...) before it."""
        # Follow the fan-out git already made, or this commit is making; start one when a
        # level gets crowded, as git and fast-import do, so one note never means rewriting a
        # 100,000-entry tree.
        tree, done = root, ""
        while True:
            rest = annotated[len(done.replace("/", "")):]
            below = done + rest[:2] + "/"
            if tree is not None and rest[:2] in tree and tree[rest[:2]].type_str == "tree":
                tree, done = self._raw[tree[rest[:2]].id].peel(pygit2.Tree), below
            elif below in added:
                tree, done = None, below
            else:
                break
        if (len(tree) if tree is not None else 0) + added.get(done, 0) >= _FANOUT_AT:
            added[done] = added.get(done, 0) + 1  # the new directory
            done, rest = below, rest[2:]
        added[done] = added.get(done, 0) + 1
        return done + rest

    # -- ledger: remotes (the git program speaks every transport) ---------------------------

    def default_remote(self) -> str:
        """The current branch's remote, else ``origin``, else the only remote."""
        branch = self.branch()
        configured = self.config_get(f"branch.{branch}.remote") if branch else None
        names = self.git("remote").split()
        for name in (configured, "origin", *(names if len(names) == 1 else [])):
            if name in names:
                return name
        raise BadInput("no remote to sync with" if not names else
                       f"several remotes ({', '.join(names)}) and none is origin",
                       hint="name one: `patchpack sync REMOTE`" if names else
                       "add one: `git remote add origin URL`")

    def remote_ref(self, remote: str, ref: str) -> Oid | None:
        """What ``ref`` points at on ``remote`` (one round trip), or None if it has none."""
        for line in self.git("ls-remote", "--", remote, ref).splitlines():
            oid, _, name = line.partition("\t")
            if name == ref:
                return Oid(oid)
        return None

    def fetch_ref(self, remote: str, ref: str, into: str) -> None:
        self.git("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote,
                 f"+{ref}:{into}")

    def push_ref(self, remote: str, ref: str) -> bool:
        """Push ``ref`` without force; False when the remote moved on (fetch and retry)."""
        proc = run_git(["push", "--porcelain", "--quiet", remote, f"{ref}:{ref}"],
                       cwd=self.workdir or self.git_dir, check=False)
        out = decode(proc.stdout)
        if proc.returncode == 0:
            return True
        if "[rejected]" in out and ("non-fast-forward" in out or "fetch first" in out):
            return False
        lines = (out + decode(proc.stderr)).strip().splitlines()
        raise GitFailed(f"git push {remote} {ref} failed: {lines[-1] if lines else 'no output'}")

    def notes_merge(self, ours: Oid | None, theirs_ref: str) -> Oid | None:
        """The notes commit merging ``ours`` with ``theirs_ref`` line by line (cat_sort_uniq).

        Merged on a private ref: `git notes merge` moves its ref without checking its old
        value, so the caller moves the real ref itself, with a compare-and-swap.
        """
        if ours is None:
            return self.read_ref(theirs_ref)
        scratch = f"refs/notes/patchpack-merge-{os.getpid()}"
        self.git("update-ref", scratch, ours)
        try:
            self.git("notes", f"--ref={scratch}", "merge", "--quiet", "-s", "cat_sort_uniq",
                     theirs_ref)
            return self.read_ref(scratch)
        finally:
            self.git("update-ref", "-d", scratch)


