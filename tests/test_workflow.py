"""The pieces wired together: ledger entries from commands, the budget guard, refusals."""

from __future__ import annotations

import json

from conftest import git, write


def pending_entries(repo) -> list[dict]:
    spool = repo / ".git" / "patchpack" / "pending.jsonl"
    return [json.loads(line) for line in spool.read_text().splitlines()] if spool.exists() else []


def test_context_records_its_size_in_the_pending_spool(committed, cli):
    write(committed / "README.md", "# changed\n")
    r = cli("context")
    assert r.exit_code == 0
    [entry] = pending_entries(committed)
    assert entry["kind"] == "context" and entry["counter"] == "cl100k_base"
    assert f"context {entry['in']} tokens (cl100k_base)" in r.stderr


def test_context_refuses_over_the_daily_budget_unless_told(committed, cli):
    git(committed, "config", "patchpack.dailyBudget", "1000")
    assert cli("record", "--in", "600", "--out", "100").exit_code == 0
    ok = cli("context")
    assert ok.exit_code == 0
    assert "budget: daily 700/1,000 tokens (70%" not in ok.stderr  # 70% is not over 70%
    cli("record", "--in", "50", "--out", "0")
    warned = cli("context")
    assert "budget: daily 750/1,000 tokens (75%, 250 left)" in warned.stderr
    cli("record", "--in", "300", "--out", "0")
    before = pending_entries(committed)
    refused = cli("context")
    assert refused.exit_code == 1
    assert "over budget: daily 1,050/1,000 tokens" in refused.stderr
    assert "--over-budget" in refused.stderr
    assert pending_entries(committed) == before  # a refusal changes nothing
    assert cli("context", "--over-budget").exit_code == 0


def queue_of(repo, n: int) -> None:
    """Put n one-file micro-patches on the queue with `split`."""
    for i in range(n):
        write(repo / f"f{i}.txt", "".join(f"{i} {j}\n" for j in range(100)))


def test_apply_prints_the_reminder_every_second_iteration_and_next_repeats_it(committed, cli):
    queue_of(committed, 7)
    assert cli("split", "-m", "seven files").exit_code == 0
    reminder = "reminder: run /truncate 6 to keep the history short"
    seen = []
    for _ in range(7):
        r = cli("apply")
        assert r.exit_code == 0, r.stderr
        seen.append(reminder in r.stderr)
        if len(seen) < 7:
            assert (reminder in cli("next").stderr) == seen[-1]
    assert seen == [False, True, False, True, False, True, False]


def test_apply_attaches_its_entry_and_pending_spend_to_the_commit(committed, cli):
    queue_of(committed, 1)
    cli("split")
    cli("record", "--in", "900", "--out", "100", "--agent", "pack-leader")
    assert cli("apply").exit_code == 0
    note = git(committed, "notes", "--ref=patchpack", "show", "HEAD")
    kinds = [json.loads(line)["kind"] for line in note.splitlines()]
    assert kinds == ["request", "apply"]
    assert pending_entries(committed) == []


def test_apply_refuses_over_the_daily_budget(committed, cli):
    queue_of(committed, 1)
    cli("split")
    git(committed, "config", "patchpack.dailyBudget", "100")
    cli("record", "--in", "200", "--out", "0")
    head = git(committed, "rev-parse", "HEAD")
    refused = cli("apply")
    assert refused.exit_code == 1 and "over budget" in refused.stderr
    assert git(committed, "rev-parse", "HEAD") == head
    assert cli("apply", "--over-budget").exit_code == 0


def test_run_records_printed_and_saved_tokens_once_the_ledger_is_in_use(committed, cli):
    cmd = ["run", "--lines", "10", "--", "python3", "-c", "for i in range(500): print(i)"]
    assert cli(*cmd).exit_code == 0
    assert pending_entries(committed) == []  # no ledger yet: no tokenizer, no entry
    cli("record", "--in", "1", "--out", "1")
    r = cli(*cmd)
    assert r.exit_code == 0
    entry = pending_entries(committed)[-1]
    assert entry["kind"] == "run" and entry["counter"] == "cl100k_base"
    assert entry["in"] > 0 and entry["saved"] > entry["in"]
    full = cli("tokens", "--", "-", input="".join(f"{i}\n" for i in range(500)))
    assert f"{entry['in'] + entry['saved']} tokens" in full.stdout
