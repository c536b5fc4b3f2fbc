"""The router's choice of model and the budget gate, without Code Puppy (#18)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from patchpack.agents.code_puppy import gate
from patchpack.agents.code_puppy.router import Route, choose, task_kind
from patchpack.agents.code_puppy.session import Session
from patchpack.agents.loop import Budget

from conftest import git, run_patchpack, write

TABLE = {
    "edit": "zai-glm-4.7",
    "test-fix": "qwen-3-coder-480b",
    "plan": "gpt-oss-120b",
    "cheap": "llama3.1-8b",
}
DAY = 24_000_000


def day(used: int, limit: int = DAY) -> Budget:
    return Budget("daily", "daily", used, limit)


def test_task_kinds_from_the_agent_then_the_prompt() -> None:
    assert task_kind("code-reviewer", "fix the failing test") == "review"
    assert task_kind("planning-agent", "add a flag") == "plan"
    assert task_kind("code-puppy", "the tests fail with a Traceback in x.py") == "test-fix"
    assert task_kind("code-puppy", "pytest says test_b FAILED") == "test-fix"
    assert task_kind(None, "Review this diff") == "review"
    assert task_kind("code-puppy", "plan the migration to the new API") == "plan"
    assert task_kind("code-puppy", "explain how does the cache work") == "research"
    assert task_kind("code-puppy", "add a --json flag to status") == "edit"
    assert task_kind("web_retriever", "") == "research"


def test_a_rule_routes_its_kind_and_a_missing_rule_keeps_the_model() -> None:
    route = choose(
        agent="code-puppy", prompt="the test fails", current="zai-glm-4.7", rule=TABLE.get, budgets=[day(0)]
    )
    assert route == Route(
        "qwen-3-coder-480b",
        "test-fix",
        'task kind test-fix from the prompt ("test fails"): patchpack.route.test-fix',
    )
    assert (
        choose(agent="code-puppy", prompt="add a flag", current="zai-glm-4.7", rule=TABLE.get, budgets=[])
        is None
    )  # already the edit model
    assert choose(agent="x", prompt="review it", current="m", rule=TABLE.get, budgets=[]) is None
    assert choose(agent="x", prompt="plan", current="m", rule=lambda k: "  ", budgets=[]) is None


def test_near_a_budget_it_steps_down_to_the_cheap_model() -> None:
    hot = choose(
        agent="code-puppy",
        prompt="plan it",
        current="gpt-oss-120b",
        rule=TABLE.get,
        budgets=[day(int(DAY * 0.8))],
    )
    assert hot == Route(
        "llama3.1-8b",
        "plan",
        'task kind plan from the prompt ("plan"), '
        "stepped down to patchpack.route.cheap: daily "
        f"{int(DAY * 0.8):,}/{DAY:,} tokens, 80% used",
    )
    assert choose(
        agent="a",
        prompt="add",
        current="x",
        rule=TABLE.get,
        budgets=[Budget("minute", "per-minute", 950_000, 1_000_000)],
    ).reason.endswith(  # type: ignore[union-attr]
        "per-minute window 950,000/1,000,000 tokens, 95% full"
    )
    assert choose(
        agent="planning-agent", prompt="fix the failing test", current="x", rule=TABLE.get, budgets=[]
    ).reason == (  # type: ignore[union-attr]
        'task kind plan from the agent\'s name ("planning"): patchpack.route.plan'
    )
    minute = Budget("minute", "per-minute", 950_000, 1_000_000, reset_in=12)
    assert (
        choose(agent="a", prompt="add", current="x", rule=TABLE.get, budgets=[day(0), minute]).model
        == "llama3.1-8b"
    )  # type: ignore[union-attr]
    cool = Budget("minute", "per-minute", 800_000, 1_000_000)
    assert choose(agent="a", prompt="add", current="x", rule=TABLE.get, budgets=[cool]).model == "zai-glm-4.7"  # type: ignore[union-attr]
    no_cheap = {k: v for k, v in TABLE.items() if k != "cheap"}
    assert (
        choose(agent="a", prompt="add", current="x", rule=no_cheap.get, budgets=[day(DAY)]).model
        == "zai-glm-4.7"
    )  # type: ignore[union-attr]


def test_a_spent_day_or_agent_budget_stops_the_run() -> None:
    assert gate.stop_reason([day(DAY - 1)], "code-puppy") is None
    reason = gate.stop_reason([day(DAY)], "code-puppy")
    assert reason is not None and reason.startswith(
        "patchpack: over budget (daily 24,000,000/24,000,000 tokens); the run was not started."
    )
    assert "patchpack budget" in reason and "git config patchpack.dailyBudget" in reason
    mine = Budget("agent", "agent helper", 500, 500)
    assert gate.stop_reason([day(0), mine], "helper") is not None
    assert gate.stop_reason([day(0), mine], "code-puppy") is None  # another agent's budget


def test_a_request_waits_for_the_minute_window_only_when_it_would_not_fit() -> None:
    tokens = Budget("minute", "per-minute", 990_000, 1_000_000, reset_in=17)
    requests = Budget("minute", "per-minute requests", 50, 50, unit="requests", reset_in=9)
    assert gate.wait_seconds([tokens], request_tokens=5_000) == 0
    assert gate.wait_seconds([tokens], request_tokens=20_000) == 17
    assert gate.wait_seconds([tokens, requests], request_tokens=5_000) == 9
    empty = Budget("minute", "per-minute", 0, 1_000_000, reset_in=30)
    assert gate.wait_seconds([empty], request_tokens=2_000_000) == 0  # waiting would not help
    unknown = Budget("minute", "per-minute", 999_999, 1_000_000)
    assert gate.wait_seconds([unknown], request_tokens=10) == gate.MAX_WAIT


def test_a_route_is_a_ledger_entry_with_its_reason_kept_through_attach(
    committed: Path, frozen_now: Callable[[datetime], datetime]
) -> None:
    frozen_now(datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc))
    git(committed, "config", "patchpack.route.test-fix", "qwen-3-coder-480b")
    git(committed, "config", "patchpack.route.cheap", "llama3.1-8b")
    git(committed, "config", "patchpack.dailyBudget", "1000")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(committed)
        assert Session().select("code-puppy", "zai-glm-4.7", "the test fails", "run-1") == "qwen-3-coder-480b"
        recorded = run_patchpack("record", "--in", "850", "--out", "0", cwd=committed)
        assert recorded.returncode == 0, recorded.stderr
        assert Session().select("code-puppy", "zai-glm-4.7", "the test fails", "run-2") == "llama3.1-8b"
    spool = (committed / ".git" / "patchpack" / "pending.jsonl").read_text().splitlines()
    routes = [json.loads(line) for line in spool if '"route"' in line]
    assert [(r["model"], r["session"], r["reason"]) for r in routes] == [
        (
            "qwen-3-coder-480b",
            "run-1",
            'task kind test-fix from the prompt ("test fails"): patchpack.route.test-fix',
        ),
        (
            "llama3.1-8b",
            "run-2",
            'task kind test-fix from the prompt ("test fails"), stepped '
            "down to patchpack.route.cheap: daily 850/1,000 tokens, 85% used",
        ),
    ]
    # The reason stays on the line when the entry moves into a commit's note.
    write(committed / "a.txt", "a\n")
    git(committed, "add", "a.txt")
    git(committed, "commit", "-q", "-m", "a")
    attached = run_patchpack("ledger", "attach", cwd=committed)
    assert attached.returncode == 0, attached.stderr
    note = git(committed, "notes", "--ref=patchpack", "show", "HEAD").splitlines()
    assert [json.loads(line).get("reason") for line in note if '"route"' in line] == [
        r["reason"] for r in routes
    ]
    budget = run_patchpack("budget", "--by", "kind", cwd=committed)
    assert budget.returncode == 0 and "route" in budget.stdout, budget.stderr


def test_status_shows_the_models_runs_were_routed_to(committed: Path) -> None:
    git(committed, "config", "patchpack.route.test-fix", "qwen-3-coder-480b")
    git(committed, "config", "patchpack.route.plan", "gpt-oss-120b")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(committed)
        for prompt in ("the test fails", "plan it", "the tests are broken", "add a flag"):
            Session().select("code-puppy", "zai-glm-4.7", prompt, None)
    shown = run_patchpack("status", cwd=committed)
    assert shown.returncode == 0, shown.stderr
    assert "plugin:      3 runs routed (qwen-3-coder-480b 2, gpt-oss-120b 1)\n" in shown.stdout
    as_json = run_patchpack("status", "--json", cwd=committed)
    assert json.loads(as_json.stdout)["routed"] == {"qwen-3-coder-480b": 2, "gpt-oss-120b": 1}
