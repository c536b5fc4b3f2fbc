"""`patchpack apply`: land queued micro-patches as commits that pass the repository's hooks.

Per patch, as `git am` does: the result tree is built in memory (a 3-way merge of trees when
HEAD moved since the patch was made), the index and the touched paths of the work tree are
carried to it (refused if that would overwrite local changes), and the commit is made in
process while the commit hooks run exactly as `git commit` runs them (``Repo.commit``). If
a hook refuses, HEAD, the index file and the touched paths of the work tree are put back as
they were, and the queue ref has not moved.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from patchpack.errors import Failed, PatchpackError
from patchpack.git import CommitInfo, GitFailed, Oid, RefMoved, Repo, require_workdir
from patchpack.queue import changes, recovery
from patchpack.queue import store as queue
from patchpack.queue.store import Op, Patch, State
from patchpack.text import counted


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


def apply(
    repo: Repo,
    *,
    count: int | None,
    verify: bool,
    counter_spec: str,
    on_commit: Callable[[Applied], None] | None = None,
) -> Result:
    """Apply the next ``count`` queued patches (None: all), stopping at the first failure.

    ``on_commit`` is told of each commit as soon as HEAD has moved to it (while the
    post-commit hook runs), so that what it keeps survives an interrupted series.
    """
    require_workdir(repo)
    busy = repo.operation_in_progress()
    if busy:
        raise Failed(
            f"a {busy} is in progress: apply will not commit in the middle of it",
            hint=f"finish or abort the {busy} first (`git {busy} --abort`)",
        )
    head = queue.require_head(repo)
    with recovery.exclusive(repo):  # what a killed apply or split left is finished first
        recovery.carry_on(repo)
        changes.finish_split(repo, head)
    state = queue.load(repo)
    todo = [i for i, p in enumerate(state.patches, 1) if p.state == "queued"][:count]
    if not todo:
        raise Failed(
            "queue empty: nothing to apply",
            hint="queue a change with `patchpack add FILE` or `patchpack split`",
        )
    # Counted when queued (#16): the tokenizer loads only for a queue from before then.
    tokens = queue.counted(repo, [state.patches[i - 1] for i in todo], counter_spec)
    series = state.patches

    def applied(position: int, made: Oid | None) -> Applied:
        patch = series[position - 1]
        return Applied(position, patch.title, made, patch.files, patch.lines, *tokens[patch.commit])

    done: list[Applied] = []
    failure: PatchpackError | None = None
    turn: _Turn | None = _try_plan(repo, state, todo[0], head)
    for n, position in enumerate(todo):
        try:
            if isinstance(turn, PatchpackError):
                raise turn
            assert turn is not None  # a turn is made for every position of todo
            state, made, turn = _apply_one(
                repo,
                state,
                turn,
                verify=verify,
                then=todo[n + 1] if n + 1 < len(todo) else None,
                committed=None
                if on_commit is None
                else functools.partial(lambda at, made: on_commit(applied(at, made)), position),
            )
        except PatchpackError as e:
            if not done:
                raise
            failure = e
            break
        done.append(applied(position, made))
    if any(a.commit for a in done):
        repo.auto_maintenance()  # once for the series, as `git am` does
    return Result(tuple(done), len(state.queued()), failure)


@dataclass(frozen=True)
class _Plan:
    """Applying one patch onto ``head``, worked out from objects alone."""

    position: int
    head: Oid
    head_tree: Oid
    tree: Oid
    """The tree the commit will have; ``head_tree`` when the patch is already in HEAD."""
    touched: tuple[str, ...]
    info: CommitInfo
    """The patch commit: its message and author are the new commit's."""


@dataclass(frozen=True)
class _Ready:
    """A planned patch cleared to be written: its paths are clean, the index is at HEAD and
    saved (``index``), and the apply is recorded (recovery.begin)."""

    plan: _Plan
    index: bytes | None
    stamps: tuple[object, ...]
    """Of the work-tree files of ``plan.touched``, when they were found clean."""

    def holds(self, repo: Repo, head: Oid) -> bool:
        """Whether it still holds: made while the last commit's post-commit hook ran, it is
        stale if the hook moved HEAD, rewrote the index or wrote one of the files."""
        return (
            head == self.plan.head
            and repo.snapshot_index() == self.index
            and repo.stamps(self.plan.touched) == self.stamps
        )


_Turn = _Plan | _Ready | PatchpackError
"""The next patch as far as it was prepared, or why it cannot be applied."""


def _plan(repo: Repo, state: State, position: int, head: Oid) -> _Plan:
    patch = state.patches[position - 1]
    replayed = queue.replay(repo, patch, head)
    if replayed.tree is None:
        raise Failed(
            f"{_where(state, position)} conflicts with HEAD in {', '.join(replayed.conflicts)}; "
            "nothing changed",
            hint="see it with `patchpack next`; make the change by hand and `patchpack drop`, "
            "or `patchpack drop` it",
        )
    head_tree = repo.tree_of(head)
    touched = repo.paths_between(head_tree, replayed.tree) if replayed.tree != head_tree else []
    return _Plan(position, head, head_tree, replayed.tree, tuple(touched), repo.commit_info(patch.commit))


def _ready(repo: Repo, state: State, plan: _Plan) -> _Ready:
    """Check that ``plan`` can be written and record it: from here on a kill leaves the patch
    staged, which the next apply recognises and puts back (recovery.carry_on)."""
    if repo.index_tree() != plan.head_tree:
        raise Failed(
            "the index has staged changes: apply commits the patch and nothing else",
            hint="commit them, or put them aside with `git stash`, then apply again",
        )
    stamps = repo.stamps(plan.touched)  # before they are found clean: a write after shows
    dirty = repo.dirty(plan.touched)
    if dirty:
        raise Failed(
            f"{_where(state, plan.position)} touches files with local changes: {', '.join(dirty)}",
            hint="commit or `git stash` those changes, then apply again",
        )
    index = repo.snapshot_index()
    patch = state.patches[plan.position - 1]
    recovery.begin(repo, recovery.InFlight(patch.title, plan.head, plan.head_tree, plan.tree, plan.touched))
    return _Ready(plan, index, stamps)


def _try_plan(repo: Repo, state: State, position: int, head: Oid) -> _Plan | PatchpackError:
    """The plan of the patch at ``position``, or why there is none: the error is raised when
    its turn comes, not while the last patch ends."""
    try:
        return _plan(repo, state, position, head)
    except PatchpackError as e:
        return e


def _try_ready(repo: Repo, state: State, plan: _Plan) -> _Ready | PatchpackError:
    try:
        return _ready(repo, state, plan)
    except PatchpackError as e:
        return e


def _where(state: State, position: int) -> str:
    return f"patch {position}/{len(state.patches)} ({state.patches[position - 1].title})"


def _apply_one(
    repo: Repo,
    state: State,
    turn: _Plan | _Ready,
    *,
    verify: bool,
    then: int | None,
    committed: Callable[[Oid], None] | None,
) -> tuple[State, Oid | None, _Turn | None]:
    """Apply the next patch: the new state, the commit made (None: already in HEAD,
    skipped), and the next turn, patch ``then``'s (prepared while the post-commit hook ran).
    ``committed`` is called with the new commit as soon as HEAD is on it."""
    head = queue.require_head(repo)
    ready = turn if isinstance(turn, _Ready) and turn.holds(repo, head) else None
    plan = turn.plan if isinstance(turn, _Ready) else turn
    if ready is None:
        if isinstance(turn, _Ready):
            recovery.end(repo)  # its record is stale: made again below if need be
        if head != plan.head:  # a hook moved HEAD since the plan was made
            plan = _plan(repo, state, plan.position, head)
        if plan.tree == plan.head_tree:
            state = queue.save(repo, state, *_recorded(state, plan, None))
            return state, None, _try_plan(repo, state, then, head) if then else None
        ready = _ready(repo, state, plan)
    try:
        return _write_and_commit(repo, state, ready, verify=verify, then=then, committed=committed)
    except KeyboardInterrupt:
        # Ctrl-C: put the patch back now, unless its commit was made (the next apply skips it).
        if repo.head_oid() == plan.head:
            repo.restore(head=plan.head, index=ready.index, paths=plan.touched)
        recovery.end(repo)
        raise


def _write_and_commit(
    repo: Repo,
    state: State,
    ready: _Ready,
    *,
    verify: bool,
    then: int | None,
    committed: Callable[[Oid], None] | None,
) -> tuple[State, Oid | None, _Turn | None]:
    plan = ready.plan
    where = _where(state, plan.position)
    try:
        repo.checkout_paths(plan.head_tree, plan.tree, plan.touched)
    except GitFailed as e:
        _put_back(repo, ready)
        raise Failed(
            f"{where} could not be written to the work tree: {e.message}",
            hint="commit or `git stash` local changes, then apply again",
        ) from None
    made_for: dict[Oid, tuple[State, _Turn | None]] = {}

    def ahead(made: Oid) -> None:
        # While the pre-commit hook runs, for the commit as it will be: the objects of the
        # queue's next state (its ref moves once the post-commit hook is done, so hooks see the
        # queue as one `apply` after another leaves it), and the next patch's plan.
        made_for[made] = (
            queue.write(repo, state, *_recorded(state, plan, made)),
            _try_plan(repo, state, then, made) if then else None,
        )

    def meanwhile(made: Oid) -> None:
        # While the post-commit hook runs: what ``committed`` keeps, and the next patch made
        # ready (stale if the hook moves HEAD or rewrites the index, see _Ready.holds).
        if committed is not None:
            committed(made)
        written, nxt = made_for[made]
        if isinstance(nxt, _Plan) and nxt.tree != nxt.head_tree:
            made_for[made] = written, _try_ready(repo, state, nxt)

    run = repo.commit(
        plan.info.message,
        tree=plan.tree,
        author=plan.info.author,
        verify=verify,
        ahead=ahead,
        meanwhile=meanwhile,
    )
    if run.oid is None:
        _put_back(repo, ready)
        raise Failed(
            f"the commit of {where} was refused; nothing changed:\n{run.output}",
            hint="commit it without the hooks (`patchpack apply --no-verify`), fix "
            "what they report and `git commit --amend` (its hooks run), or take it "
            "off the queue with `patchpack drop`",
        )
    written, nxt = made_for[run.oid]
    try:
        state = queue.publish(repo, written)
    except RefMoved:
        _put_back(repo, ready)
        raise Failed(
            "the queue changed while applying (another patchpack ran); nothing changed",
            hint="run `patchpack apply` again",
        ) from None
    if not isinstance(nxt, _Ready):
        recovery.end(repo)  # else the record is the next patch's already
    return state, run.oid, nxt


def _put_back(repo: Repo, ready: _Ready) -> None:
    repo.restore(head=ready.plan.head, index=ready.index, paths=ready.plan.touched)
    recovery.end(repo)


def _recorded(state: State, plan: _Plan, made: Oid | None) -> tuple[list[Patch], Op]:
    """The series and the operation that record ``plan``'s patch as applied (or skipped)."""
    i = plan.position - 1
    patch = state.patches[i]
    done = patch._replace(state="applied" if made else "skipped", applied_as=made)
    summary = f"{plan.position}/{len(state.patches)} {patch.title}"
    return (
        [*state.patches[:i], done, *state.patches[i + 1 :]],
        Op("apply", summary, head_before=plan.head, head_after=made or plan.head),
    )


def render(result: Result) -> str:
    """What `apply` prints (stdout); reminders from other features join here."""
    out = []
    for a in result.applied:
        what = f"committed {a.commit[:12]}" if a.commit else "already in HEAD, skipped"
        out.append(
            f"{a.position}  {what}  {a.title}  ({counted(len(a.files), 'file')}, "
            f"{a.lines} lines, "
            f"{a.tokens} tokens {a.counter})"
        )
    out.append(f"{result.remaining} queued" if result.remaining else "queue done: all applied")
    return "\n".join(out)
