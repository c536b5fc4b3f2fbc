"""Capture from hooks, usage objects and Code Puppy (#17): exact, once, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

from claude_fixture import Session, Truth

from patchpack import ledger
from patchpack.git import Repo

from conftest import run_patchpack, write


def spool(repo: Path) -> list[ledger.Entry]:
    return ledger.pending(Repo.discover(repo))[0]


def test_the_stop_hook_imports_what_was_spent_since_the_last_import(committed: Path,
                                                                    tmp_path: Path) -> None:
    truth = Truth()
    s = Session("s", str(committed), truth)
    s.user("hi")
    s.respond(1, fresh=3, write=1000, read=0, out=50)
    path = write(tmp_path / "s.jsonl", s.text())
    hook = json.dumps({"session_id": "s", "transcript_path": str(path), "cwd": str(committed),
                       "hook_event_name": "Stop", "permission_mode": "default",
                       "stop_hook_active": False})
    first = run_patchpack("ledger", "import", "--hook", cwd=committed, input=hook)
    assert first.returncode == 0 and first.stdout == "" and first.stderr == ""
    assert [(e.tokens_in, e.tokens_out, e.cache_write) for e in spool(committed)] == \
        [(1003, 50, 1000)]
    offsets = json.loads((committed / ".git" / "patchpack" / "transcripts.json").read_text())
    assert offsets == {str(path): len(s.text().encode())}
    s.user("more")
    s.respond(2, fresh=4, write=10, read=1000, out=70)
    write(path, s.text())
    assert run_patchpack("ledger", "import", "--hook", cwd=committed, input=hook).returncode == 0
    assert run_patchpack("ledger", "import", "--hook", cwd=committed, input=hook).returncode == 0
    entries = spool(committed)
    assert sum(e.tokens for e in entries) == truth.tokens_in + truth.out and len(entries) == 2


def test_a_hook_input_patchpack_cannot_use_never_fails_the_agent(committed: Path,
                                                                 tmp_path: Path) -> None:
    for text in ("", "{not json", "[1]", '{"transcript_path": 7}', "[" * 100_000,
                 json.dumps({"transcript_path": str(tmp_path / "gone.jsonl")})):
        proc = run_patchpack("ledger", "import", "--hook", cwd=committed, input=text)
        assert proc.returncode == 0, (text[:40], proc.stderr)
        assert proc.stderr.startswith("patchpack ledger import --hook: ") or \
            "skipped" in proc.stderr or proc.stderr == "", proc.stderr
    assert spool(committed) == []
