"""Hostile ledger lines: whatever bytes anyone pushes into a note or writes into the spool, a
line that is not an entry is skipped and reported, and no command that reads the ledger
crashes (issue 15)."""

from __future__ import annotations

import io
import json
import marshal
import os
from pathlib import Path

import pytest

from patchpack.ledger import entries as entries_module

from conftest import git, lines, run_patchpack, write

TS = "2026-11-24T10:00:00Z"


def entry_line(id: str, tokens_in: object = 5, extra: str = "") -> str:
    return (
        f'{{"v":1,"id":"{id}","ts":"{TS}","kind":"request","in":{tokens_in},"out":1'
        f'{extra},"counter":"usage"}}'
    )


HOSTILE = {
    "nested arrays": "[" * 1000,
    "nested objects": '{"a":' * 1000,
    "nested inside an entry": entry_line("deep", extra=',"x":' + "[" * 1000 + "]" * 1000),
    "a 400-digit number": entry_line("big", "9" * 400),
    "a number past 10**15": entry_line("big", 10**15),
    "a 5,000-digit number": entry_line("huge", "9" * 5000),
    "a lone surrogate": entry_line("\\ud800"),
    "a line of a million characters": entry_line("long" + "x" * 1_000_000),
}


def set_note(repo: Path, text: bytes, rev: str = "HEAD") -> None:
    """Make ``text`` the note of ``rev`` byte for byte (`git notes add -m` would clean it up)."""
    git(repo, "notes", "--ref=patchpack", "add", "-f", "-C", _blob(repo, text), rev)


def _blob(repo: Path, text: bytes) -> str:
    path = repo / ".git" / "note-bytes"
    path.write_bytes(text)
    return git(repo, "hash-object", "-w", str(path)).strip()


def budget_json(repo: Path) -> dict[str, object]:
    r = run_patchpack("budget", "--json", cwd=repo)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def hostile_head(committed: Path, request: pytest.FixtureRequest) -> Path:
    set_note(committed, f"{entry_line('good')}\n{HOSTILE[request.param]}\n".encode())
    return committed


def test_every_hostile_line_is_skipped_and_reported(committed: Path) -> None:
    set_note(committed, "\n".join([entry_line("good"), *HOSTILE.values()]).encode())
    report = budget_json(committed)
    assert report["total"]["entries"] == 1  # type: ignore[index]
    assert [s["line"] for s in report["skipped"]] == list(range(2, 2 + len(HOSTILE)))  # type: ignore[attr-defined]


# Every reader, through the entry point, with the two lines the issue names (the fuzzer tries
# all of HOSTILE against budget, status and attach).
@pytest.mark.parametrize("hostile_head", ["nested arrays", "a 400-digit number"], indirect=True)
def test_a_hostile_note_line_is_skipped_and_reported_by_every_reader(hostile_head: Path) -> None:
    repo = hostile_head
    report = budget_json(repo)
    assert report["total"]["entries"] == 1  # type: ignore[index]
    assert [(s["line"], s["where"][:7]) for s in report["skipped"]] == [  # type: ignore[attr-defined]
        (2, git(repo, "rev-parse", "--short=7", "HEAD").strip())
    ]
    text = run_patchpack("budget", cwd=repo)
    assert text.returncode == 0 and "line 2" in text.stderr and "(skipped)" in text.stderr
    assert run_patchpack("status", cwd=repo).returncode == 0
    context = run_patchpack("context", cwd=repo)
    assert context.returncode == 0, context.stderr
    assert run_patchpack("record", "--in", "7", "--out", "1", cwd=repo).returncode == 0
    waiting = budget_json(repo)["pending"]["entries"]  # type: ignore[index]
    assert waiting >= 1  # context records its own entry too
    attach = run_patchpack("ledger", "attach", cwd=repo)
    assert attach.returncode == 0 and f"attached {waiting} entries" in attach.stdout, attach.stderr
    after = budget_json(repo)
    assert after["total"]["entries"] == 1 + waiting and len(after["skipped"]) == 1  # type: ignore[index,arg-type]
    write(repo / "a.txt", lines(10, "a"))
    assert run_patchpack("split", "-m", "A", cwd=repo).returncode == 0
    applied = run_patchpack("apply", cwd=repo)
    assert applied.returncode == 0, applied.stderr
    assert git(repo, "log", "-1", "--format=%s").startswith("A")


def test_sync_brings_a_hostile_line_in_and_goes_on(committed: Path, tmp_path: Path) -> None:
    set_note(committed, f"{entry_line('good')}\n{HOSTILE['nested arrays']}\n".encode())
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(committed), str(remote))
    git(committed, "push", "-q", str(remote), "refs/notes/patchpack")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    synced = run_patchpack("sync", cwd=clone)
    assert synced.returncode == 0, synced.stderr
    assert "merged its entries into ours" in synced.stdout
    report = budget_json(clone)
    assert report["total"]["entries"] == 1 and len(report["skipped"]) == 1  # type: ignore[arg-type,index]


# -- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--in", "--out", "--requests"])
@pytest.mark.parametrize("number", [10**15, int("9" * 400)], ids=["10**15", "400 digits"])
def test_record_refuses_a_number_past_the_bound(committed: Path, option: str, number: int) -> None:
    args = {"--in": "1", "--out": "1", option: str(number)}
    r = run_patchpack("record", *(x for pair in args.items() for x in pair), cwd=committed)
    assert r.returncode == 2, r.stderr
    assert "below 10**15" in r.stderr and "hint: " in r.stderr
    assert len(r.stderr) < 400  # the number is not echoed back whole
    assert (
        not (committed / ".git" / "patchpack" / "pending.jsonl").exists()
        or (committed / ".git" / "patchpack" / "pending.jsonl").read_text() == ""
    )
    assert budget_json(committed)["pending"]["entries"] == 0  # type: ignore[index]


def test_the_largest_number_recorded_is_read_back(committed: Path) -> None:
    top = str(10**15 - 1)
    assert run_patchpack("record", "--in", top, "--out", top, cwd=committed).returncode == 0
    assert run_patchpack("ledger", "attach", cwd=committed).returncode == 0
    report = budget_json(committed)
    assert report["total"]["in"] == 10**15 - 1 and report["skipped"] == []  # type: ignore[index]


@pytest.mark.parametrize("form", ["canonical", "json"])
def test_a_number_past_the_bound_in_a_note_is_skipped(committed: Path, form: str) -> None:
    # The canonical line is parsed without JSON; a space after a colon takes the JSON path.
    space = " " if form == "json" else ""
    good = entry_line("good", 10**15 - 1).replace('"in":', '"in":' + space)
    bad = entry_line("bad", 10**15).replace('"in":', '"in":' + space)
    set_note(committed, f"{good}\n{bad}\n".encode())
    report = budget_json(committed)
    assert report["total"]["in"] == 10**15 - 1  # type: ignore[index]
    assert [s["line"] for s in report["skipped"]] == [2]  # type: ignore[attr-defined]
    assert "10**15" in report["skipped"][0]["reason"]  # type: ignore[index]


def test_the_line_and_depth_limits_hold_for_one_line_parsed_alone() -> None:
    limit = entries_module.MAX_LINE
    fill = limit - len(entry_line(""))
    assert entries_module.parse_line(entry_line("x" * fill)).id == "x" * fill
    with pytest.raises(ValueError, match="longer than"):
        entries_module.parse_line(entry_line("x" * (fill + 1)))
    with pytest.raises(ValueError, match="nested deeper"):
        entries_module.parse_line("[" * 1000)
    # Brackets inside strings are text, not nesting.
    assert entries_module.parse_line(entry_line("[" * 200 + "{" * 200)).id == "[" * 200 + "{" * 200


def test_a_cache_saved_before_the_bounds_is_not_trusted(committed: Path) -> None:
    # Version 9 of the ledger cache was written before counts were bounded: it may hold
    # numbers no reader may take from a note now, so it is read again from the notes.
    set_note(committed, f"{entry_line('good')}\n".encode())
    budget_json(committed)
    path = committed / ".git" / "patchpack" / "ledger-cache"
    data = path.read_bytes()
    f = io.BytesIO(data)
    _, head, keys, sizes = marshal.load(f)
    start, parts = f.tell(), []
    for size in sizes:
        count, commits, columns, bad, sums = marshal.loads(data[start : start + size])
        start += size
        columns[3] = [int("9" * 400)] * len(columns[3])
        for counts in sums.values():
            counts[1] = int("9" * 400)
        parts.append(marshal.dumps((count, commits, columns, bad, sums)))
    path.write_bytes(marshal.dumps((9, head, keys, list(map(len, parts)))) + b"".join(parts))
    assert budget_json(committed)["total"]["in"] == 5  # type: ignore[index]


def test_a_note_line_one_character_past_the_limit_is_skipped_on_every_path(committed: Path) -> None:
    fill = entries_module.MAX_LINE - len(entry_line(""))
    at, past = entry_line("a" * fill), entry_line("b" * (fill + 1))
    set_note(committed, f"{at}\n{past}\n".encode())
    report = budget_json(committed)  # `git grep` and the bulk parse of canonical lines
    assert report["total"]["entries"] == 1  # type: ignore[index]
    assert [(s["line"], s["reason"]) for s in report["skipped"]] == [  # type: ignore[attr-defined]
        (2, f"longer than {entries_module.MAX_LINE:,} characters")
    ]
    assert [e.id[0] for e in entries_module.parse_note(f"{at}\n{past}\n", "x")[0]] == ["a"]


@pytest.mark.parametrize("name", ["x" * 9000, os.fsdecode(b"caf\xe9")], ids=["long", "latin-1"])
def test_record_refuses_a_name_a_reader_would_skip_or_the_spool_cannot_hold(
    committed: Path, name: str
) -> None:
    r = run_patchpack("record", "--in", "1", "--out", "1", "--model", name, cwd=committed)
    assert r.returncode == 2, r.stderr
    assert "--model" in r.stderr and "hint: " in r.stderr and len(r.stderr) < 400
    assert budget_json(committed)["pending"]["entries"] == 0  # type: ignore[index]
