"""bench/session_tokens.py (#19): the tasks it takes from a repository's history, the scripts
it gives the model, the fairness check, and one small session per real client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from clients.endpoint import Endpoint, call, say
from clients.install import CodePuppy, NpmClients
from conftest import ROOT, git, write

sys.path.insert(0, str(ROOT / "bench"))

from session import fairness, scripts
from session.tasks import find_tasks, task_of

BENCH = ROOT / "bench" / "session_tokens.py"


def module(n: int, changed: int | None = None) -> str:
    """A module of ``n`` small functions; function ``changed`` returns something else."""
    return "".join(f"def f{i}(x):\n    return x + {100 if i == changed else i}\n\n\n" for i in range(n))


@pytest.fixture
def history(committed: Path) -> Path:
    """calc.py and its test, then two commits that each change calc.py in one place."""
    write(committed / "calc.py", module(60))
    write(
        committed / "tests" / "test_calc.py",
        "from calc import f1\n\n\ndef test_f1():\n    assert f1(1) == 2\n",
    )
    git(committed, "add", ".")
    git(committed, "commit", "-q", "-m", "calc")
    for changed in (40, 41):
        text = (committed / "calc.py").read_text()
        write(committed / "calc.py", text.replace(f"return x + {changed}\n", f"return x + {changed} * 2\n"))
        git(committed, "commit", "-q", "-am", f"calc: f{changed} doubles")
    return committed


def test_a_task_is_a_commit_with_its_hunks_and_the_test_that_names_its_module(history: Path) -> None:
    tasks = find_tasks(history, 5)
    # The first commit adds files (no edit replaces text in them) and ends the run.
    assert [t.subject for t in tasks] == ["calc: f40 doubles", "calc: f41 doubles"]
    [edit] = tasks[0].edits
    assert edit.path == "calc.py" and edit.symbol == "def f40"
    assert "    return x + 40\n" in edit.old and "    return x + 40 * 2\n" in edit.new
    assert tasks[0].tests == ("tests/test_calc.py",)
    assert tasks[0].before == (module(60),)
    # Oldest first: the second task starts where the first one ends.
    assert tasks[1].before[0] == module(60).replace("x + 40\n", "x + 40 * 2\n")
    assert task_of(history, git(history, "rev-list", "--max-parents=0", "HEAD").strip()) is None


def test_a_commit_of_three_files_or_without_a_test_makes_no_task(committed: Path) -> None:
    for name in ("a.py", "b.py", "c.py"):
        write(committed / name, "x = 1\n")
    git(committed, "add", ".")
    git(committed, "commit", "-q", "-m", "three")
    for name in ("a.py", "b.py", "c.py"):
        write(committed / name, "x = 2\n")
    git(committed, "commit", "-q", "-am", "three files changed")
    write(committed / "a.py", "x = 3\n")
    git(committed, "commit", "-q", "-am", "one file, no test names it")
    assert find_tasks(committed, 3) == []


def test_the_naive_agent_reads_whole_files_and_the_patchpack_agent_asks_for_the_hunk(history: Path) -> None:
    [task, _] = find_tasks(history, 2)
    naive = [c for turn in scripts.puppy_naive(task) for c in turn.calls]
    reads = [c.arguments for c in naive if c.name == "read_file"]
    # Every line of the file, in windows under Code Puppy's 10,000-character output limit.
    assert reads[0]["start_line"] == 1
    assert sum(r["num_lines"] for r in reads) == len(module(60).splitlines())
    assert [c.name for c in naive][-4:] == ["replace_in_file", "shell", "shell", "shell"]
    commands = [c.arguments["command"] for c in naive if c.name == "shell"]
    assert commands == [
        "python -m pytest tests/test_calc.py",
        "git diff",
        "python -m pytest tests/test_calc.py",
        "git add calc.py && git commit -q -m 'calc: f40 doubles'",
    ]
    packed = [c.arguments.get("command") for turn in scripts.puppy_patchpack(task) for c in turn.calls]
    assert packed[:3] == [
        "patchpack context --grep 'def f40'",
        "patchpack context --at calc.py:156-168",
        "patchpack test tests/test_calc.py",
    ]
    assert packed[-1] == (
        "git add calc.py && patchpack split -m 'calc: f40 doubles' && patchpack apply --all"
    )
    turns = scripts.session([task, task], scripts.puppy_patchpack)
    assert turns[-1].text.startswith("Done") and sum(not t.calls for t in turns) == 1


def _post(url: str, messages: list[dict[str, object]]) -> None:
    body = json.dumps(
        {"model": "m", "messages": messages, "tools": [{"type": "function", "function": {"name": "shell"}}]}
    )
    request = urllib.request.Request(
        f"{url}/v1/chat/completions", body.encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        reply.read()


def test_the_fairness_check_catches_an_edit_of_code_no_tool_result_showed() -> None:
    edit = call(
        "replace_in_file",
        file_path="calc.py",
        replacements=[{"old_str": "def f7(x):\n    return x + 7\n", "new_str": "..."}],
    )
    script = [call("read_file", file_path="calc.py", start_line=1, num_lines=4), edit, say("Done.")]
    shown = json.dumps({"content": "def f0(x):\n    return x + 0\n", "num_tokens": 9})
    with Endpoint(script) as ep:
        _post(ep.url, [{"role": "user", "content": "go"}])
        _post(
            ep.url,
            [{"role": "user", "content": "go"}, {"role": "tool", "tool_call_id": "1", "content": shown}],
        )
    [violation] = fairness.check(script, ep.scripted)
    assert violation.request == 1 and violation.unseen == "def f7(x):"
    assert "request 2 edits calc.py at 'def f7(x):'" in str(violation)

    # The same edit after a read that showed it (as Code Puppy sends it: JSON, and as Claude
    # Code numbers it: "     8\t...") is fair.
    for seen in (json.dumps({"content": module(8)}), "     29\tdef f7(x):\n     30\t    return x + 7\n"):
        with Endpoint(script) as ep:
            _post(ep.url, [{"role": "user", "content": "go"}])
            _post(ep.url, [{"role": "tool", "tool_call_id": "1", "content": seen}])
        assert fairness.check(script, ep.scripted) == []


def test_the_bench_refuses_a_directory_that_is_not_a_repository(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert f"{tmp_path} is not a git repository" in proc.stderr and proc.stdout == ""


def test_the_cadence_bench_takes_only_patchpack_settings_and_a_repository(
    history: Path, tmp_path: Path
) -> None:
    cadence = ROOT / "bench" / "session_cadence.py"
    proc = subprocess.run(
        [sys.executable, str(cadence), str(history), "--set", "HOME=/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "PATCHPACK_NAME=VALUE" in proc.stderr, proc.stderr
    proc = subprocess.run(
        [sys.executable, str(cadence), str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert f"{tmp_path} is not a git repository" in proc.stderr and proc.stdout == ""


def bench(history: Path, client: str, cache: Path, png: Path) -> dict[str, object]:
    env = {**os.environ, "PATCHPACK_CLIENTS_CACHE": str(cache)}
    proc = subprocess.run(
        [sys.executable, str(BENCH), str(history), "1", "--clients", client, "--json", "--png", str(png)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures: dict[str, object] = json.loads(proc.stdout)
    return figures


def test_one_task_through_the_real_code_puppy(history: Path, code_puppy: CodePuppy, tmp_path: Path) -> None:
    figures = bench(history, "code-puppy", code_puppy.venv.parent, tmp_path / "s.png")
    result = figures["clients"]["code-puppy"]  # type: ignore[index]
    naive, packed = result["naive"], result["patchpack"]
    # Both made f41's change (the newest run of one commit) through their real edit tool, and
    # every request of the session was counted: Code Puppy's own total is the endpoint's.
    assert figures["tasks"] == [git(history, "rev-parse", "HEAD").strip()]
    for agent in (naive, packed):
        assert agent["client_input_tokens"] == agent["input_tokens"] == sum(agent["per_request"])
        assert agent["max_request"] == max(agent["per_request"])
    # The plugin put the session into the clone's ledger, to the token.
    assert packed["ledger_total"] == packed["input_tokens"] and naive["ledger_total"] is None
    # The naive agent read calc.py whole; the patchpack agent asked for f41's lines.
    assert naive["input_tokens"] > packed["input_tokens"]
    assert result["ratio"] == round(naive["input_tokens"] / packed["input_tokens"], 2)


def test_one_task_through_the_real_claude_code(
    history: Path, npm_clients: NpmClients, tmp_path: Path
) -> None:
    figures = bench(history, "claude-code", npm_clients.prefix.parent, tmp_path / "s.png")
    result = figures["clients"]["claude-code"]  # type: ignore[index]
    naive, packed = result["naive"], result["patchpack"]
    for agent in (naive, packed):
        assert agent["client_input_tokens"] == agent["input_tokens"] == sum(agent["per_request"])
    # The guard's Stop hook imported the session's transcript into the clone's ledger.
    assert packed["ledger_total"] == packed["input_tokens"] and naive["ledger_total"] is None
    assert naive["input_tokens"] > packed["input_tokens"]
    # Claude Code's fixed overhead on every request bounds the ratio; the bench says how far.
    assert result["overhead_floor_tokens"] == packed["first_request"] * packed["requests"]
    assert result["ratio"] <= result["ratio_cap"]


def test_claude_codes_patchpack_agent_reads_the_first_hunks_lines_not_the_span(history: Path) -> None:
    text = (history / "calc.py").read_text()
    write(history / "calc.py", text.replace("x + 10\n", "x - 10\n").replace("x + 50\n", "x - 50\n"))
    git(history, "commit", "-q", "-am", "calc: f10 and f50 subtract")
    [task] = find_tasks(history, 1)
    assert [e.symbol for e in task.edits] == ["def f10", "def f50"]
    calls = [c for turn in scripts.claude_patchpack(task, "/r") for c in turn.calls]
    # Claude Code edits only a file it has read: one narrow Read, the pack shows the rest.
    [read] = [c.arguments for c in calls if c.name == "Read"]
    assert read == {"file_path": "/r/calc.py", "offset": 36, "limit": 13}
    assert calls[1].arguments["command"] == ("patchpack context --at calc.py:36-48 --at calc.py:196-208")
