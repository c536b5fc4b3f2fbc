"""Changing the queue outside `add` and `apply`: `drop`, `undo`, and the end of a split
(its change taken back from the work tree, or finished after a kill).

Split out of :mod:`patchpack.queue.store`, which reads and writes the states these change;
`status` and `next` load that module alone (#16).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from patchpack.errors import BadInput, Failed
from patchpack.git import GitFailed, Oid
from patchpack.queue import recovery
from patchpack.queue.store import Op, Patch, State, load, require_head, save, update

TYPE_CHECKING = False
if TYPE_CHECKING:
    from patchpack.git import Repo


def drop(repo: Repo, position: int | None) -> Patch:
    """Take a queued patch off the series (the next one by default); undo brings it back."""
    dropped: list[Patch] = []

    def change(state: State) -> tuple[list[Patch], Op, Sequence[Oid]]:
        where = position if position is not None else state.next_position()
        if where is None:
            raise Failed("queue empty: nothing to drop")
        if not 1 <= where <= len(state.patches):
            raise BadInput(
                f"no patch {where}: the queue has {len(state.patches)}",
                hint="see the positions with `patchpack list`",
            )
        patch = state.patches[where - 1]
        if patch.state != "queued":
            raise Failed(
                f"patch {where} is {patch.state}, not queued: drop takes queued patches",
                hint="undo the apply with `patchpack undo`, or `git revert` its commit",
            )
        dropped[:] = [patch]
        rest = [p for i, p in enumerate(state.patches, 1) if i != where]
        return rest, Op("drop", f"{where}/{len(state.patches)} {patch.title}"), ()

    update(repo, change)
    return dropped[0]


def undo(repo: Repo) -> tuple[State, Op]:
    """Go back to the queue state before the last operation, and undo what it did outside
    the queue: a split gives the work tree back, an apply moves HEAD back."""
    with recovery.exclusive(repo):  # not while a split of this work tree runs
        return _undo(repo)


def _undo(repo: Repo) -> tuple[State, Op]:
    current = load(repo)
    undone: State | None = current
    if current.op is not None and current.op.kind == "undo":
        # An undo carries an older state: undoing again goes one step further back.
        undone = load(repo, oid=current.op.restores) if current.op.restores else None
    if undone is None or undone.op is None:
        raise Failed(
            "nothing to undo: the queue is at its beginning", hint="see its history with `patchpack log`"
        )
    before = load(repo, oid=undone.previous) if undone.previous else State(current.name, None)
    op = undone.op
    recovery.carry_on(repo)  # a patch a killed apply left staged goes back first
    head = require_head(repo)
    # Each step below can be done again: an undo killed between two of them is finished by
    # the next, as the queue, saved last, still names the operation to undo.
    if op.kind == "apply" and op.head_before and op.head_after and head != op.head_before:
        if head != op.head_after:
            raise Failed(
                f"HEAD moved since that apply (it is {head[:12]}, the apply left "
                f"{op.head_after[:12]}): undo will not move it back",
                hint="move HEAD yourself with `git reset --keep` and drop patches as needed",
            )
        repo.reset_keep(op.head_before)
    if op.kind == "split" and op.worktree_tree and op.index_tree:
        if head != op.head_before:
            raise Failed(
                "HEAD moved since the split: undo the later operations first",
                hint="see them with `patchpack log`",
            )
        _give_back(repo, repo.tree_of(head), op.worktree_tree, op.index_tree)
    saved = save(repo, current, before.patches, Op("undo", f"{op.kind} {op.summary}", restores=before.oid))
    return saved, op


def _give_back(repo: Repo, head_tree: Oid, worktree: Oid, index: Oid) -> None:
    """The work tree and the index as a split found them, from HEAD's (or from a state an
    undo killed half-way left). Refused, changing nothing, when a file the split took has
    changed since; a file merely touched (its stat data changed) has not."""
    paths = repo.paths_between(head_tree, worktree)
    changed = recovery.changed_since(repo, paths, head_tree, worktree, index)
    if changed:
        raise Failed(
            f"{', '.join(changed)} changed since the split: undo would overwrite them; nothing changed",
            hint="commit or `git stash -u` those changes, then `patchpack undo` again",
        )
    repo.put_paths(worktree, paths)
    repo.read_index(index)


def finish_split(repo: Repo, head: Oid) -> bool:
    """Finish the last operation if it is a split that a kill stopped after it queued the
    change, before the work tree was back at HEAD: the paths it took hold, in the index and
    the work tree, HEAD's version, the split's or the index's it found. True when there was
    one to finish; the change is not queued again."""
    op = load(repo).op
    if op is None or op.kind != "split" or op.head_before != head or not (op.worktree_tree and op.index_tree):
        return False
    head_tree = repo.tree_of(head)
    paths = repo.paths_between(head_tree, op.worktree_tree)
    found = recovery.versions(repo, paths)
    if recovery.changed_since(repo, paths, head_tree, op.worktree_tree, op.index_tree, found=found):
        return False  # edited since: a change of its own
    if not recovery.changed_since(repo, paths, head_tree, found=found):
        return False  # the split ended (what the index holds elsewhere is the user's)
    try:
        repo.put_paths(head_tree, paths)  # those paths only: what is staged elsewhere stays
    except GitFailed as e:
        raise Failed(
            f"{_index_locked(repo, e)}: an interrupted split could not be finished",
            hint="once the lock is gone, run the command again",
        ) from None
    return True


def take_back(repo: Repo, state: State | None, head_tree: Oid, paths: Sequence[str]) -> None:
    """End a split that queued ``paths`` (``state``): the index goes to HEAD, then those
    files of the work tree. If git's index lock stops the first step, the queue goes back
    to the state before ``state`` and nothing has changed (Failed)."""
    try:
        repo.read_index(head_tree)  # the one step another git process can make fail
    except GitFailed as e:
        what = _index_locked(repo, e)
        if state is not None and not unpublish(repo, state):
            raise Failed(
                f"{what}; the change is queued but the work tree still holds it, and "
                "the queue changed meanwhile",
                hint="once the lock is gone, see the "
                "queue with `patchpack list` and `patchpack drop` what is there twice",
            ) from None
        raise Failed(f"{what}; nothing changed", hint=locked_hint(repo.index_lock())) from None
    repo.write_worktree(head_tree, paths)


def _index_locked(repo: Repo, e: GitFailed) -> str:
    """What stopped git: its index lock (named) as a rule, else git's own words."""
    lock = repo.index_lock()
    return locked(lock) if lock or "index.lock" in e.message else e.message


def locked(lock: Path | None) -> str:
    """What went wrong when git's index lock is held."""
    return (
        f"the index is locked ({lock or 'index.lock'} exists: another git process is "
        "running, or one died holding it)"
    )


def locked_hint(lock: Path | None) -> str:
    return (
        f"wait for it to end (or, if no git is running, delete {lock or 'the lock'}), "
        "then `patchpack split` again"
    )


def unpublish(repo: Repo, state: State) -> bool:
    """Move the queue's ref back from ``state`` to the state before it (or delete it); False
    when another process moved it meanwhile."""
    assert state.oid is not None
    if state.previous is None:
        return repo.delete_ref(state.ref, state.oid)
    return repo.update_ref(
        state.ref, state.previous, state.oid, message="patchpack: roll back a failed operation"
    )
