"""`patchpack apply`: land queued micro-patches as commits that pass the repository's hooks.

Per patch, as `git am` does: the result tree is built in memory (a 3-way merge of trees when
HEAD moved since the patch was made), the index and the touched paths of the work tree are
carried to it (refused if that would overwrite local changes), and the commit is made in
process while the commit hooks run exactly as `git commit` runs them (``QueueGit.commit``). If
a hook refuses, HEAD, the index file and the touched paths of the work tree are put back as
they were, and the queue ref has not moved.
"""

from __future__ import annotations

from dataclasses import dataclass

from patchpack import queue
from patchpack.errors import Failed, PatchpackError
from patchpack.git import GitFailed, Oid, QueueGit, RefMoved, require_workdir
from patchpack.queue import Op, Patch, State


@dataclass(frozen=True)
class Applied:
    """One patch `apply` dealt with: the commit it made (None: already in HEAD, skipped)."""

    position: int
    title: str
    commit: Oid | None
    files: tuple[str, ...]
    lines: int
    tokens: int
    """Tokens of the patch text, counted with ``counter``."""
    counter: str


@dataclass(frozen=True)
class Result:
    applied: tuple[Applied, ...]
    remaining: int
    """Patches still queued."""
    failure: PatchpackError | None
    """Why `apply` stopped early; everything in ``applied`` is committed regardless."""

    @property
    def commits(self) -> list[Applied]:
        return [a for a in self.applied if a.commit is not None]


def apply(qg: QueueGit, *, count: int | None, verify: bool, counter_spec: str) -> Result:
    """Apply the next ``count`` queued patches (None: all), stopping at the first failure."""
    from patchpack.tokens import get_counter

    require_workdir(qg.repo)
    busy = qg.operation_in_progress()
    if busy:
        raise Failed(f"a {busy} is in progress: apply will not commit in the middle of it",
                     hint=f"finish or abort the {busy} first (`git {busy} --abort`)")
    queue.require_head(qg.repo)
    state = queue.load(qg)
    if state.next_position() is None:
        raise Failed("queue empty: nothing to apply",
                     hint="queue a change with `patchpack add FILE` or `patchpack split`")
    done: list[tuple[int, Patch, Oid | None]] = []
    failure: PatchpackError | None = None
    while count is None or len(done) < count:
        position = state.next_position()
        if position is None:
            break
        try:
            state, made = _apply_one(qg, state, position, verify=verify)
        except PatchpackError as e:
            if not done:
                raise
            failure = e
            break
        done.append((position, state.patches[position - 1], made))
    if any(made for _, _, made in done):
        qg.auto_maintenance()  # once for the series, as `git am` does
    counter = get_counter(counter_spec)
    texts = qg.commit_diffs([p.commit for _, p, _ in done])
    applied = tuple(Applied(pos, p.title, made, p.files, p.lines, counter.count(texts[p.commit]),
                            counter.name) for pos, p, made in done)
    return Result(applied, len(state.queued()), failure)


def _apply_one(qg: QueueGit, state: State, position: int, *,
               verify: bool) -> tuple[State, Oid | None]:
    patch = state.patches[position - 1]
    where = f"patch {position}/{len(state.patches)} ({patch.title})"
    head = queue.require_head(qg.repo)
    head_tree = qg.tree_of(head)
    replayed = queue.replay(qg, patch, head)
    if replayed.tree is None:
        raise Failed(
            f"{where} conflicts with HEAD in {', '.join(replayed.conflicts)}; nothing changed",
            hint="see it with `patchpack next`; make the change by hand and `patchpack drop`, "
                 "or `patchpack drop` it")
    if replayed.tree == head_tree:
        return _record(qg, state, position, None, head, head), None
    if qg.index_tree() != head_tree:
        raise Failed("the index has staged changes: apply commits the patch and nothing else",
                     hint="commit them, or put them aside with `git stash`, then apply again")
    touched = qg.paths_between(head_tree, replayed.tree)
    dirty = qg.dirty(touched)
    if dirty:
        raise Failed(f"{where} touches files with local changes: {', '.join(dirty)}",
                     hint="commit or `git stash` those changes, then apply again")
    saved_index = qg.snapshot_index()
    info = qg.commit_info(patch.commit)
    try:
        qg.checkout_paths(head_tree, replayed.tree, touched)
    except GitFailed as e:
        qg.restore(head=head, index=saved_index, paths=touched)
        raise Failed(f"{where} could not be written to the work tree: {e.message}",
                     hint="commit or `git stash` local changes, then apply again") from None
    run = qg.commit(info.message, tree=replayed.tree, author=info.author, verify=verify)
    if run.oid is None:
        qg.restore(head=head, index=saved_index, paths=touched)
        raise Failed(f"the commit of {where} was refused; nothing changed:\n"
                     f"{run.output}",
                     hint="fix what the hook reports in the queue (`patchpack drop`, then "
                          "`patchpack add`), or skip the hooks with `patchpack apply --no-verify`")
    try:
        return _record(qg, state, position, run.oid, head, run.oid), run.oid
    except RefMoved:
        qg.restore(head=head, index=saved_index, paths=touched)
        raise Failed("the queue changed while applying (another patchpack ran); nothing changed",
                     hint="run `patchpack apply` again") from None


def _record(qg: QueueGit, state: State, position: int, made: Oid | None, head_before: Oid,
            head_after: Oid) -> State:
    patch = state.patches[position - 1]
    done = Patch(patch.commit, patch.title, patch.files, patch.lines,
                 "applied" if made else "skipped", made)
    patches = [done if i == position else p for i, p in enumerate(state.patches, 1)]
    summary = f"{position}/{len(patches)} {patch.title}"
    return queue.save(qg, state, patches, Op("apply", summary, head_before=head_before,
                                              head_after=head_after))


def render(result: Result) -> str:
    """What `apply` prints (stdout); reminders from other features join here."""
    out = []
    for a in result.applied:
        what = f"committed {a.commit[:12]}" if a.commit else "already in HEAD, skipped"
        out.append(f"{a.position}  {what}  {a.title}  ({len(a.files)} files, {a.lines} lines, "
                   f"{a.tokens} tokens {a.counter})")
    out.append(f"{result.remaining} queued" if result.remaining else "queue done: all applied")
    return "\n".join(out)
