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
