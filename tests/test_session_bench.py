"""bench/session_tokens.py (#19): the tasks it takes from a repository's history, the scripts
it gives the model, the fairness check, and one small session per real client."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest

from clients.endpoint import Endpoint, call, say
from conftest import ROOT, git, write

sys.path.insert(0, str(ROOT / "bench"))

from session import fairness, scripts
from session.tasks import find_tasks, task_of

BENCH = ROOT / "bench" / "session_tokens.py"


def module(n: int, changed: int | None = None) -> str:
    """A module of ``n`` small functions; function ``changed`` returns something else."""
    return "".join(f"def f{i}(x):\n    return x + {100 if i == changed else i}\n\n\n"
                   for i in range(n))


@pytest.fixture
def history(committed: Path) -> Path:
    """calc.py and its test, then two commits that each change calc.py in one place."""
    write(committed / "calc.py", module(60))
    write(committed / "tests" / "test_calc.py",
          "from calc import f1\n\n\ndef test_f1():\n    assert f1(1) == 2\n")
    git(committed, "add", ".")
    git(committed, "commit", "-q", "-m", "calc")
    for changed in (40, 41):
        text = (committed / "calc.py").read_text()
        write(committed / "calc.py", text.replace(f"return x + {changed}\n",
                                                  f"return x + {changed} * 2\n"))
        git(committed, "commit", "-q", "-am", f"calc: f{changed} doubles")
    return committed


def test_a_task_is_a_commit_with_its_hunks_and_the_test_that_names_its_module(
        history: Path) -> None:
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


def test_the_naive_agent_reads_whole_files_and_the_patchpack_agent_asks_for_the_hunk(
        history: Path) -> None:
    [task, _] = find_tasks(history, 2)
    naive = [c for turn in scripts.puppy_naive(task) for c in turn.calls]
    reads = [c.arguments for c in naive if c.name == "read_file"]
    # Every line of the file, in windows under Code Puppy's 10,000-character output limit.
    assert reads[0]["start_line"] == 1
    assert sum(r["num_lines"] for r in reads) == len(module(60).splitlines())
    assert [c.name for c in naive][-4:] == ["replace_in_file", "shell", "shell", "shell"]
    commands = [c.arguments["command"] for c in naive if c.name == "shell"]
    assert commands == ["python -m pytest tests/test_calc.py", "git diff",
                        "python -m pytest tests/test_calc.py",
                        "git add calc.py && git commit -q -m 'calc: f40 doubles'"]
    packed = [c.arguments.get("command") for turn in scripts.puppy_patchpack(task)
              for c in turn.calls]
    assert packed[:3] == ["patchpack context --grep 'def f40'",
                          "patchpack context --at calc.py:156-168",
                          "patchpack test tests/test_calc.py"]
    assert packed[-1] == ("git add calc.py && patchpack split -m 'calc: f40 doubles' && "
                          "patchpack apply --all")
    turns = scripts.session([task, task], scripts.puppy_patchpack)
    assert turns[-1].text.startswith("Done") and sum(not t.calls for t in turns) == 1


def _post(url: str, messages: list[dict[str, object]]) -> None:
    body = json.dumps({"model": "m", "messages": messages,
                       "tools": [{"type": "function", "function": {"name": "shell"}}]})
    request = urllib.request.Request(f"{url}/v1/chat/completions", body.encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        reply.read()


def test_the_fairness_check_catches_an_edit_of_code_no_tool_result_showed() -> None:
    edit = call("replace_in_file", file_path="calc.py",
                replacements=[{"old_str": "def f7(x):\n    return x + 7\n", "new_str": "..."}])
    script = [call("read_file", file_path="calc.py", start_line=1, num_lines=4), edit,
              say("Done.")]
    shown = json.dumps({"content": "def f0(x):\n    return x + 0\n", "num_tokens": 9})
    with Endpoint(script) as ep:
        _post(ep.url, [{"role": "user", "content": "go"}])
        _post(ep.url, [{"role": "user", "content": "go"},
                       {"role": "tool", "tool_call_id": "1", "content": shown}])
    [violation] = fairness.check(script, ep.scripted)
    assert violation.request == 1 and violation.unseen == "def f7(x):"
    assert "request 2 edits calc.py at 'def f7(x):'" in str(violation)

    # The same edit after a read that showed it (as Code Puppy sends it: JSON, and as Claude
    # Code numbers it: "     8\t...") is fair.
    for seen in (json.dumps({"content": module(8)}),
                 "     29\tdef f7(x):\n     30\t    return x + 7\n"):
        with Endpoint(script) as ep:
            _post(ep.url, [{"role": "user", "content": "go"}])
            _post(ep.url, [{"role": "tool", "tool_call_id": "1", "content": seen}])
        assert fairness.check(script, ep.scripted) == []

