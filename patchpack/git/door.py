"""The door's one class: :class:`Repo`, every group of operations joined."""

from __future__ import annotations

from patchpack.git.commit import CommitOps
from patchpack.git.notes import NotesOps


class Repo(NotesOps, CommitOps):
    """A repository opened at (or above) a directory: :meth:`discover` finds it."""
