"""Untracked files in the work diff: the new files an agent writes and does not stage (#15).

They join the diff of a context pack as `git add -N` would show them (a new file, every line
added; a binary file as one line, a symlink as its target), unless ``--tracked-only``, and are
fitted to the budget as any file's diff is: the largest diff goes first, listed with the
command that shows it. One over :data:`MAX_BYTES` is left out unread, with a note saying how
to ask for a part of it.
"""

from __future__ import annotations

import os
import shlex
import stat

from patchpack import git

MAX_BYTES = 1 << 20
"""Past this an untracked file is left out unread: hashing or tokenizing it costs more than
any budget holds (a binary's one line "Binary files ... differ" says nothing more)."""
# git's own test for a binary file: a NUL in the first 8,000 bytes.
_SNIFF = 8000


def select(repo: git.Repo) -> tuple[list[str], list[str]]:
    """The untracked files (not ignored) the work diff shows, and a note for each left out."""
    root = git.require_workdir(repo)
    shown, notes = [], []
    for path in git.untracked_files(repo):
        try:
            st = os.lstat(root / path)
            if stat.S_ISLNK(st.st_mode):  # git shows the link's target, never what it reaches
                shown.append(path)
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            with open(root / path, "rb") as f:  # git diff fails on a file it cannot read
                binary = b"\0" in f.read(_SNIFF)
        except OSError as e:
            notes.append(f"{path}: untracked, cannot read ({e.strerror}): left out of the diff")
            continue
        if st.st_size <= MAX_BYTES:
            shown.append(path)
            continue
        ask = f"; ask for a part with `patchpack context --at {shlex.quote(path + ':1-80')}`"
        notes.append(
            f"{path}: untracked, {st.st_size / MAX_BYTES:.1f} MiB: left out of the "
            f"diff{'' if binary else ask}"
        )
    return shown, notes
