"""The ledger's git: notes trees read and written, notes pushed, fetched and merged."""

from __future__ import annotations

import os
from collections.abc import Mapping

from patchpack.errors import BadInput
from patchpack.git.objects import ObjectsOps, _edit_tree
from patchpack.git.plain import NotesReads
from patchpack.git.plain import NotesTop as NotesTop
from patchpack.git.run import (
    GitFailed,
    Oid,
    decode,
    pygit2,
    run_git,
)

# -- ledger ---------------------------------------------------------------------------------

_FANOUT_AT = 256  # entries in one notes tree level before new notes go one level down


class NotesOps(ObjectsOps, NotesReads):
    def note_text(self, notes_commit: Oid | None, annotated: Oid) -> bytes | None:
        """The note on ``annotated`` in ``notes_commit``'s tree, wherever fan-out put it."""
        if notes_commit is None:
            return None
        tree = self._raw[notes_commit].peel(pygit2.Tree)
        path = self._note_path(tree, annotated)
        return None if path is None else bytes(self._raw[tree[path].id].peel(pygit2.Blob).data)

    def write_notes(self, notes_commit: Oid | None, notes: Mapping[Oid, bytes], *, message: str) -> Oid:
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
        commit = raw.create_commit(None, signature, signature, message, tree, [p.id for p in parents])
        return Oid(str(commit))

    def _note_path(self, root: pygit2.Tree, annotated: str) -> str | None:
        tree, done = root, ""
        while True:
            rest = annotated[len(done.replace("/", "")) :]
            if rest in tree:
                return done + rest
            step = rest[:2]
            if step not in tree or tree[step].type_str != "tree" or len(rest) <= 2:
                return None
            tree, done = self._raw[tree[step].id].peel(pygit2.Tree), done + step + "/"

    def _new_note_path(self, root: pygit2.Tree | None, annotated: str, added: dict[str, int]) -> str:
        """Where a new note goes, ``added`` counting the entries the same notes commit adds
        to each directory (``""``, ``"ab/"``...) before it."""
        # Follow the fan-out git already made, or this commit is making; start one when a
        # level gets crowded, as git and fast-import do, so one note never means rewriting a
        # 100,000-entry tree.
        tree, done = root, ""
        while True:
            rest = annotated[len(done.replace("/", "")) :]
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
        raise BadInput(
            "no remote to sync with"
            if not names
            else f"several remotes ({', '.join(names)}) and none is origin",
            hint="name one: `patchpack sync REMOTE`" if names else "add one: `git remote add origin URL`",
        )

    def remote_ref(self, remote: str, ref: str) -> Oid | None:
        """What ``ref`` points at on ``remote`` (one round trip), or None if it has none."""
        for line in self.git("ls-remote", "--", remote, ref).splitlines():
            oid, _, name = line.partition("\t")
            if name == ref:
                return Oid(oid)
        return None

    def fetch_ref(self, remote: str, ref: str, into: str) -> None:
        self.git("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, f"+{ref}:{into}")

    def push_ref(self, remote: str, ref: str) -> bool:
        """Push ``ref`` without force; False when the remote moved on (fetch and retry)."""
        proc = run_git(
            ["push", "--porcelain", "--quiet", remote, f"{ref}:{ref}"],
            cwd=self.workdir or self.git_dir,
            check=False,
        )
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
            self.git("notes", f"--ref={scratch}", "merge", "--quiet", "-s", "cat_sort_uniq", theirs_ref)
            return self.read_ref(scratch)
        finally:
            self.git("update-ref", "-d", scratch)
