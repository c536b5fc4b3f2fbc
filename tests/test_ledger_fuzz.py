"""Fuzzing the ledger's readers: arbitrary bytes among valid entries, in a note or in the
spool. Every command exits 0, every entry is counted, every other line is reported (issue 15)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ledger_hostile import HOSTILE, TS, set_note

from patchpack.cli import cli as cli_group
from patchpack.ledger.entries import Entry

from conftest import git, write

names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)
valid = st.builds(
    Entry,
    id=st.text("0123456789abcdef", min_size=1, max_size=12),
    ts=st.sampled_from([TS, "2026-11-23T23:59:59Z"]),
    kind=st.sampled_from(["request", "run"]),
    tokens_in=st.integers(0, 10**15 - 1),
    tokens_out=st.integers(0, 10**15 - 1),
    counter=names,
    model=st.none() | names,
    agent=st.none() | names,
    session=st.none() | names,
    requests=st.integers(0, 10**15 - 1),
    saved=st.integers(0, 10**15 - 1),
    estimated=st.booleans(),
    cache_read=st.integers(0, 10**15 - 1),
    cache_write=st.integers(0, 10**15 - 1),
)


def _not_an_entry(chunk: bytes) -> bool:
    # The oracle is the standard library's JSON, not patchpack's parser: a chunk of garbage
    # must hold no line that could be an entry, so that every entry counted is one we made.
    for line in chunk.split(b"\n"):
        try:
            raw = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(raw, dict) and "id" in raw:
            return False
    return True


# The hostile lines are not entries by construction (JSON reads some of them as objects).
garbage = (
    st.binary(max_size=80) | st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass"))
).filter(_not_an_entry) | st.sampled_from([h.encode() for h in HOSTILE.values()])
ledger_text = st.lists(st.tuples(st.booleans(), valid, garbage), max_size=6, unique_by=lambda t: t[1].id)


def _compose(items: list[tuple[bool, Entry, bytes]]) -> tuple[bytes, list[Entry], list[bytes]]:
    """Note (or spool) bytes mixing entries and garbage; the entries and the garbage lines."""
    out, kept, bad = [], [], []
    for is_entry, entry, junk in items:
        if is_entry:
            out.append(entry.to_json().encode())
            kept.append(entry)
        else:
            out.append(junk)
            bad += [line for line in junk.split(b"\n") if line.decode("utf-8", "surrogateescape").strip()]
    return b"\n".join(out) + b"\n", kept, bad


def _run(*args: str) -> Result:
    # catch_exceptions=False: a crash (what `main` turns into exit 3) fails the test.
    return CliRunner().invoke(cli_group, list(args), catch_exceptions=False)


def _note_ids(repo: Path) -> set[str]:
    ids = set()
    note = subprocess.run(
        ["git", "notes", "--ref=patchpack", "show", "HEAD"], cwd=repo, capture_output=True, check=False
    ).stdout  # none: no entry attached
    for line in note.split(b"\n"):
        try:
            raw = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            ids.add(raw["id"])
    return ids


_FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@_FUZZ
@given(items=ledger_text)
def test_any_bytes_in_a_note_are_skipped_and_no_entry_is_lost(committed: Path, items: list) -> None:
    text, kept, bad = _compose(items)
    set_note(committed, text)
    report = _run("budget", "--json")
    assert report.exit_code == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["total"]["entries"] == len(kept)
    assert data["total"]["in"] == sum(e.tokens_in for e in kept)
    assert len(data["skipped"]) == len(bad)
    assert _run("status").exit_code == 0
    recorded = _run("record", "--in", "1", "--out", "1")
    assert recorded.exit_code == 0
    attached = _run("ledger", "attach")
    assert attached.exit_code == 0, attached.stderr
    assert _note_ids(committed) >= {e.id for e in kept} | {recorded.stdout.split()[1][:-1]}


@_FUZZ
@given(items=ledger_text)
def test_any_bytes_in_the_spool_are_kept_aside_and_no_entry_is_lost(committed: Path, items: list) -> None:
    git(committed, "notes", "--ref=patchpack", "remove", "--ignore-missing", "HEAD")
    text, kept, bad = _compose(items)
    where = committed / ".git" / "patchpack"
    write(where / "pending.jsonl", text)
    (where / "pending.rejected").unlink(missing_ok=True)
    report = _run("budget", "--json")
    assert report.exit_code == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["pending"]["entries"] == len(kept)
    assert len(data["skipped"]) == len(bad)
    assert _run("status").exit_code == 0
    attached = _run("ledger", "attach")
    assert attached.exit_code == 0, attached.stderr
    assert _note_ids(committed) == {e.id for e in kept}
    rejected = (where / "pending.rejected").read_bytes() if bad else b""
    assert rejected.decode() == "".join(line.decode("utf-8", "replace") + "\n" for line in bad)
