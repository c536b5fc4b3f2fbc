"""The token ledger: spend entries in git notes (``refs/notes/patchpack``), one per line.

An entry is recorded into the *pending spool* of the current worktree
(``<git dir>/patchpack/pending.jsonl``) the moment tokens are spent, and moves into the note of
the next commit when it is *attached* (post-commit hook, `patchpack apply`,
`patchpack ledger attach`). Each line is a self-contained JSON object with a unique id, so
``git notes merge -s cat_sort_uniq`` and ``notes.rewriteMode=concatenate`` combine ledgers
without losing or gluing entries, and readers count an id once wherever it appears.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from patchpack.errors import BadInput, Failed
from patchpack.git import FULL_OID, Oid, decode, encode
from patchpack.git.files import write_atomically

# So are reading the whole ledger and its cache.
from patchpack.ledger.cache import Ledger, Totals, cache_written, no_gc, read, totals_of  # noqa: F401

# Entry, Skipped, new_entry, parse_line, parse_note and timestamp are the ledger's API too.
from patchpack.ledger.entries import Entry, Reasoned, Skipped, new_entry, parse_line, parse_note, timestamp  # noqa: F401
from patchpack.limits.hooks import NOTES_REF

_CAS_ATTEMPTS = 50

TYPE_CHECKING = False
if TYPE_CHECKING:  # the door: the quick path reads through git/plain (#16)
    from patchpack.git import Repo
    from patchpack.git.plain import Plain


# -- the pending spool ------------------------------------------------------------------------


SPOOL = "pending.jsonl"
BOUND = "bound.jsonl"
"""Entries that already know their commit (``<commit> <entry>`` a line), waiting for the next
attach: `apply --all` writes a whole series' notes in one notes commit at the end, and an
interrupted series loses none of them."""


def _spool_dir(repo: Repo | Plain) -> Path:
    return repo.git_dir / "patchpack"


@contextlib.contextmanager
def _locked(repo: Repo | Plain) -> Iterator[Path]:
    """Hold the spool's lock (one worktree's recorders and attachers take turns)."""
    where = _spool_dir(repo)
    where.mkdir(parents=True, exist_ok=True)
    with open(where / "pending.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _recover(repo, where)
            yield where / SPOOL
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def add_pending(
    repo: Repo,
    *,
    kind: str,
    tokens_in: int = 0,
    tokens_out: int = 0,
    counter: str,
    now: datetime | None = None,
    model: str | None = None,
    agent: str | None = None,
    session: str | None = None,
    requests: int = 0,
    saved: int = 0,
    estimated: bool = False,
    reason: str | None = None,
) -> Entry:
    """Record a spend in the pending spool; it joins the note of the next attached commit.
    A ``reason`` (why a choice was made) is kept on the entry's line."""
    entry = new_entry(
        kind=kind,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        counter=counter,
        now=now,
        model=model,
        agent=agent,
        session=session,
        requests=requests,
        saved=saved,
        estimated=estimated,
    )
    if reason:
        # Short, and UTF-8 (a config value may hold bytes that are not): a line a reader
        # would skip must not be written.
        entry = Reasoned.of(entry, reason[:1000].encode("utf-8", "replace").decode("utf-8"))
    with _locked(repo) as spool, open(spool, "a", encoding="utf-8") as f:
        f.write(entry.to_json() + "\n")
    return entry


def add_new(repo: Repo, entries: Sequence[Entry]) -> list[Entry]:
    """Record those of ``entries`` whose id the ledger does not hold yet: not in a note, the
    spool or the entries bound to commits. A capture run twice adds nothing the second time
    (its ids derive from the provider's, #17). Under the spool's lock, so two hooks that
    capture the same response at once write it once."""
    with _locked(repo) as spool:
        have = set(read(repo).columns[0])
        with contextlib.suppress(FileNotFoundError):
            have.update(e.id for e in parse_note(_text(spool), "pending")[0])
        have.update(e.id for bound in _bound(spool)[0].values() for e in bound)
        new = []
        for entry in entries:
            if entry.id not in have:
                have.add(entry.id)
                new.append(entry)
        if new:
            with open(spool, "a", encoding="utf-8") as f:
                f.writelines(e.to_json() + "\n" for e in new)
    return new


def bind(repo: Repo, commit: Oid, entries: Sequence[Entry]) -> None:
    """Keep ``entries`` for the note of ``commit``; the next attach (of any commit) puts them
    there."""
    with _locked(repo) as spool, open(spool.with_name(BOUND), "a", encoding="utf-8") as f:
        f.writelines(f"{commit} {e.to_json()}\n" for e in entries)


def unbind(repo: Repo, commits: Collection[Oid]) -> None:
    """Forget what :func:`bind` kept for ``commits``: they were made, then taken back."""
    if not commits:
        return
    with _locked(repo) as spool:
        kept = spool.with_name(BOUND)
        try:
            lines = _text(kept).split("\n")
        except FileNotFoundError:
            return
        write_atomically(
            kept,
            encode("".join(line + "\n" for line in lines if line and line.partition(" ")[0] not in commits)),
        )


def _bound(spool: Path) -> tuple[dict[Oid, list[Entry]], list[str]]:
    """The entries kept by :func:`bind`, by commit, and the lines that hold none."""
    try:
        text = _text(spool.with_name(BOUND))
    except FileNotFoundError:
        return {}, []
    out: dict[Oid, list[Entry]] = {}
    bad = []
    for line in text.split("\n"):
        commit, _, rest = line.partition(" ")
        try:
            if not FULL_OID.match(commit):
                raise ValueError("no commit")
            out.setdefault(Oid(commit), []).append(parse_line(rest))
        except ValueError:
            if line.strip():
                bad.append(line)
    return out, bad


def _text(spool: Path) -> str:
    # Not `read_text`: text mode reads a "\r" as a line end, and `splitlines` cuts at
    # U+2028 too, which an entry may hold raw. Spool lines end at "\n" only, as notes'.
    return spool.read_bytes().decode("utf-8", "replace")


def in_use(repo: Repo) -> bool:
    """Whether this repository keeps a ledger: it has notes, or spend waiting for a commit."""
    return (_spool_dir(repo) / SPOOL).exists() or repo.has_ref(NOTES_REF)


def pending(repo: Repo | Plain) -> tuple[list[Entry], list[Skipped]]:
    """The entries waiting in this worktree's spool for a commit."""
    with _locked(repo) as spool:  # never half a line that a recorder is writing
        try:
            text = _text(spool)
        except FileNotFoundError:
            return [], []
    return parse_note(text, "pending")


def attach_pending(repo: Repo, oid: Oid, *, also: Mapping[Oid, Sequence[Entry]] | None = None) -> list[Entry]:
    """Move every pending entry into the note of commit ``oid`` (appended to its note), and
    the entries of ``also`` into the notes of their commits, in one move of the notes ref
    (`apply --all` attaches a whole series at once).

    Safe against concurrent recorders (the spool lock) and concurrent note writers in other
    worktrees (a compare-and-swap on the notes ref): no entry is lost or written twice.
    """
    with _locked(repo) as spool:
        try:
            text = _text(spool)
        except FileNotFoundError:
            text = ""
        entries, skipped = parse_note(text, "pending")
        bound, bad = _bound(spool)
        notes: dict[Oid, list[Entry]] = {oid: list(entries)}
        for other, more in itertools.chain(bound.items(), (also or {}).items()):
            notes.setdefault(other, []).extend(more)
        if any(notes.values()):
            _append(repo, notes, inflight=spool.with_name("attaching"))
        if skipped or bad:
            # Keep what could not be read where a person can look at it, out of the way.
            lines = text.split("\n")  # as `parse_note` numbered them
            with open(spool.with_name("pending.rejected"), "a", encoding="utf-8") as f:
                f.writelines(lines[s.line - 1] + "\n" for s in skipped)
                f.writelines(line + "\n" for line in bad)
        # Only now that the ref has moved: an interrupted attach leaves the spools whole.
        _empty(spool.parent)
        spool.with_name("attaching").unlink(missing_ok=True)
    return entries


def _empty(where: Path) -> None:
    for name in (SPOOL, BOUND):
        if (where / name).exists():
            (where / name).write_bytes(b"")


def attach_from(repo: Repo, old: Oid, new: Oid) -> list[Entry]:
    """Copy the entries of ``old``'s note into ``new``'s note (a rewrite git did not follow)."""
    text = repo.note_text(repo.read_ref(NOTES_REF), old)
    if text is None:
        raise Failed(
            f"commit {old[:12]} has no ledger note", hint="check with `git log --notes=patchpack -1 OLD`"
        )
    entries, _ = parse_note(decode(text), old)
    return _append(repo, {new: entries}, inflight=None)


def _append(repo: Repo, notes: Mapping[Oid, Sequence[Entry]], *, inflight: Path | None) -> list[Entry]:
    """Append each commit's entries (those not already there) to its note; move the ref once."""
    for _ in range(_CAS_ATTEMPTS):
        parent = repo.read_ref(NOTES_REF)
        texts: dict[Oid, bytes] = {}
        added: list[Entry] = []
        for oid, entries in notes.items():
            existing = repo.note_text(parent, oid) or b""
            have = {e.id for e in parse_note(decode(existing), oid)[0]}
            new = [e for e in entries if e.id not in have]
            if new:
                text = existing.rstrip(b"\n") + b"\n" if existing.strip() else b""
                texts[oid] = text + encode("".join(e.to_json() + "\n" for e in new))
                added += new
        if not texts:
            return []
        where = f"{next(iter(texts))[:12]}" if len(texts) == 1 else f"{len(texts)} commits"
        commit = repo.write_notes(
            parent,
            texts,
            message=f"patchpack: {len(added)} entr{'y' if len(added) == 1 else 'ies'} on {where}\n",
        )
        if inflight is not None:
            inflight.write_text(commit)
        if repo.update_ref(NOTES_REF, commit, parent, message="patchpack ledger attach"):
            return added
    raise Failed(
        f"{NOTES_REF} kept moving under {_CAS_ATTEMPTS} attempts to write it",
        hint="run `patchpack ledger attach` again",
    )


def _recover(repo: Repo | Plain, where: Path) -> None:
    # An attach that stopped after moving the ref but before emptying the spool left
    # `attaching`: if its notes commit made it into the ref, those entries are in, so the
    # spool is spent; otherwise the ref never moved and the spool still counts.
    marker = where / "attaching"
    try:
        commit = Oid(marker.read_text().strip())
    except FileNotFoundError:
        return
    current = repo.read_ref(NOTES_REF)
    if commit and current is not None and repo.is_ancestor(commit, current):
        _empty(where)
    marker.unlink()


# -- sharing through a remote -----------------------------------------------------------------


class Synced(NamedTuple):
    remote: str
    merged: bool  # the remote had entries we did not
    pushed: bool  # we had entries the remote did not


def tracking_ref(remote: str) -> str:
    return f"refs/notes/remotes/{remote}/patchpack"


def sync(repo: Repo, remote: str | None = None, *, configure: bool = False, attempts: int = 5) -> Synced:
    """Fetch ``remote``'s ledger, merge it into ours (cat_sort_uniq), push the union.

    Never forces: when the remote moves between our fetch and our push, fetch and merge
    again. ``configure`` adds a fetch refspec so plain `git fetch` brings the ledger too.
    """
    remote = remote or repo.default_remote()
    tracking = tracking_ref(remote)
    if configure:
        refspec = f"+{NOTES_REF}:{tracking}"
        if refspec not in repo.config_get_all(f"remote.{remote}.fetch"):
            repo.config_add(f"remote.{remote}.fetch", refspec)
    merged = False
    for _ in range(attempts):
        theirs = repo.remote_ref(remote, NOTES_REF)
        if theirs is not None:
            repo.fetch_ref(remote, NOTES_REF, tracking)
        ours = repo.read_ref(NOTES_REF)
        union = ours
        if theirs is not None and (ours is None or not repo.is_ancestor(theirs, ours)):
            union = repo.notes_merge(ours, tracking)
            if union is None or not repo.update_ref(
                NOTES_REF, union, ours, message=f"patchpack sync {remote}"
            ):
                continue  # a local attach moved our ref meanwhile: merge again
            merged = True
            # A merge touches most fan-out directories: refresh the cache now, so the next
            # `budget` or `status` does not pay for a cold read (sync waits on the network
            # anyway). Only a cache: a ledger git cannot read fails there, not here.
            with contextlib.suppress(BadInput, OSError):
                read(repo)
        if union is None or union == theirs:
            return Synced(remote, merged, pushed=False)
        if repo.push_ref(remote, NOTES_REF):
            return Synced(remote, merged, pushed=True)
    raise Failed(
        f"the ledger on {remote} kept moving under {attempts} attempts to sync",
        hint="run `patchpack sync` again",
    )
