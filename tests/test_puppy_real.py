"""The plugin inside the real Code Puppy (installed from PyPI by tests/puppy_env.py): its own
loader finds patchpack through the entry point, and each callback, fired through its own
callback machinery with real arguments, has its effect (#18).

Importing Code Puppy takes 10-30 s, so one Code Puppy process runs every scenario, each in a
repository of its own, and the tests below read what each scenario did.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from puppy_env import drive

from conftest import git, lines, write

PHASES = (
    "run_shell_command",
    "run_shell_command_output",
    "pre_tool_call",
    "transform_model_messages",
    "model_select",
    "agent_run_start",
    "agent_run_context",
    "agent_run_end",
)
USAGE = {
    "model": "qwen-3-coder-480b",
    "usage_input_tokens": 5400,
    "usage_output_tokens": 820,
    "usage_cached_read_tokens": 1200,
    "usage_cached_write_tokens": None,
}


def repository(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q")
    write(path / "big.py", lines(300))
    write(path / "util.py", lines(10))
    write(
        path / "mod.py",
        "".join(f"def step{i}(x):\n" + "    x += 1\n" * 28 + "    return x\n\n\n" for i in range(10)),
    )  # 320 lines, a def each 32
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "app")
    return path


@pytest.fixture(scope="module")
def puppy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("puppy")
    with pytest.MonkeyPatch.context() as mp:  # conftest's hermetic seal, for a module
        for name in list(os.environ):
            if name.startswith(("GIT_", "PATCHPACK_")) and name != "PATCHPACK_NOW":
                mp.delenv(name)
        (base / "home").mkdir()
        (base / "home" / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
        mp.setenv("HOME", str(base / "home"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("GIT_CONFIG_GLOBAL", str(base / "home" / ".gitconfig"))
        for who in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{who}_NAME", "Test User")
            mp.setenv(f"GIT_{who}_EMAIL", "test@example.com")
        tools, history, runs = (repository(base / n) for n in ("tools", "history", "runs"))
        git(runs, "config", "patchpack.route.test-fix", "qwen-3-coder-480b")
        out = drive(
            [
                {
                    "scenario": "shell",
                    "cwd": tools,
                    "args": {"command": "pytest -q tests", "stdout": lines(1000).rstrip("\n")},
                },
                {
                    "scenario": "tool",
                    "cwd": tools,
                    "args": {"tool": "create_file", "args": {"file_path": "util.py", "content": lines(200)}},
                },
                {
                    "scenario": "tool",
                    "cwd": tools,
                    "args": {"tool": "read_file", "args": {"file_path": "big.py"}},
                },
                {"scenario": "history", "cwd": history, "args": {"outputs": 10, "iterations": [0, 1, 2]}},
                {
                    "scenario": "run",
                    "cwd": runs,
                    "args": {
                        "agent": "code-puppy",
                        "requests": 3,
                        "prompt": "the tests fail",
                        "metadata": USAGE,
                    },
                },
                {
                    "scenario": "git",
                    "cwd": runs,
                    "args": {"args": ["config", "patchpack.dailyBudget", "6000"]},
                },
                {
                    "scenario": "run",
                    "cwd": runs,
                    "args": {"agent": "code-puppy", "requests": 0, "prompt": "go on", "metadata": {}},
                },
                {
                    "scenario": "located",
                    "cwd": tools,
                    "args": {
                        "prompt": "Make the tests pass.",
                        "file": "mod.py",
                        "output": {"stdout": "F\nmod.py:230: in step7\nE  assert 1 == 2", "stderr": ""},
                    },
                },
            ],
            tmp=base,
        )
        yield {**out, "tools": tools, "runs": runs}


def test_code_puppys_loader_finds_the_plugin_and_its_callbacks(puppy: dict[str, Any]) -> None:
    assert "patchpack" in puppy["loaded"]["builtin"]  # the installed tier: the entry point
    for phase in PHASES:
        assert puppy["owners"][phase].count("patchpack") == 1, phase


def test_a_test_command_is_rewritten_and_long_output_capped(puppy: dict[str, Any]) -> None:
    out = puppy["results"][0]
    mine = [r for r in out["rewrites"] if r and "patchpack" in r.get("rewrite", "")]
    assert mine == [
        {"rewrite": "patchpack test -q tests", "rewrite_reason": "patchpack (output capped, full log kept)"}
    ]
    shown = out["stdout"].split("\n")
    assert len(shown) == 201 and shown[0] == "line 1" and shown[-1] == "line 1000"


def test_an_oversized_edit_is_blocked_and_a_large_read_narrowed(puppy: dict[str, Any]) -> None:
    blocks = [r for r in puppy["results"][1]["results"] if r and r.get("blocked")]
    assert len(blocks) == 1
    assert blocks[0]["error_message"].startswith("[BLOCKED] this edit of util.py would make")
    assert "patchpack split && patchpack apply --all" in blocks[0]["error_message"]
    assert (puppy["tools"] / "util.py").read_text() == lines(10)
    read = puppy["results"][2]
    assert read["args"] == {"file_path": "big.py", "start_line": 1, "num_lines": 200}
    notes = [r["context_message"] for r in read["results"] if r and "context_message" in r]
    assert len(notes) == 1 and notes[0].startswith("patchpack: showing lines 1-200 only.")


def test_a_read_is_narrowed_to_the_def_a_test_failure_names(puppy: dict[str, Any]) -> None:
    # The shell output reached the plugin through Code Puppy's transform_model_messages, as
    # pydantic-ai's ToolReturnPart; the read through its pre_tool_call.
    read = puppy["results"][7]
    assert read["args"] == {"file_path": "mod.py", "start_line": 225, "num_lines": 30}
    notes = [r["context_message"] for r in read["results"] if r and "context_message" in r]
    assert notes == [
        "patchpack: showing lines 225-254 only: line 230 (def step7), "
        "named in the context. The start of the file: read_file(file_path="
        '"mod.py", start_line=1, num_lines=200)'
    ]


def test_old_tool_outputs_are_masked_after_the_cadence(puppy: dict[str, Any]) -> None:
    out = puppy["results"][3]
    before, between, after = out["sent"]
    assert before == between == out["history"]  # nothing masked before the cadence
    returns = [parts[0] for parts in after[2::2]]
    assert returns[:4] == [
        f"[patchpack masked this agent_run_shell_command output (3 lines) "
        f"of `cat part{i}`; run it again if you need it]"
        for i in range(4)
    ]
    assert returns[4:] == [f"output {i}\n" * 3 for i in range(4, 10)]  # the last 6 whole
    assert after[0] == ["be brief", "fix it"]
    assert out["history"][2][0] == "output 0\n" * 3  # Code Puppy's own history is untouched


def test_a_run_is_routed_its_usage_recorded_and_a_spent_budget_stops_it(puppy: dict[str, Any]) -> None:
    assert puppy["results"][4] == {"model": "qwen-3-coder-480b", "stops": []}
    spool = puppy["runs"] / ".git" / "patchpack" / "pending.jsonl"
    entries = [json.loads(line) for line in spool.read_text().splitlines()]
    assert [(e["kind"], e["model"], e["in"], e["out"]) for e in entries] == [
        ("route", "qwen-3-coder-480b", 0, 0),
        ("request", "qwen-3-coder-480b", 5400, 820),
    ]
    assert entries[1]["requests"] == 3 and entries[1]["agent"] == "code-puppy"
    assert entries[1]["cache_read"] == 1200
    assert puppy["results"][6]["stops"] == [
        "BudgetSpent: patchpack: over budget (daily 6,220/6,000 tokens); the run was not "
        "started. See `patchpack budget`; land what you have (`patchpack apply --all`), or "
        "raise the budget (`git config patchpack.dailyBudget N`, "
        "`git config patchpack.agent.NAME.dailyBudget N`)."
    ]
    assert len(spool.read_text().splitlines()) == 2  # the stopped run recorded nothing


def test_integrate_plugin_makes_a_user_plugin_a_code_puppy_elsewhere_loads(
    committed: Path, tmp_path: Path, cli: Callable[..., Result]
) -> None:
    done = cli("integrate", "code-puppy", "--plugin")
    assert done.exit_code == 0, done.stderr
    plugin = Path.home() / ".code_puppy" / "plugins" / "patchpack" / "register_callbacks.py"
    assert f"wrote {plugin}\n" in done.stdout and plugin.exists()
    again = cli("integrate", "code-puppy", "--plugin")
    assert f"unchanged {plugin}\n" in again.stdout
    # Code Puppy without patchpack in its environment: the user plugin brings it in.
    out = drive(
        [{"scenario": "shell", "cwd": committed, "args": {"command": "pytest", "stdout": "ok"}}],
        tmp=tmp_path,
        beside=False,
    )
    assert "patchpack" in out["loaded"]["user"] and "patchpack" not in out["loaded"]["builtin"]
    assert {"rewrite": "patchpack test", "rewrite_reason": "patchpack (output capped, full log kept)"} in out[
        "results"
    ][0]["rewrites"]
