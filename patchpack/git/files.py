"""Writing files whole or not at all; which files of a work tree a pack may read."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from patchpack.git import Repo


def write_atomically(
    path: Path, data: bytes | Iterable[bytes | memoryview], *, mode: int | None = None
) -> None:
    """Write ``data`` (or its parts, one after the other) to a temporary file beside
    ``path``, then rename it over ``path``.

    Readers see the old file or the new one, never half of one; on failure the temporary
    file is removed. ``mode`` (e.g. 0o755 for a hook) is set before the rename; without it
    a file that is there keeps its mode and a new one gets the usual 0o666 less the umask
    (mkstemp's 0o600 made files the user shares, such as .claude/settings.json, private).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None and path.exists():
        mode = path.stat().st_mode & 0o7777
    while True:
        tmp = str(path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:  # O_EXCL as mkstemp; 0o666 as open(): the kernel takes the umask off
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            f.writelines([data] if isinstance(data, bytes) else data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class Private(Exception):
    """A path that leaves the work tree, or enters a git dir, once symlinks are resolved."""

    def __init__(self, message: str, *, git_dir: bool) -> None:
        super().__init__(message)
        self.git_dir = git_dir


# What file systems ignore in a name (HFS+: these code points; NTFS: trailing dots and spaces,
# an alternate stream after ':', the 8.3 name), as git's verify_path folds a ".git".
_IGNORED = frozenset(
    "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u206a\u206b\u206c\u206d\u206e\u206f\ufeff"
)


def _dotgit(name: str) -> bool:
    folded = "".join(c for c in name if c not in _IGNORED).casefold()
    return folded.split(":", 1)[0].rstrip(". ") in (".git", "git~1")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


class Worktree(NamedTuple):
    """Where packs read files from: a work tree, never its git dirs (config holds credentials
    in remote URLs) nor anything a symlink reaches outside it (issue 15)."""

    root: Path
    """Symlinks resolved."""
    git_dirs: frozenset[tuple[int, int]] = frozenset()
    """(device, inode) of this worktree's git dir and the common one, whatever their names."""

    @classmethod
    def of(cls, repo: Repo) -> Worktree:
        from patchpack.git import require_workdir

        ids = (_identity(repo.git_dir), _identity(repo.common_dir))
        return cls(Path(os.path.realpath(require_workdir(repo))), frozenset(i for i in ids if i is not None))

    def real(self, path: str) -> str:
        """``path`` (root-relative or absolute) as a root-relative path to the file it names,
        symlinks resolved; :class:`Private` if that is outside the work tree or in a git dir:
        one named ``.git`` in any spelling a file system folds to it (a nested repository's, a
        linked worktree's pointer), or this repository's by identity (``--separate-git-dir``,
        a case-folding file system)."""
        real = Path(os.path.realpath(self.root / path))
        outside = not real.is_relative_to(self.root)
        parts = () if outside else real.relative_to(self.root).parts
        # Above the root only a git dir's identity counts (a linked worktree's is elsewhere).
        above = real.parents if outside else real.parents[: len(parts) - 1]
        if any(_dotgit(part) for part in parts) or any(
            _identity(where) in self.git_dirs for where in (real, *above)
        ):
            raise Private(f"{path}: inside the git directory", git_dir=True)
        if outside:
            raise Private(f"{path}: outside the work tree", git_dir=False)
        return "/".join(parts)
