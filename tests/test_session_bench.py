"""bench/session_tokens.py (#19): the tasks it takes from a repository's history, the scripts
it gives the model, the fairness check, and one small session per real client."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import ROOT, git, write

sys.path.insert(0, str(ROOT / "bench"))

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


