"""Capture from hooks, usage objects and Code Puppy (#17): exact, once, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

from claude_fixture import Session, Truth

from patchpack.git import Repo
from patchpack.ledger import store as ledger
from patchpack.ledger import usage

from conftest import run_patchpack, write


def spool(repo: Path) -> list[ledger.Entry]:
    return ledger.pending(Repo.discover(repo))[0]


def test_the_stop_hook_imports_what_was_spent_since_the_last_import(committed: Path, tmp_path: Path) -> None:
    truth = Truth()
    s = Session("s", str(committed), truth)
    s.user("hi")
    s.respond(1, fresh=3, write=1000, read=0, out=50)
    path = write(tmp_path / "s.jsonl", s.text())
    hook = json.dumps(
        {
            "session_id": "s",
            "transcript_path": str(path),
            "cwd": str(committed),
            "hook_event_name": "Stop",
            "permission_mode": "default",
            "stop_hook_active": False,
        }
    )
    first = run_patchpack("ledger", "import", "--hook", cwd=committed, input=hook)
    assert first.returncode == 0 and first.stdout == "" and first.stderr == ""
    assert [(e.tokens_in, e.tokens_out, e.cache_write) for e in spool(committed)] == [(1003, 50, 1000)]
    offsets = json.loads((committed / ".git" / "patchpack" / "transcripts.json").read_text())
    assert list(offsets) == [str(path)] and offsets[str(path)][0] == len(s.text().encode())
    s.user("more")
    s.respond(2, fresh=4, write=10, read=1000, out=70)
    write(path, s.text())
    assert run_patchpack("ledger", "import", "--hook", cwd=committed, input=hook).returncode == 0
    assert run_patchpack("ledger", "import", "--hook", cwd=committed, input=hook).returncode == 0
    entries = spool(committed)
    assert sum(e.tokens for e in entries) == truth.tokens_in + truth.out and len(entries) == 2


def test_the_stop_hook_reads_a_rewritten_transcript_whole(committed: Path, tmp_path: Path) -> None:
    """A transcript replaced by another (more bytes, other ones before the mark) is read from
    its start, not from where the old one was read to (#17)."""
    truth = Truth()
    s = Session("s", str(committed), truth)
    s.user("hi")
    s.respond(1, fresh=3, write=1000, read=0, out=50)
    path = write(tmp_path / "s.jsonl", s.text())
    hook = json.dumps({"session_id": "s", "transcript_path": str(path), "cwd": str(committed)})
    assert run_patchpack("ledger", "import", "--hook", cwd=committed, input=hook).stderr == ""
    other = Session("t", str(committed), truth)
    other.user("a longer first prompt, so the old offset falls inside a line" * 3)
    other.respond(1, fresh=5, write=20, read=3000, out=90)
    other.user("and more")
    other.respond(2, fresh=6, write=30, read=3100, out=20)
    marks = (committed / ".git" / "patchpack" / "transcripts.json").read_bytes()
    path.unlink()
    write(path, other.text())  # another file at the same path
    proc = run_patchpack("ledger", "import", "--hook", cwd=committed, input=hook)
    assert proc.returncode == 0 and proc.stderr == ""
    entries = spool(committed)
    assert len(entries) == 3 and sum(e.tokens for e in entries) == truth.tokens_in + truth.out
    # Rewritten in place: same inode, the same size or more, other bytes before the mark.
    assert (committed / ".git" / "patchpack" / "transcripts.json").read_bytes() != marks
    text = path.read_bytes()
    path.write_bytes(text.replace(b'"msg_t', b'"msg_u').replace(b'"req_t', b'"req_u'))
    assert run_patchpack("ledger", "import", "--hook", cwd=committed, input=hook).stderr == ""
    assert len(spool(committed)) == 5
    assert run_patchpack("ledger", "import", "--hook", cwd=committed, input=hook).stderr == ""
    assert len(spool(committed)) == 5  # unchanged since: nothing read, nothing added


def test_a_hook_input_patchpack_cannot_use_never_fails_the_agent(committed: Path, tmp_path: Path) -> None:
    for text in (
        "",
        "{not json",
        "[1]",
        '{"transcript_path": 7}',
        "[" * 100_000,
        json.dumps({"transcript_path": str(tmp_path / "gone.jsonl")}),
    ):
        proc = run_patchpack("ledger", "import", "--hook", cwd=committed, input=text)
        assert proc.returncode == 0, (text[:40], proc.stderr)
        assert (
            proc.stderr.startswith("patchpack ledger import --hook: ")
            or "skipped" in proc.stderr
            or proc.stderr == ""
        ), proc.stderr
    assert spool(committed) == []


def test_record_usage_json_takes_openai_and_anthropic_usage(committed: Path) -> None:
    openai = {
        "prompt_tokens": 5400,
        "completion_tokens": 820,
        "total_tokens": 6220,
        "prompt_tokens_details": {"cached_tokens": 4096},
    }
    proc = run_patchpack(
        "record", "--usage-json", "-", "--agent", "proxy", cwd=committed, input=json.dumps(openai)
    )
    assert proc.returncode == 0, proc.stderr
    assert "5,400 in (4,096 cache read, 0 cache write), 820 out" in proc.stdout
    response = {
        "id": "msg_01",
        "type": "message",
        "model": "claude-sonnet-4-5",
        "usage": {
            "input_tokens": 10,
            "cache_creation_input_tokens": 200,
            "cache_read_input_tokens": 3000,
            "output_tokens": 40,
        },
    }
    path = write(committed.parent / "response.json", json.dumps(response))
    assert run_patchpack("record", "--usage-json", str(path), cwd=committed).returncode == 0
    again = run_patchpack("record", "--usage-json", str(path), cwd=committed)
    assert again.returncode == 0 and "already in the ledger" in again.stdout
    first, second = spool(committed)
    assert (first.tokens_in, first.tokens_out, first.cache_read, first.agent, first.counter) == (
        5400,
        820,
        4096,
        "proxy",
        "usage",
    )
    assert (second.tokens_in, second.cache_read, second.cache_write, second.model) == (
        3210,
        3000,
        200,
        "claude-sonnet-4-5",
    )


def test_record_usage_json_refuses_what_is_no_usage_and_records_nothing(committed: Path) -> None:
    for text in (
        "nope",
        "[]",
        '{"usage": 3}',
        '{"prompt_tokens": -1}',
        '{"model": "x"}',
        '{"input_tokens": 1e400}',
        '{"output_tokens": 10000000000000000}',
    ):
        proc = run_patchpack("record", "--usage-json", "-", cwd=committed, input=text)
        assert proc.returncode == 2, (text, proc.stderr)
        assert "not a usage object" in proc.stderr and "hint:" in proc.stderr
    missing = run_patchpack("record", cwd=committed)
    assert missing.returncode == 2 and "--usage-json" in missing.stderr
    assert spool(committed) == []


def test_code_puppy_usage_file_and_run_end_are_captured_once(committed: Path) -> None:
    # What code_puppy/cli_runner.py `_write_usage_file` writes (0.0.946).
    data = {
        "input_tokens": 12000,
        "output_tokens": 900,
        "cache_read_tokens": 8000,
        "cache_write_tokens": 1000,
        "requests": 3,
        "tool_calls": 2,
        "cost_usd": None,
    }
    path = write(committed.parent / "usage.json", json.dumps(data, indent=2) + "\n")
    for _ in range(2):
        proc = run_patchpack("ledger", "import", "--usage-file", str(path), cwd=committed)
        assert proc.returncode == 0, proc.stderr
    [entry] = spool(committed)
    assert (
        entry.tokens_in,
        entry.tokens_out,
        entry.cache_read,
        entry.cache_write,
        entry.requests,
        entry.agent,
    ) == (12000, 900, 8000, 1000, 3, "code-puppy")
    bad = write(committed.parent / "bad.json", '{"input_tokens": "many"}')
    proc = run_patchpack(
        "ledger", "import", "--usage-file", str(path), "--usage-file", str(bad), cwd=committed
    )
    assert proc.returncode == 2 and "not a usage file" in proc.stderr
    # The metadata Code Puppy's agent_run_end callback carries (code_puppy/agents/_runtime.py).
    metadata = {
        "model": "zai-glm-4.7",
        "usage_input_tokens": 5000,
        "usage_output_tokens": 300,
        "usage_total_tokens": 5300,
        "usage_cached_read_tokens": 4000,
        "usage_cached_write_tokens": None,
        "usage_thought_tokens": None,
    }
    run = usage.from_code_puppy_run(
        agent_name="pack-leader", model_name="zai-glm-4.7", session_id="g1", metadata=metadata, key="run-1"
    )
    repo = Repo.discover(committed)
    assert run is not None
    assert usage.capture(repo, [run]) == 1 and usage.capture(repo, [run]) == 0
    assert (
        usage.from_code_puppy_run(
            agent_name="a", model_name="m", session_id=None, metadata={"usage_input_tokens": None}, key=None
        )
        is None
    )
    last = spool(committed)[-1]
    assert (last.tokens_in, last.cache_read, last.agent, last.session) == (5000, 4000, "pack-leader", "g1")


def test_a_hook_with_nothing_new_reads_no_ledger(committed: Path, tmp_path: Path) -> None:
    """A Stop hook after a turn that spent nothing neither reads nor writes the spool: a
    spool it could not read changes nothing and is not reported (#17)."""
    s = Session("q", str(committed), Truth())
    s.user("hi")
    path = write(tmp_path / "q.jsonl", s.text())
    spool_file = committed / ".git" / "patchpack" / "pending.jsonl"
    spool_file.parent.mkdir(parents=True, exist_ok=True)
    spool_file.mkdir()  # not a file: reading it fails
    hook = json.dumps({"transcript_path": str(path), "cwd": str(committed)})
    proc = run_patchpack("ledger", "import", "--hook", cwd=committed, input=hook)
    assert proc.returncode == 0 and proc.stderr == "" and spool_file.is_dir()
