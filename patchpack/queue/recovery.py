"""What a queue command stopped half-way (a kill, an OOM, Ctrl-C) leaves, and how the next
command carries on from it.

`apply` writes a patch into the index and the work tree, then runs the commit hooks, which may
take long: a kill then leaves the patch staged with no commit. So before it writes anything,
`apply` records what it is about to do (``.git/patchpack/applying.json``: HEAD, the tree it
commits, the paths it touches) and removes the record once the commit is recorded in the queue
or everything is put back. The next `apply`, `split` or `undo` that finds a record puts those
paths back as HEAD has them (the patch is still queued, or already in HEAD if the commit was
made) unless they have changed since, which is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from patchpack.errors import Failed
from patchpack.git import Oid

TYPE_CHECKING = False
if TYPE_CHECKING:
    from patchpack.git import Repo  # the door: loaded by what uses it, not by an import (#16)

_APPLYING = "applying.json"


class InFlight(NamedTuple):
    """A patch `apply` is writing and committing."""

    title: str
    head: Oid
    head_tree: Oid
    tree: Oid
    """The tree the commit gets."""
    paths: tuple[str, ...]
    """The paths it writes (those that differ between ``head_tree`` and ``tree``)."""


def _record(repo: Repo) -> Path:
    return repo.git_dir / "patchpack" / _APPLYING


def begin(repo: Repo, flight: InFlight) -> None:
    """Record ``flight`` before the index or the work tree is touched."""
    data = {
        "title": flight.title,
        "head": flight.head,
        "head_tree": flight.head_tree,
        "tree": flight.tree,
        "paths": list(flight.paths),
    }
    # Written whole, then renamed: a kill never leaves half a record. The temporary name is
    # the process's own (write_atomically's random one cost 1 ms more a patch, loaded).
    record = _record(repo)
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_name(f"{_APPLYING}.{os.getpid()}")
    tmp.write_bytes(json.dumps(data).encode())
    os.replace(tmp, record)


def end(repo: Repo) -> None:
    """The apply is recorded in the queue, or everything is put back: forget the record."""
    with contextlib.suppress(FileNotFoundError):
        _record(repo).unlink()


def _read(repo: Repo) -> InFlight | None:
    try:
        data = json.loads(_record(repo).read_bytes())
    except FileNotFoundError:
        return None
    return InFlight(
        data["title"], Oid(data["head"]), Oid(data["head_tree"]), Oid(data["tree"]), tuple(data["paths"])
    )


def carry_on(repo: Repo) -> None:
    """Put back what an interrupted `apply` left in the index and the work tree, if anything.

    Each path it wrote must still hold, in the index and in the work tree, HEAD's version or
    the patch's (or a state between, as a kill in the middle of the write leaves): then it
    gets HEAD's again and the patch, still queued, is applied afresh. Failed, changing
    nothing, when one has changed since.
    """
    flight = _read(repo)
    if flight is None:
        return
    if repo.head_oid() != flight.head:
        # The commit was made (the queue skips its patch, now in HEAD), or HEAD was moved by
        # hand since: either way, nothing of that apply is left to put back.
        end(repo)
        return
    changed = changed_since(repo, flight.paths, flight.head_tree, flight.tree)
    if changed:
        raise Failed(
            f"an interrupted apply of {flight.title} left its files in the index and the work "
            f"tree, and {', '.join(changed)} changed since: patchpack will not overwrite them",
            hint="keep what you need, then give them HEAD's version (`git restore "
            f"--source=HEAD --staged --worktree -- {' '.join(changed)}`) and run "
            "`patchpack apply` again",
        )
    repo.put_paths(flight.head_tree, flight.paths)
    end(repo)


Versions = dict[str, tuple[tuple[Oid, int] | None, tuple[Oid, int] | None]]


def versions(repo: Repo, paths: Sequence[str]) -> Versions:
    """Each path's version (blob and mode; None: absent) in the index and in the work tree,
    found by content: a file merely touched (its stat data changed) is the same version."""
    index, worktree = repo.index_tree(), repo.worktree_tree(untracked=True)
    return {path: (repo.entry(index, path), repo.entry(worktree, path)) for path in paths}


def changed_since(repo: Repo, paths: Sequence[str], *trees: Oid, found: Versions | None = None) -> list[str]:
    """The paths among ``paths`` whose index entry or work-tree file is the version of none
    of ``trees``: changed since, by someone else. ``found``: their :func:`versions`, when
    already read."""
    found = versions(repo, paths) if found is None else found
    return [
        path
        for path in paths
        if any(v not in [repo.entry(tree, path) for tree in trees] for v in found[path])
    ]


@contextlib.contextmanager
def exclusive(repo: Repo) -> Iterator[None]:
    """One command at a time rewrites this work tree (`split`, `undo`): a second waits for
    the first, then sees what it left, so two splits of one change queue it once. The lock
    goes with the process, however it ends."""
    where = repo.git_dir / "patchpack"
    where.mkdir(parents=True, exist_ok=True)
    with open(where / "worktree.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
