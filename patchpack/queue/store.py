"""The micro-patch queue, kept in git refs.

``refs/patchpack/queue/<branch>`` points at a *state commit*. Its tree holds the series in
order, one entry per patch; each micro-patch is a real commit whose parent is what it was made
against.
Every operation writes a new state commit whose first parent is the previous state and whose
other parents are the patch commits it added, so every patch ever queued stays reachable through
`git gc`, and the ref moves once, checking its old value. ``log`` walks that history and ``undo``
(:mod:`patchpack.queue.changes`) goes back along it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from patchpack.errors import BadInput, Failed
from patchpack.git import FILE_MODE, TREE_MODE, Oid, RefMoved, decode
from patchpack.limits.hunks import quote

TYPE_CHECKING = False
if TYPE_CHECKING:  # the door: the quick path reads through git/plain (#16)
    from patchpack.git import Repo
    from patchpack.git.plain import Plain
    from patchpack.tokens import Counter

PREFIX = "refs/patchpack/queue/"
DETACHED = "detached"
_STATE_FILE = "state.json"
_OLD_STATE_FILE = "queue.json"
_SERIES = "series"
_DIFFS = "diffs"  # the patches' diffs (``Patch.diff``), laid out as series/
_CHUNK = 100  # patches per directory of series/
_VERSION = 2
_RETRIES = 20
_BATCH_AT_LEAST = 16  # changed entries a state writes in one pack


class Patch(NamedTuple):
    """One micro-patch of the series."""

    commit: Oid
    """The patch commit: its parent is what it was made against, its tree the result."""
    title: str
    files: tuple[str, ...]
    lines: int
    """Diff lines of the patch commit, as `patchpack check` measures them."""
    state: str = "queued"
    """``queued``, ``applied``, or ``skipped`` (already contained in HEAD when applied)."""
    applied_as: Oid | None = None
    """The commit `apply` made of it."""
    diff: Oid | None = None
    """A blob holding the patch commit's diff as it was measured: `list` reads it instead of
    diffing the files again, which on a 5 MB file cut into 2,000 pieces took minutes (#15)."""
    tokens: int | None = None
    """Tokens of that diff, counted when it was queued (``counted``), so that `apply` loads
    no tokenizer (#16); None in a queue from before."""
    counter: str | None = None
    """The counter that counted ``tokens``."""


class Op(NamedTuple):
    """What made a queue state; enough to undo it."""

    kind: str
    """``add``, ``split``, ``apply``, ``drop`` or ``undo``."""
    summary: str
    head_before: Oid | None = None
    head_after: Oid | None = None
    index_tree: Oid | None = None
    """``split``: the index as it was, to give it back on undo."""
    worktree_tree: Oid | None = None
    """``split``: the work tree as it was, to give it back on undo."""
    restores: Oid | None = None
    """``undo``: the state whose series this one carries."""


class State(NamedTuple):
    name: str
    """The queue's name: the branch, or ``detached``."""
    oid: Oid | None
    """The state commit; None when the queue does not exist yet."""
    patches: tuple[Patch, ...] = ()
    op: Op | None = None
    previous: Oid | None = None
    tree: Oid | None = None
    """The state commit's tree, which the next state edits (None: written whole)."""

    @property
    def ref(self) -> str:
        return PREFIX + self.name

    def next_position(self) -> int | None:
        """1-based position of the next queued patch, or None when nothing is queued."""
        for i, patch in enumerate(self.patches, 1):
            if patch.state == "queued":
                return i
        return None

    def queued(self) -> list[Patch]:
        return [p for p in self.patches if p.state == "queued"]


# -- storage ---------------------------------------------------------------------------------------
# A state's tree: ``state.json`` (version, previous state, the operation) and ``series/``, one
# blob per patch at ``series/<position // 100>/<position % 100>`` (0-based, zero-padded). A new
# state is an edit of the previous one's tree: only the patches that changed and the trees on
# their paths are written, so applying patch 400 of 500 costs what applying patch 4 of 5 does.
# Version 1 kept the whole series in one ``queue.json`` (rewritten whole on every operation);
# such states are still read, and the next operation writes the new layout.


def queue_name(repo: Repo | Plain) -> str:
    return repo.branch() or DETACHED


def load(repo: Repo | Plain, name: str | None = None, *, oid: Oid | None = None) -> State:
    """The queue's current state (or the state commit ``oid``)."""
    name = name or queue_name(repo)
    if oid is None:
        oid = repo.read_ref(PREFIX + name)
        if oid is None:
            return State(name, None)
    tree = repo.commit_info(oid).tree
    edited: Oid | None = tree  # what the next state edits
    found = repo.entry(tree, _STATE_FILE)
    if found is not None:
        data = json.loads(repo.read_blob(found[0]))
        series = repo.entry(tree, _SERIES)
        patches = _read_series(repo, series[0]) if series is not None else ()
    else:
        found = repo.entry(tree, _OLD_STATE_FILE)
        if found is None:
            raise BadInput(f"{PREFIX + name} does not point at a patchpack queue state ({oid[:12]})")
        data = json.loads(repo.read_blob(found[0]))
        patches = tuple(_patch(p) for p in data["patches"])
        edited = None  # nothing to edit: the next state is written whole
    return State(
        name=name, oid=oid, patches=patches, op=Op(**data["op"]), previous=data.get("previous"), tree=edited
    )


def _read_series(repo: Repo | Plain, series: Oid) -> tuple[Patch, ...]:
    return tuple(
        patch
        for _, chunk in sorted(repo.tree_items(series), key=_number)
        for patch in _read_chunk(repo, chunk)
    )


@functools.lru_cache(maxsize=4096)
def _read_chunk(repo: Repo | Plain, chunk: Oid) -> tuple[Patch, ...]:
    # By object id: the states of one series share all but a chunk or two, so `log` reads
    # each chunk once.
    return tuple(
        _patch(json.loads(repo.read_blob(blob))) for _, blob in sorted(repo.tree_items(chunk), key=_number)
    )


def _number(item: tuple[str, Oid]) -> int:
    return int(item[0])


def _patch(fields: dict[str, Any]) -> Patch:
    fields = {**fields, "files": tuple(fields["files"])}
    # A count that is not one (a hand edit) is dropped: `apply` counts that patch again.
    if not (
        type(fields.get("tokens")) is int and fields["tokens"] >= 0 and isinstance(fields.get("counter"), str)
    ):
        fields["tokens"] = fields["counter"] = None
    return Patch(**fields)


def _series_path(index: int, top: str = _SERIES) -> str:
    return f"{top}/{index // _CHUNK:04d}/{index % _CHUNK:02d}"


def write(
    repo: Repo, current: State, patches: Sequence[Patch], op: Op, *, new_commits: Sequence[Oid] = ()
) -> State:
    """The state that follows ``current``, written as objects only: :func:`publish` makes it
    the queue's state."""
    text = json.dumps(
        {"version": _VERSION, "previous": current.oid, "op": _fields(op)}, separators=(",", ":")
    )
    changes: dict[str, tuple[Oid, int] | None] = {
        _STATE_FILE: (repo.write_blob(text.encode()), FILE_MODE),
        # The split's snapshot trees hang off the state tree so that gc keeps them.
        "index": (op.index_tree, TREE_MODE) if op.index_tree else None,
        "worktree": (op.worktree_tree, TREE_MODE) if op.worktree_tree else None,
    }
    old = current.patches if current.tree is not None else ()
    for i in range(len(patches), len(old)):
        changes[_series_path(i)] = changes[_series_path(i, _DIFFS)] = None
    changed = [
        i for i, patch in enumerate(patches) if i >= len(old) or (old[i] is not patch and old[i] != patch)
    ]
    # Many entries (a series queued) as one pack, not a file each; :func:`publish` writes
    # them before the ref moves (#16).
    with repo.batch() if len(changed) >= _BATCH_AT_LEAST else contextlib.nullcontext():
        for i in changed:
            patch = patches[i]
            changes[_series_path(i)] = (repo.write_blob(_patch_json(patch).encode()), FILE_MODE)
            # In the tree too, so that gc keeps it.
            changes[_series_path(i, _DIFFS)] = (patch.diff, FILE_MODE) if patch.diff else None
        tree = repo.edit_tree(current.tree, changes)
        assert tree is not None  # it holds state.json
        parents = ([current.oid] if current.oid else []) + list(dict.fromkeys(new_commits))
        oid = repo.create_commit(tree, parents, _reason(op))
    return State(current.name, oid, tuple(patches), op, current.oid, tree)


def publish(repo: Repo, state: State) -> State:
    """Move the queue's ref to ``state`` (from :func:`write`) if it still points at the state
    ``state`` follows; RefMoved when another process moved it meanwhile."""
    assert state.oid is not None and state.op is not None
    repo.flush()  # the objects of a batch under way on disk before the ref names them
    if not repo.update_ref(state.ref, state.oid, state.previous, message=_reason(state.op)):
        raise RefMoved(f"{state.ref} was moved by another process meanwhile")
    return state


def save(
    repo: Repo, current: State, patches: Sequence[Patch], op: Op, *, new_commits: Sequence[Oid] = ()
) -> State:
    """Write a new state after ``current`` and move the ref from ``current.oid`` (RefMoved)."""
    return publish(repo, write(repo, current, patches, op, new_commits=new_commits))


def _reason(op: Op) -> str:
    return f"patchpack {op.kind}: {op.summary}"


def _fields(value: Patch | Op) -> dict[str, object]:
    return {name: item for name, item in value._asdict().items() if item is not None}


@functools.lru_cache(maxsize=4096)
def _patch_json(patch: Patch) -> str:
    return json.dumps(_fields(patch), separators=(",", ":"))


def update(
    repo: Repo, change: Callable[[State], tuple[list[Patch], Op, Sequence[Oid]]], name: str | None = None
) -> State:
    """Apply ``change`` to the current state and save it, starting again if another process
    moved the queue in between (the change is recomputed on the state that won)."""
    for attempt in range(_RETRIES):
        current = load(repo, name)
        patches, op, new_commits = change(current)
        try:
            return save(repo, current, patches, op, new_commits=new_commits)
        except RefMoved:
            import random  # not for status and next (#16)

            # A random, growing pause: writers that collided do not collide again in lockstep
            # (eight concurrent `add`s could otherwise use up the retries within milliseconds).
            time.sleep(random.uniform(0, 0.001 * 2 ** min(attempt, 7)))
    raise Failed(
        "the queue kept changing under patchpack (other processes are writing it)",
        hint="run the command again",
    )


def append(repo: Repo, patches: Sequence[Patch], op: Op) -> State:
    """Put ``patches`` at the end of the series."""
    commits = [p.commit for p in patches]
    return update(repo, lambda s: ([*s.patches, *patches], op, commits))


# -- reading ---------------------------------------------------------------------------------------


class Listed(NamedTuple):
    position: int
    patch: Patch
    tokens: int


def listing(repo: Repo, state: State, counter: Counter) -> list[Listed]:
    """The series with the tokens of each patch text."""
    texts = patch_texts(repo, state.patches)
    return [Listed(i, p, counter.count(texts[p.commit])) for i, p in enumerate(state.patches, 1)]


def patch_texts(repo: Repo, patches: Sequence[Patch]) -> dict[Oid, str]:
    """Each patch commit's diff against its parent, as `patchpack check` sees it."""
    texts = repo.commit_diffs([p.commit for p in patches if p.diff is None])
    kept = [p for p in patches if p.diff is not None]
    for patch, data in zip(kept, repo.blobs([p.diff for p in kept if p.diff])):
        texts[patch.commit] = decode(data)
    return texts


def counted(repo: Repo, patches: Sequence[Patch], spec: str) -> dict[Oid, tuple[int, str]]:
    """The tokens of each patch's diff and the counter's name: those kept with the patch when
    the counter ``spec`` made them, the others counted now (the tokenizer loaded only then)."""
    from patchpack.tokens import counter_name, get_counter  # hashlib: not for status (#16)

    name = counter_name(spec)
    found = {p.commit: (p.tokens, name) for p in patches if p.tokens is not None and p.counter == name}
    rest = [p for p in patches if p.commit not in found]
    if rest:
        counter = get_counter(spec)
        texts = patch_texts(repo, rest)
        found.update((p.commit, (counter.count(texts[p.commit]), counter.name)) for p in rest)
    return found


def with_tokens(repo: Repo, patches: Sequence[Patch], spec: str) -> list[Patch]:
    """``patches`` with their tokens kept, as `add` and `split` queue them (#16)."""
    found = counted(repo, patches, spec)
    return [p._replace(tokens=found[p.commit][0], counter=found[p.commit][1]) for p in patches]


class Replay(NamedTuple):
    """A patch replayed onto HEAD: the tree it gives, or the paths that conflict."""

    tree: Oid | None
    conflicts: tuple[str, ...]
    moved: bool
    """HEAD is not what the patch was made against: a 3-way merge was needed."""


def replay(repo: Repo | Plain, patch: Patch, head: Oid) -> Replay:
    info = repo.commit_info(patch.commit)
    base = repo.tree_of(info.parents[0]) if info.parents else repo.empty_tree()
    head_tree = repo.tree_of(head)
    if head_tree == base:
        return Replay(info.tree, (), False)
    tree, conflicts = repo.merge(base, head_tree, info.tree)
    return Replay(tree, tuple(conflicts), True)


class Next(NamedTuple):
    position: int
    total: int
    patch: Patch
    diff: str
    note: str | None


def next_patch(repo: Repo | Plain, state: State) -> Next:
    """The next queued patch and the diff `apply` will commit for it."""
    position = state.next_position()
    if position is None:
        raise Failed(
            "queue empty: nothing to apply",
            hint="queue a change with `patchpack add FILE` or `patchpack split`",
        )
    patch = state.patches[position - 1]
    head = require_head(repo)
    result = replay(repo, patch, head)
    note = None
    if result.tree is None:
        diff = repo.commit_diffs([patch.commit], shown=True)[patch.commit]
        note = f"conflicts with HEAD in {_names(result.conflicts)}: apply will refuse it"
    elif result.moved:
        diff = repo.diff_trees(repo.tree_of(head), result.tree, shown=True)
        note = "HEAD moved since this patch was made; the diff is the patch replayed onto HEAD"
    else:
        diff = repo.commit_diffs([patch.commit], shown=True)[patch.commit]
    return Next(position, len(state.patches), patch, diff, note)


def history(repo: Repo, state: State, limit: int | None = None) -> list[State]:
    """The queue's states, newest first."""
    out: list[State] = []
    oid = state.oid
    while oid is not None and (limit is None or len(out) < limit):
        found = load(repo, state.name, oid=oid)
        out.append(found)
        oid = found.previous
    return out


def require_head(repo: Repo | Plain) -> Oid:
    head = repo.head_oid()
    if head is None:
        raise BadInput(
            "this repository has no commits yet: the queue needs a HEAD to work on",
            hint="make a first commit, e.g. `git commit --allow-empty -m init`",
        )
    return head


# -- rendering: every line the queue commands print is made here -----------------------------------


def render_list(rows: Sequence[Listed], counter_name: str) -> str:
    if not rows:
        return "queue empty"
    width = len(str(len(rows)))
    out = []
    for r in rows:
        out.append(
            f"{r.position:>{width}}/{len(rows)}  {r.patch.state:<7}  "
            f"{r.patch.lines:>4} lines  {r.tokens:>5} tokens  {r.patch.title}"
        )
        if _names(r.patch.files) not in r.patch.title:
            out.append(" " * (width * 2 + 3) + _names(r.patch.files))
    out.append(f"(tokens counted with {counter_name})")
    return "\n".join(out)


def _names(paths: Sequence[str]) -> str:
    """Paths as git shows them: a name that is not UTF-8 quoted, in octal escapes."""
    return ", ".join(quote(path) for path in paths)


def list_json(rows: Sequence[Listed], counter_name: str) -> str:
    return json.dumps(
        {
            "counter": counter_name,
            "patches": [
                {
                    "position": r.position,
                    "state": r.patch.state,
                    "title": r.patch.title,
                    "files": list(r.patch.files),
                    "diff_lines": r.patch.lines,
                    "tokens": r.tokens,
                    "commit": r.patch.commit,
                    "applied_as": r.patch.applied_as,
                }
                for r in rows
            ],
        },
        indent=2,
    )


def render_next(n: Next) -> str:
    head = [
        f"{n.position}/{n.total}  {n.patch.title}",
        f"files: {_names(n.patch.files)}  ({n.patch.lines} diff lines)",
    ]
    if n.note:
        head.append(f"note: {n.note}")
    return "\n".join(head) + "\n\n" + n.diff.rstrip("\n")


def next_json(n: Next) -> str:
    return json.dumps(
        {
            "position": n.position,
            "total": n.total,
            "title": n.patch.title,
            "files": list(n.patch.files),
            "diff_lines": n.patch.lines,
            "commit": n.patch.commit,
            "note": n.note,
            "diff": n.diff,
        },
        indent=2,
    )


def render_log(states: Sequence[State]) -> str:
    if not states:
        return "no queue history"
    out = []
    for s in states:
        assert s.oid is not None and s.op is not None
        queued = len(s.queued())
        out.append(
            f"{s.oid[:12]}  {s.op.kind:<5}  {s.op.summary}  "
            f"[{queued} queued, {len(s.patches) - queued} applied]"
        )
    return "\n".join(out)
