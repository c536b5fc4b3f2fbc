"""Putting changes on the queue: `patchpack add` (a diff, a plain `diff -u`, mails, an mbox)
and `patchpack split` (the uncommitted changes of the work tree)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from patchpack.errors import BadInput, Failed
from patchpack.git import TREE_MODE, DoesNotFit, Oid, Patcher, Repo, encode
from patchpack.limits import diffs, hunks
from patchpack.limits.diffs import Limits
from patchpack.limits.hunks import unquote
from patchpack.queue import changes, recovery, split
from patchpack.queue import store as queue
from patchpack.queue.store import Op, Patch, State
from patchpack.text import counted


@dataclass(frozen=True)
class Added:
    state: State
    patches: tuple[Patch, ...]


@dataclass(frozen=True)
class _Change:
    diff: str
    given: str | None
    """The title given (-m, the mail's subject); None when there is none."""
    author: str | None

    @property
    def title(self) -> str:
        # Untitled, a change is named by its files and lines (not "Change from stdin").
        return self.given or diffs.describe_measure(diffs.measure(self.diff))


def add(
    repo: Repo, *, text: str, source: str, title: str | None, limits: Limits, split_big: bool, tokenizer: str
) -> Added:
    """Queue the change(s) in ``text``: refused (nothing queued) if one does not fit the tree it
    targets, or is over ``limits`` without ``split_big``. Each patch's tokens are counted with
    ``tokenizer`` and kept in the queue."""
    head = queue.require_head(repo)
    mails = diffs.split_mails(text)
    if mails is None:
        diffs.measure_input(text, source=source)
        changes = [_Change(text, title, None)]
    else:
        changes = [_Change(m.diff, title or m.title or None, m.author) for m in mails]
    # The objects of the series are written once, as one pack, before git measures them.
    with repo.patcher() as patcher, repo.batch():
        base, tree = _first_fit(repo, patcher, head, changes[0].diff, _label(source, 1, changes))
        singles: list[Oid] = []
        trees: list[Oid] = []
        for n, change in enumerate(changes, 1):
            if n > 1:
                tree = _fit(repo, patcher, tree, change.diff, _label(source, n, changes))
            if tree == (trees[-1] if trees else repo.tree_of(base)):
                raise Failed(f"{_label(source, n, changes)} changes nothing")
            singles.append(
                repo.create_commit(tree, [singles[-1] if singles else base], change.title, change.author)
            )
            trees.append(tree)
    patches: list[Patch] = []
    measured = split.measured(repo, singles, [c.title for c in changes])
    for n, (single, change) in enumerate(zip(measured, changes), 1):
        if len(single.files) <= limits.max_files and single.lines <= limits.max_lines:
            patches.append(single)
            continue
        if not split_big:
            raise Failed(
                f"{_label(source, n, changes)} is over the micro-patch limits "
                f"({counted(len(single.files), 'file')}, {single.lines} diff lines; "
                f"at most {counted(limits.max_files, 'file')} and {limits.max_lines} "
                f"lines)",
                hint="queue it cut into micro-patches with `patchpack add --split`",
            )
        # The next mail's commit keeps this one as parent: same tree as the last piece.
        parent = repo.commit_info(single.commit).parents[0]
        patches += split.cut(
            repo, parent, trees[n - 1], title=change.given, author=change.author, limits=limits
        )
    patches = queue.with_tokens(repo, patches, tokenizer)
    state = queue.append(repo, patches, Op("add", f"{len(patches)} from {source}", head_before=head))
    return Added(state, tuple(patches))


def split_worktree(
    repo: Repo, *, title: str | None, limits: Limits, untracked: bool, tokenizer: str
) -> Added:
    """Queue the work tree's uncommitted changes as micro-patches and return it to HEAD.

    One split of a work tree runs at a time, and one that a kill stopped after queueing is
    finished by the next, not queued again (#15)."""
    head = queue.require_head(repo)
    busy = repo.operation_in_progress()
    if busy:
        raise Failed(f"a {busy} is in progress", hint=f"finish or abort the {busy} first")
    with recovery.exclusive(repo):
        return _split_worktree(
            repo, head, title=title, limits=limits, untracked=untracked, tokenizer=tokenizer
        )


def _split_worktree(
    repo: Repo, head: Oid, *, title: str | None, limits: Limits, untracked: bool, tokenizer: str
) -> Added:
    recovery.carry_on(repo)  # a patch a killed apply left staged is not a change to split
    lock = repo.index_lock()
    if lock is not None:  # checked again, with no harm done, where it counts (take_back)
        raise Failed(f"{changes.locked(lock)}; nothing changed", hint=changes.locked_hint(lock))
    finished = changes.finish_split(repo, head)
    index_tree = repo.index_tree()
    worktree = repo.worktree_tree(untracked=untracked)
    head_tree = repo.tree_of(head)
    if worktree == head_tree:
        if finished:
            return Added(queue.load(repo), ())
        raise Failed(
            "nothing to split: the work tree is at HEAD",
            hint="make changes first, or queue a diff with `patchpack add FILE`",
        )
    paths = repo.paths_between(head_tree, worktree)
    for path in paths:
        _check_path(repo, head_tree, path)
    patches = queue.with_tokens(
        repo, split.cut(repo, head, worktree, title=title, author=None, limits=limits), tokenizer
    )
    op = Op(
        "split",
        f"{len(patches)} from the work tree",
        head_before=head,
        index_tree=index_tree,
        worktree_tree=worktree,
    )
    state = queue.append(repo, patches, op)
    # The changes are safe in the queue now (`undo` puts them back); a kill from here on
    # leaves a split the next one finishes (changes.finish_split).
    changes.take_back(repo, state, head_tree, paths)
    return Added(state, tuple(patches))


# -- fitting a diff to a tree --------------------------------------------------------------------


def _label(source: str, n: int, changes: list[_Change]) -> str:
    return f"{source} patch {n}/{len(changes)}" if len(changes) > 1 else source


def _first_fit(repo: Repo, patcher: Patcher, head: Oid, diff: str, label: str) -> tuple[Oid, Oid]:
    """What a new diff was made against and the tree it makes: HEAD, or else the end of the
    queued series (a diff written on top of patches still in the queue)."""
    try:
        return head, _fit(repo, patcher, repo.tree_of(head), diff, label)
    except DiffRefused as refused:
        queued = queue.load(repo).queued()
        if not queued:
            raise
        try:
            tip = queued[-1].commit
            return tip, _fit(repo, patcher, repo.tree_of(tip), diff, label)
        except DiffRefused:
            raise refused from None


class DiffRefused(Failed):
    """A diff does not apply to the tree it targets."""


def _fit(repo: Repo, patcher: Patcher, tree: Oid, diff: str, label: str) -> Oid:
    """The tree ``diff`` makes of ``tree``, after the safety checks on every path it names."""
    text = _gitify(diff, lambda path: repo.entry(tree, path) is not None)
    data = encode(text)
    fitted = _fit_in_process(repo, tree, data)
    if fitted is not None:
        return fitted
    for pf in diffs.parse(text):
        for name in (pf.source_file, pf.target_file):
            if name and name != "/dev/null":
                _check_path(repo, tree, unquote(name)[2:])
    try:
        return patcher.apply(tree, data)
    except DoesNotFit as e:
        if "invalid path" in e.message or "beyond a symbolic link" in e.message:
            raise BadInput(f"{label}: unsafe path: {e.message}") from None
        if "corrupt patch" in e.message or "No valid patches" in e.message:
            raise BadInput(
                f"{label} is a malformed diff: {e.message}",
                hint="regenerate the diff with `git diff`, then add it again",
            ) from None
        raise DiffRefused(
            f"{label} does not apply to the tree it targets:\n{e.message}{_failed_hunk(text, e.message)}",
            hint="regenerate the diff against HEAD (`git diff`), then add it again",
        ) from None


def _fit_in_process(repo: Repo, tree: Oid, diff: bytes) -> Oid | None:
    """The tree ``diff`` makes of ``tree``, applied in process where that is sure to give what
    `git apply --cached` gives (see hunks.py); None to leave it to git, which also words
    every refusal."""
    if repo.config_get("apply.ignoreWhitespace") not in (None, "false", "no", "off", "0"):
        return None  # git would match lines loosely
    files = hunks.parse(diff)
    if files is None:
        return None
    for f in files:
        _check_path(repo, tree, f.path)
    contents: dict[str, tuple[bytes, int] | None] = {}
    for f in files:
        found = repo.entry(tree, f.path)
        if f.status == "added":
            if found is not None or _blocked(repo, tree, f.path):
                return None
            old, mode = b"", f.mode
        elif found is None or found[1] not in hunks.REGULAR_MODES or f.mode not in (None, found[1]):
            return None  # no regular file there, or not of the mode the diff says
        else:
            old, mode = repo.read_blob(found[0]), found[1]
        new = hunks.apply(old, f.hunks)
        if new is None or (f.status == "deleted" and new):
            return None
        assert mode is not None
        contents[f.path] = None if f.status == "deleted" else (new, mode)
    # Blobs are written once every file has applied.
    changes: dict[str, tuple[Oid, int] | None] = {
        path: None if value is None else (repo.write_blob(value[0]), value[1])
        for path, value in contents.items()
    }
    return repo.tree_with(tree, changes)


def _blocked(repo: Repo, tree: Oid, path: str) -> bool:
    """Whether a directory of ``path`` is something other than a directory in ``tree``."""
    parts = path.split("/")
    for k in range(1, len(parts)):
        found = repo.entry(tree, "/".join(parts[:k]))
        if found is None:
            return False
        if found[1] != TREE_MODE:
            return True
    return False


def _failed_hunk(text: str, message: str) -> str:
    m = re.search(r"patch failed: (.+):(\d+)", message)
    if not m:
        return ""
    for pf in diffs.parse(text):
        if unquote(pf.target_file)[2:] == m[1] or unquote(pf.source_file)[2:] == m[1]:
            for hunk in pf:
                if hunk.source_start == int(m[2]):
                    return f"\nthe hunk that failed:\n{str(hunk).rstrip()}"
    return ""


def _gitify(diff: str, exists: Callable[[str], bool]) -> str:
    """A git-style diff (`a/` and `b/` prefixes) of a git diff, a `diff -u` or a `diff -ru`;
    ``exists`` tells which of two names is the file the change is to (as patch(1) does)."""
    if re.search(r"^diff --git ", diff, re.MULTILINE):
        return diff
    out = []
    for pf in diffs.parse(diff):
        old, new = _plain_name(pf.source_file), _plain_name(pf.target_file)
        if old and new and "/" in old and "/" in new and old.split("/")[0] != new.split("/")[0]:
            old, new = old.split("/", 1)[1], new.split("/", 1)[1]  # diff -ru old/ new/
        elif old and new and old != new:
            old = new = old if exists(old) else new  # diff -u file file.new
        path = new or old
        assert path is not None  # a file diff names one side at least
        out.append(f"diff --git a/{path} b/{path}\n")
        if old is None:
            out.append("new file mode 100644\n")
        if new is None:
            out.append("deleted file mode 100644\n")
        out.append(f"--- {'a/' + path if old else '/dev/null'}\n")
        out.append(f"+++ {'b/' + path if new else '/dev/null'}\n")
        out.extend(str(hunk) for hunk in pf)
    return "".join(out)


def _plain_name(name: str) -> str | None:
    name = unquote(name.strip())
    if name == "/dev/null":
        return None
    return name[2:] if name.startswith(("a/", "b/")) else name


def _check_path(repo: Repo, tree: Oid, path: str) -> None:
    """BadInput (exit 2) for a path that would write outside the repository, into ``.git``,
    through a symbolic link, or that git refuses."""
    why = None
    parts = path.split("/")
    if not path or "\0" in path:
        why = "an empty path or a NUL byte"
    elif path.startswith("/"):
        why = "an absolute path"
    elif any(p in ("", ".", "..") for p in parts):
        why = "a path that climbs out of the repository or has empty components"
    elif any(p.lower().rstrip(". ") == ".git" for p in parts):
        why = "a path into .git"
    else:
        for k in range(1, len(parts)):
            found = repo.entry(tree, "/".join(parts[:k]))
            if found and found[1] == 0o120000:
                why = f"a path through the symbolic link {'/'.join(parts[:k])}"
                break
    if why:
        raise BadInput(
            f"unsafe path {path!r}: {why}; nothing was queued",
            hint="fix the paths in the diff and add it again",
        )
