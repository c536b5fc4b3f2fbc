"""The whole ledger, read from the notes tree and cached: what `patchpack budget` sums.

One `git grep` lists every line of every note (#6); lines in patchpack's own form are parsed a
chunk at a time into columns (a list per field of `Entry`), anything else through JSON. What
each top-level entry of the notes tree holds is cached by its object id, with its totals per
(day, kind, model, agent, counter), and brought up to date by the notes that changed.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import gc
import io
import itertools
import marshal
import operator
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, cast

from patchpack.git import FULL_OID, Oid, decode
from patchpack.git.files import write_atomically
from patchpack.ledger.entries import (
    CANONICAL_LINE,
    CANONICAL_LINE_UNESCAPED,
    Entry,
    Skipped,
    canonical_columns,
    parse_line,
    parse_note,
)
from patchpack.limits.hooks import NOTES_REF

TYPE_CHECKING = False
if TYPE_CHECKING:  # the door: the quick path reads through git/plain (#16)
    from patchpack.git import Repo
    from patchpack.git.plain import Plain

_OID_LENGTHS = {40, 64}
_FIELDS = len(Entry._fields)
Columns = list[list[Any]]
"""Entries field by field, in `Entry`'s order: ``columns[i][j]`` is field i of entry j. What
`budget` sums, with C loops over whole columns and no object per entry."""


class Ledger(NamedTuple):
    """Every entry in the notes, column by column, the commit each is on, and the lines
    skipped."""

    notes: int  # notes holding an entry or a line that is not one (not an empty note)
    commits: list[Oid]  # entry j is on commits[j]
    columns: Columns
    skipped: list[Skipped]
    totals: Totals  # of every entry, copies of an id included

    @property
    def entries(self) -> list[tuple[Oid, Entry]]:
        """Each entry as an `Entry`, with the commit it is on."""
        return list(zip(self.commits, map(_ENTRY, zip(*self.columns))))


Totals = dict[tuple[str, str, str | None, str | None, str], list[int]]
"""[entries, tokens in, tokens out, requests] per (day, kind, model, agent, counter): what
`budget` shows most often, summed while git reads on and cached, so that it need not go
through 100,000 entries again."""

# `Entry._make` without its Python frame: the rows have the right length.
_ENTRY = functools.partial(tuple.__new__, Entry)
_DAY = operator.itemgetter(slice(0, 10))  # of a timestamp
# 11: cache_read, cache_write (#17); 10: counts bounded (issue 15); 9: totals; columns; the
# notes commit, tops
_CACHE_VERSION = 11
# Past this many top-level entries to read, read the whole tree and drop what is cached:
# naming each to git costs more (a notes tree fans out into 256 directories, but a tool
# other than git may write 100,000 notes side by side).
_ALL_AT = 4096
# Past this many notes changed since the cached notes commit, read the directories whole.
_REFRESH_AT = 10_000


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cycle collector while a whole ledger's objects are made.

    They hold no cycles, yet every 700 new containers set off a collection that walks all
    the earlier ones. On the way out they go straight to the oldest generation
    (`gc.freeze`, then `gc.unfreeze`), or the first collection after would walk them all
    once more.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def read(repo: Repo | Plain) -> Ledger:
    """The whole ledger, read from the notes tree directly (`repo.notes()` is ~100x slower).

    What each top-level entry of the tree holds is cached by its object id in the common git
    dir. The cache names content, not the ref: however the ref moves (attach, sync, a plain
    `git fetch`, `git notes` by hand, another worktree), the directories that changed have
    new ids, and only the notes that changed in them since the cached notes commit are read
    again (the whole directories when that commit is gone).
    """
    with no_gc():
        return _read(repo)


def _read(repo: Repo | Plain) -> Ledger:
    found = repo.notes_top(NOTES_REF)
    if found is None:
        return Ledger(0, [], _no_columns(), [], {})
    head, tops = found
    cache_path = repo.common_dir / "patchpack" / "ledger-cache"
    base, stored = _load_cache(cache_path)
    fresh = {top.key: stored.get(top.key) for top in tops}
    missing = {top.name: top.key for top in tops if fresh[top.key] is None}
    read: dict[str, Any] = {}
    if missing and base is not None:
        read = _refresh(repo, base, head, missing, stored)
    dumped = {}
    unread = {name: key for name, key in missing.items() if key not in read}
    if unread:
        # All of them: the whole tree (no pathspec to match) is quicker for git.
        chunks = repo.note_lines(
            head, None if len(unread) == len(tops) or len(unread) > _ALL_AT else list(unread)
        )
        for key, value in _read_tops(chunks, head, unread):
            read[key] = value
            dumped[key] = marshal.dumps(value)  # while git reads on
    commits: list[Oid] = []
    columns = _no_columns()
    skipped: list[Skipped] = []
    totals: Totals = {}
    notes = 0
    for key, raw in fresh.items():
        count, more, fields, bad, sums = read[key] if raw is None else marshal.loads(raw)
        notes += count
        commits += more
        for column, values in zip(columns, fields):
            column += values
        skipped.extend(map(Skipped._make, bad))
        _add_totals(totals, sums, 1)
    if base != head or fresh.keys() != stored.keys():
        _save_cache(
            cache_path,
            head,
            {
                key: raw if raw is not None else dumped.get(key) or marshal.dumps(read[key])
                for key, raw in fresh.items()
            },
        )
    return Ledger(notes, commits, columns, skipped, totals)


def _no_columns() -> Columns:
    return [[] for _ in range(_FIELDS)]


def _refresh(
    repo: Repo | Plain,
    base: Oid,
    head: Oid,
    missing: dict[str, str],
    stored: Mapping[str, bytes | memoryview],
) -> dict[str, Any]:
    """Those of the top-level entries ``missing`` (name: cache key) of ``head`` that the
    cache holds at ``base``, brought up to date by reading only the notes that changed
    since; none when too many changed (reading them whole is then as cheap) or ``base`` is
    gone. An entry new since ``base`` is left to be read whole: it holds only new notes."""
    before = {key.rpartition(" ")[0]: raw for key, raw in stored.items()}  # name: its last
    patched = {name: key for name, key in missing.items() if name in before}
    changed = repo.changed_files(base, head, limit=_REFRESH_AT) if patched else None
    if changed is None:
        return {}
    changed = [
        (path, blob)
        for path, blob in changed
        if path.partition("/")[0] in patched and FULL_OID.match(path.replace("/", ""))
    ]
    gone: dict[str, list[Oid]] = {}  # the notes that changed or went, by top-level entry
    for path, _ in changed:
        gone.setdefault(path.partition("/")[0], []).append(Oid(path.replace("/", "")))
    now = [(path, blob) for path, blob in changed if blob is not None]
    new: dict[str, list[tuple[Oid, list[Entry]]]] = {}
    skips: dict[str, list[tuple[Any, ...]]] = {}
    for (path, _), text in zip(now, repo.blobs([blob for _, blob in now])):
        oid = Oid(path.replace("/", ""))
        good, bad = parse_note(decode(text), oid)
        new.setdefault(path.partition("/")[0], []).append((oid, good))
        skips.setdefault(path.partition("/")[0], []).extend(map(tuple, bad))
    out = {}
    for name, key in patched.items():
        # The cache holds a directory in commit order: take out the entries of the notes
        # that changed, put in those they hold now, each where its commit sorts.
        _, commits, columns, bad, sums = marshal.loads(before[name])
        for oid in gone.get(name, ()):
            start, stop = bisect.bisect_left(commits, oid), bisect.bisect_right(commits, oid)
            if start < stop:
                _add_totals(sums, totals_of([column[start:stop] for column in columns]), -1)
                del commits[start:stop]
                for column in columns:
                    del column[start:stop]
        for oid, entries in new.get(name, ()):
            if entries:
                at = bisect.bisect_right(commits, oid)
                added = [list(values) for values in zip(*entries)]
                _add_totals(sums, totals_of(added), 1)
                commits[at:at] = [oid] * len(entries)
                for column, values in zip(columns, added):
                    column[at:at] = values
        stale = set(gone.get(name, ()))
        out[key] = _filed(commits, columns, [b for b in bad if b[0] not in stale] + skips.get(name, []), sums)
    return out


def _pick(columns: Columns, rows: Sequence[int]) -> Columns:
    return [list(map(column.__getitem__, rows)) for column in columns]


def _add_totals(totals: Totals, more: Totals, sign: int) -> None:
    """Add (``sign`` 1) or take away (-1) ``more`` to ``totals``; a group left with no entry
    goes."""
    for group, counts in more.items():
        if not add_counts(totals, group, counts, sign)[0]:
            del totals[group]


def add_counts(sums: dict[Any, list[int]], key: Any, counts: Sequence[int], sign: int = 1) -> list[int]:
    """Add (or with ``sign`` -1 take away) ``counts`` to ``sums[key]``, a new list when there
    is none (never one of ``counts``' own); the sums of that key."""
    acc = sums.get(key)
    if acc is None:
        acc = sums[key] = [sign * n for n in counts]
    else:
        for i, n in enumerate(counts):
            acc[i] += sign * n
    return acc


def _held() -> tuple[list[Oid], Columns, list[tuple[Any, ...]]]:
    return [], _no_columns(), []


def _filed(
    commits: list[Oid], columns: Columns, bad: list[tuple[Any, ...]], sums: Totals | None = None
) -> tuple[Any, ...]:
    """What the cache holds for one top-level entry: (notes, commits, columns, skipped,
    totals), in commit order whichever way it was read (the first copy of an id wins in
    `budget`). ``sums``: the totals of ``columns``, when known."""
    if not all(map(operator.le, commits, itertools.islice(commits, 1, None))):
        order = sorted(range(len(commits)), key=commits.__getitem__)  # stable: line order
        commits, columns = _pick([commits], order)[0], _pick(columns, order)
    bad.sort(key=operator.itemgetter(0))
    notes = len(set(commits).union(map(operator.itemgetter(0), bad)))
    return notes, commits, columns, bad, totals_of(columns) if sums is None else sums


def totals_of(columns: Columns) -> Totals:
    """The `Totals` of the entries of ``columns``."""
    sums: Totals = {}
    _, ts, kinds, t_in, t_out, counters, models, agents, _, requests = columns[:10]
    for group, n_in, n_out, n_requests in zip(
        zip(map(_DAY, ts), kinds, models, agents, counters), t_in, t_out, requests
    ):
        acc = sums.get(group)
        if acc is None:
            sums[group] = [1, n_in, n_out, n_requests]
        else:
            acc[0] += 1
            acc[1] += n_in
            acc[2] += n_out
            acc[3] += n_requests
    return sums


def _read_tops(
    chunks: Iterable[str], head: Oid, missing: dict[str, str]
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """What the top-level entries ``missing`` (name: cache key, in the tree's order) hold,
    each as (cache key, (notes, commits, columns, skipped)): commit i holds the entry whose
    fields are row i of the columns. ``chunks`` are `Repo.note_lines` of ``head``, or part
    of them. Each comes as soon as git has moved past it."""
    held = {name: _held() for name in missing}
    known: dict[str, Any] = {}
    # A line of `note_lines` that holds an entry in patchpack's own form: the usual case.
    line = f"{head}:([0-9a-f]+)((?:/[0-9a-f]+)*)\0[0-9]+\0"
    record = re.compile(f"^{line}{CANONICAL_LINE_UNESCAPED}\n", re.MULTILINE)
    one = re.compile(line + CANONICAL_LINE)
    names, done, prefix = list(missing), 0, f"{head}:"
    place = {name: i for i, name in enumerate(names)}
    mixed = False  # seen a line in another form: a ledger that has one tends to have more
    for chunk in chunks:
        if not mixed:
            found = record.findall(chunk) if "\\" not in chunk else []
            mixed = len(found) != chunk.count("\n") or not _in_bulk(found, held, known)
        if mixed:
            _one_by_one(chunk.split("\n")[:-1], head, held, known, one)
        # git lists the tree in order: the entries before the last line's are complete.
        last = chunk.rfind("\n", 0, -1) + 1
        end = chunk.find("\0", last)
        if chunk.startswith(prefix, last) and end > 0:
            path = chunk[last + len(prefix) : end]
            at = place.get(path.partition("/")[0], done)
            for name in names[done:at]:
                yield missing[name], _filed(*held.pop(name))
            done = max(done, at)
    for name in names[done:]:
        yield missing[name], _filed(*held.pop(name))


def _in_bulk(found: list[tuple[str, ...]], held: dict[str, Any], known: dict[str, Any]) -> bool:
    """File lines that all hold an entry in patchpack's form (a cold `budget` reads 100,000):
    column by column, with no Python code run per line. False, and nothing filed, when a
    path is not a note's."""
    columns = _columns(found, known)
    if columns is None:
        return False
    tops, commits, fields = columns
    start = 0
    for top, run in itertools.groupby(tops):  # git lists a directory at once
        stop = start + len(list(run))
        if top in held:  # else the cache holds it
            kept_commits, kept, _ = held[top]
            kept_commits += commits[start:stop]
            for column, values in zip(kept, fields):
                column += values[start:stop]
        start = stop
    return True


def _columns(
    found: list[tuple[str, ...]], known: dict[str, Any]
) -> tuple[tuple[str, ...], list[Oid], Columns] | None:
    """The top-level entry, commit and entry fields of the lines that `_read_tops`'s pattern
    found; None when a path is not a note's."""
    tops, rests, *fields = zip(*found)
    slash, nothing = itertools.repeat("/"), itertools.repeat("")
    commits = list(map(str.__add__, tops, map(str.replace, rests, slash, nothing)))
    if not set(map(len, commits)) <= _OID_LENGTHS:
        return None
    try:
        return tops, cast("list[Oid]", commits), canonical_columns(fields, known)
    except ValueError:  # a line `record` let through that `one` would not
        return None


def _one_by_one(
    lines: list[str], head: Oid, held: dict[str, Any], known: dict[str, Any], one: re.Pattern[str]
) -> None:
    # Lines in patchpack's form mixed with others (another tool's note, a foreign key order,
    # a corrupt line, a file that is not a note): the first still column by column, then all
    # filed in line order. A few such lines must not make a cold read 5x slower.
    matches = list(map(one.fullmatch, lines))
    found = [match.groups("") for match in matches if match is not None]
    columns = _columns(found, known) if found else None
    bulk = iter(zip(columns[0], columns[1], zip(*columns[2]))) if columns is not None else None
    prefix = f"{head}:"
    for line, match in zip(lines, matches):
        if match is not None and bulk is not None:
            top, oid, row = next(bulk)
            if top in held:
                _add(held[top], oid, row)
            continue
        if not line.startswith(prefix):
            continue  # git cut a path with a newline in it in two: not a note's path
        path, _, rest = line[len(prefix) :].partition("\0")
        number, _, text = rest.partition("\0")
        oid = Oid(path.replace("/", ""))
        top = path.partition("/")[0]
        if (
            top not in held or not number.isdigit() or not FULL_OID.match(oid) or not text.strip()
        ):  # blank lines (from concatenation) are fine
            continue
        try:
            entry = parse_line(text)
        except ValueError as e:
            held[top][2].append((oid, int(number), str(e)))
            continue
        _add(held[top], oid, entry)


def _add(held: tuple[list[Oid], Columns, list[tuple[Any, ...]]], oid: Oid, row: Sequence[Any]) -> None:
    held[0].append(oid)
    for column, value in zip(held[1], row):
        column.append(value)


def _load_cache(path: Path) -> tuple[Oid | None, dict[str, memoryview]]:
    """The notes commit the cache was saved for, and what it holds per top-level entry
    (each still in marshal's form: only what is used is decoded, what is kept is written
    back as it is)."""
    cache_written()
    try:
        data = path.read_bytes()
        f = io.BytesIO(data)
        version, head, keys, sizes = marshal.load(f)
    except (OSError, ValueError, EOFError, TypeError):
        return None, {}
    view, start = memoryview(data), f.tell()
    if version != _CACHE_VERSION or start + sum(sizes) != len(data):
        return None, {}
    stored = {}
    for key, size in zip(keys, sizes):
        stored[key] = view[start : start + size]
        start += size
    return head, stored


def _save_cache(path: Path, head: Oid, stored: Mapping[str, bytes | memoryview]) -> None:
    """Write the cache in a thread, while `budget` sums and prints (the process waits for
    it before it exits; `_load_cache` waits for it too)."""
    global _writer
    sizes = [len(raw) for raw in stored.values()]
    parts = [marshal.dumps((_CACHE_VERSION, head, list(stored), sizes)), *stored.values()]

    def write() -> None:
        # A cache is only ever a copy: failing to write it must not fail the command.
        with contextlib.suppress(OSError):
            write_atomically(path, parts)  # part by part: no copy of the whole under the GIL

    cache_written()
    _writer = threading.Thread(target=write, name="patchpack ledger cache")
    _writer.start()


_writer: threading.Thread | None = None


def cache_written() -> None:
    """Wait until the ledger cache being written (if any) is written."""
    if _writer is not None:
        _writer.join()
