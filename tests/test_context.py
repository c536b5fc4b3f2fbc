"""`patchpack context`: the work diff, sides and bases, function context, budget fitting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchpack.context import pack as context
from patchpack.git import Repo
from patchpack.tokens import get_counter

from conftest import git, lines, run_patchpack, write

FUNCS = "".join(
    f"def f{i}(x):\n" + "".join(f"    y{j} = x + {j}\n" for j in range(6)) + "    return x\n\n\n"
    for i in range(12)
)


def _diff_paths(stdout: str) -> list[str]:
    data = json.loads(stdout)
    return [p["path"] for s in data["sections"] if s["kind"] == "diff" for p in s["parts"]]


def test_staged_and_unstaged_against_head_by_default(cli, committed: Path) -> None:
    write(committed / "staged.txt", "s\n")
    git(committed, "add", "staged.txt")
    write(committed / "README.md", "# test\nmore\n")
    r = cli("context")
    assert r.exit_code == 0
    assert r.stdout.startswith("## diff: git diff HEAD (2 files, ")
    assert "+more" in r.stdout and "+s" in r.stdout
    assert r.stderr.endswith("tokens (cl100k_base) of budget 50000\n")
    assert _diff_paths(cli("context", "--json", "--cached").stdout) == ["staged.txt"]
    assert _diff_paths(cli("context", "--json", "--worktree").stdout) == ["README.md"]


def test_empty_repository_diffs_against_the_empty_tree(cli, repo: Path) -> None:
    assert cli("context").stdout == ""
    write(repo / "a.py", "x = 1\n")
    git(repo, "add", "a.py")
    write(repo / "a.py", "x = 2\n")
    for args in [(), ("--cached",), ("-W",)]:
        r = cli("context", *args)
        assert r.exit_code == 0, r.stderr
        assert "new file mode" in r.stdout
    assert "@@ -0,0 +1 @@\n+x = 2\n" in cli("context", "-W").stdout
    assert "+x = 1" in cli("context", "--cached").stdout
    assert "+x = 2" in cli("context").stdout


def test_base_revision_and_bad_base(cli, committed: Path) -> None:
    write(committed / "README.md", "# test\nsecond\n")
    git(committed, "commit", "-qam", "second")
    assert cli("context").stdout == ""
    r = cli("context", "--base", "HEAD~1")
    assert r.stdout.startswith("## diff: git diff HEAD~1 (1 file") and "+second" in r.stdout
    r = run_patchpack("context", "--base", "no-such-rev", cwd=committed)
    assert r.returncode == 2 and "bad revision for --base: no-such-rev" in r.stderr
    r = run_patchpack("context", "--worktree", "--base", "HEAD", cwd=committed)
    assert r.returncode == 2


def test_renames_are_detected(cli, committed: Path) -> None:
    write(committed / "src.txt", lines(20))
    git(committed, "add", "src.txt")
    git(committed, "commit", "-qm", "src")
    git(committed, "mv", "src.txt", "dst.txt")
    r = cli("context")
    assert "rename from src.txt\nrename to dst.txt" in r.stdout


def test_function_context_widens_to_the_python_function_only(cli, committed: Path) -> None:
    write(committed / "f.py", FUNCS)
    git(committed, "add", "f.py")
    git(committed, "commit", "-qm", "funcs")
    write(committed / "f.py", FUNCS.replace("def f5(x):\n    y0 = x + 0\n", "def f5(x):\n    y0 = x + 100\n"))
    plain = cli("context").stdout
    assert "    y5 = x + 5" not in plain
    widened = cli("context", "--function-context").stdout
    f5 = FUNCS.split("def f5(x):\n")[1].split("\n\n\n")[0]
    for line in f5.splitlines()[1:]:
        assert f" {line}\n" in widened
    assert "def f4" not in widened and "def f6" not in widened
    assert "@@ -51,8 +51,8 @@" in widened  # the hunk header is redone for the window
    body = json.loads(cli("context", "-W", "--json").stdout)["sections"][0]["parts"][0]["text"]
    git(committed, "apply", "--check", "-R", input=body)  # the redone headers are right


CLASSY = '''"""Module."""
import os

LIMIT = 3
NAMES = (
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
)


class Box:
    """A box."""

    size = 3

    def width(self):
        a = 1
        b = 2
        return self.size * 2

    def height(self):
        def inner(v):
            return v + 1
        c = 3
        return inner(self.size)


def omega():
    x = 1
    y = 2
    return x + y
'''


def _shown(repo: Path, text: str) -> set[int]:
    """The new-side lines `context -W` shows for the work tree's f.py set to ``text``."""
    write(repo / "f.py", text)
    pack = context.build(
        Repo.discover(repo), context.Request(function_context=True), get_counter("cl100k_base")
    )
    shown, line = set(), 0
    body = pack.parts[0].body
    for row in body[body.index("\n@@ ") + 1 :].splitlines():
        if row.startswith("@@"):
            line = int(row.split("+")[1].split(",")[0].split(" ")[0])
        elif row[:1] in (" ", "+"):
            shown.add(line)
            line += 1
    return shown


@pytest.fixture
def classy(committed: Path) -> Path:
    write(committed / "f.py", CLASSY)
    git(committed, "add", "f.py")
    git(committed, "commit", "-qm", "classy")
    return committed


def _span(text: str, first: str, last: str) -> set[int]:
    rows = text.splitlines()
    start = next(i for i, r in enumerate(rows, 1) if r.startswith(first))
    return set(range(start, next(i for i, r in enumerate(rows, 1) if r.startswith(last) and i >= start) + 1))


def test_function_context_a_method_not_its_class(classy: Path) -> None:
    text = CLASSY.replace("        b = 2\n", "        b = 22\n")
    assert _shown(classy, text) == _span(text, "    def width", "        return self.size")


def test_function_context_innermost_def(classy: Path) -> None:
    text = CLASSY.replace("v + 1", "v + 2")
    assert _shown(classy, text) == _span(text, "        def inner", "            return v")


def test_function_context_class_level_statement_takes_the_class(classy: Path) -> None:
    text = CLASSY.replace("    size = 3\n", "    size = 4\n")
    assert _shown(classy, text) == _span(text, "class Box", "        return inner")


def test_function_context_a_new_method_and_its_blank_lines(classy: Path) -> None:
    # The blank line that comes with a new method sits between methods: not the whole class.
    text = CLASSY.replace("    def height", "    def depth(self):\n        return 0\n\n    def height")
    shown = _shown(classy, text)
    assert _span(text, "    def depth", "        return 0") <= shown
    assert not _span(text, "    def width", "        return self.size") <= shown
    assert not _span(text, '    """A box', '    """A box') & shown


def test_function_context_module_level_gets_three_lines(classy: Path) -> None:
    text = CLASSY.replace('    "e",', '    "E",')
    at = text.splitlines().index('    "E",') + 1
    assert _shown(classy, text) == set(range(at - 3, at + 4))


def test_function_context_a_removed_line_takes_its_function_as_it_is_now(classy: Path) -> None:
    # The last line of width goes: the line after it is between methods, yet width is shown.
    text = CLASSY.replace("        return self.size * 2\n", "")
    assert _shown(classy, text) == _span(text, "    def width", "        b = 2")
    # A whole method removed: the class around it is not widened to.
    text = CLASSY.replace(
        "    def width(self):\n        a = 1\n        b = 2\n        return self.size * 2\n\n", ""
    )
    assert len(_shown(classy, text)) <= 7


def test_function_context_python_that_does_not_parse_uses_the_heuristic(classy: Path) -> None:
    text = CLASSY.replace("        b = 2\n", "        b = (2\n")
    assert _span(text, "    def width", "        return self.size") <= _shown(classy, text)


def test_merge_in_progress_and_detached_head(cli, committed: Path) -> None:
    git(committed, "checkout", "-qb", "other")
    write(committed / "README.md", "# other\n")
    git(committed, "commit", "-qam", "other")
    git(committed, "checkout", "-q", "main")
    write(committed / "README.md", "# main\n")
    git(committed, "commit", "-qam", "main")
    git(committed, "merge", "other", check=False)
    for args in [(), ("--worktree",), ("-W", "--worktree")]:
        r = cli("context", *args)
        assert r.exit_code == 0 and "<<<<<<<" in r.stdout
    git(committed, "merge", "--abort")
    git(committed, "checkout", "-q", "--detach", "HEAD~1")
    write(committed / "README.md", "# detached\n")
    assert "+# detached" in cli("context").stdout


def test_untracked_files_are_in_the_work_diff_unless_tracked_only(cli, committed: Path) -> None:
    write(committed / ".gitignore", "*.log\n")
    write(committed / "new.py", "def fresh():\n    return 1\n")
    write(committed / "build.log", "ignored\n")
    write(committed / "blob.bin", b"\0\1\2")
    (committed / "cfg").symlink_to(".git/config")
    write(committed / ".Git" / "x", "a path git refuses to index\n")
    git(committed, "remote", "add", "origin", "https://user:s3cret@example.com/x.git")
    before = git(committed, "status", "--porcelain")
    r = cli("context")
    assert r.exit_code == 0, r.stderr
    # As `git add -N` then `git diff HEAD` shows them: a new file, every line added.
    assert (
        "diff --git a/new.py b/new.py\nnew file mode 100644\n" in r.stdout
        and "--- /dev/null\n+++ b/new.py\n@@ -0,0 +1,2 @@\n+def fresh():\n" in r.stdout
    )
    assert "Binary files /dev/null and b/blob.bin differ" in r.stdout
    assert "new file mode 120000" in r.stdout and "+.git/config" in r.stdout
    assert "s3cret" not in r.stdout and "build.log" not in r.stdout
    assert _diff_paths(cli("context", "--json").stdout) == [".gitignore", "blob.bin", "cfg", "new.py"]
    assert _diff_paths(cli("context", "--json", "--worktree").stdout) == [
        ".gitignore",
        "blob.bin",
        "cfg",
        "new.py",
    ]
    assert "+def fresh():" in cli("context", "-W").stdout
    assert r.stdout.startswith("## diff: git diff HEAD, untracked files as new (4 files, ")
    tight = cli("context", "--budget", "60")
    assert "- diff of new.py: `git diff --no-index -- /dev/null new.py`" in tight.stdout
    for args in [("--tracked-only",), ("--cached",)]:
        assert _diff_paths(cli("context", "--json", *args).stdout) == [], args
    assert git(committed, "status", "--porcelain") == before  # the index is not touched


def test_large_untracked_files_fit_the_budget_as_any_diff(cli, committed: Path) -> None:
    write(committed / "big.txt", lines(3000))
    write(committed / "huge.bin", b"\0" * (3 << 20))
    write(committed / "huge.log", lines(200_000))
    write(committed / "small.txt", lines(3))
    assert _diff_paths(cli("context", "--json").stdout) == ["big.txt", "small.txt"]
    r = cli("context", "--budget", "500")
    assert r.exit_code == 0, r.stderr
    assert "+line 3\n" in r.stdout and "line 2999" not in r.stdout  # the largest went first
    assert "- diff of big.txt: `git diff --no-index -- /dev/null big.txt`" in r.stdout
    # Past 1 MiB a file is left out unread, with how to ask for a part of a text one.
    assert "patchpack: huge.bin: untracked, 3.0 MiB: left out of the diff\n" in r.stderr
    assert (
        "patchpack: huge.log: untracked, 2.2 MiB: left out of the diff; ask for a part "
        "with `patchpack context --at huge.log:1-80`"
    ) in r.stderr


def test_not_a_repository_exits_2(tmp_path: Path) -> None:
    r = run_patchpack("context", cwd=tmp_path)
    assert r.returncode == 2 and "not a git repository" in r.stderr


# -- budget -----------------------------------------------------------------------------------


@pytest.fixture
def busy(committed: Path) -> Path:
    """A repository with a diff over two files and code to locate in several others."""
    for i in range(4):
        write(committed / f"pkg/m{i}.py", FUNCS.replace("y3", f"needle{i}"))
    write(committed / "big.txt", lines(150))
    git(committed, "add", "-A")
    git(committed, "commit", "-qm", "code")
    changed = FUNCS.replace("y3", "needle0").replace("needle0 = x + 3", "needle0 = x + 33", 1)
    write(committed / "pkg/m0.py", changed.replace("return x", "return 1", 1))
    write(committed / "big.txt", lines(150).replace("line 7\n", "changed 7\n"))
    return committed


def _build(repo: Path, budget: int, greps: tuple[str, ...] = ("needle[0-3]", "return x")) -> context.Pack:
    request = context.Request(function_context=True, greps=greps, ats=("big.txt:10-40",), budget=budget)
    return context.build(Repo.discover(repo), request, get_counter("cl100k_base"))


def test_everything_fits_a_large_budget(busy: Path) -> None:
    pack = _build(busy, 50_000)
    assert not pack.dropped
    assert {p.section for p in pack.parts} == {"diff", "located", "explicit"}
    assert pack.tokens == get_counter().count(pack.text)
    assert pack == _build(busy, 50_000)  # deterministic


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(min_value=0, max_value=4_000))
def test_budget_is_never_exceeded(busy: Path, budget: int) -> None:
    pack = _build(busy, budget)
    assert pack.tokens == get_counter().count(pack.text) <= budget
    full = _build(busy, 1_000_000)
    kept = {(p.section, p.path, p.start) for p in pack.parts}
    # What is missing is listed with the command that asks for it.
    for part in full.parts:
        if (part.section, part.path, part.start) not in kept and pack.parts:
            assert any(d.ask == part.ask for d in pack.dropped), part.describe()


@pytest.mark.parametrize("share", [0.2, 0.4, 0.6, 0.8, 0.9])
def test_degrades_ranges_then_hunks_then_the_diff(busy: Path, share: float) -> None:
    full = _build(busy, 1_000_000, greps=("needle[0-3]",))
    pack = _build(busy, int(full.tokens * share), greps=("needle[0-3]",))
    sections = {p.section for p in pack.parts}
    assert pack.dropped
    if "located" in sections:
        assert "explicit" not in sections
    if any(p.label == "shortened" for p in pack.parts):
        assert sections == {"diff"}
        assert "shortened to its changed lines: `git diff HEAD -- " in pack.text
    if len([p for p in pack.parts if p.section == "diff"]) < 2:
        assert sections <= {"diff"}


def test_shortened_diff_keeps_the_changed_lines(busy: Path) -> None:
    full = _build(busy, 1_000_000)
    diff_tokens = sum(p.tokens for p in full.parts if p.section == "diff")
    short = _build(busy, diff_tokens + 20, greps=())
    assert any(p.label == "shortened" for p in short.parts)
    assert "-    needle0 = x + 3\n+    needle0 = x + 33\n" in short.text
    assert "     y1 = x + 1" not in short.text


def test_budget_warnings_and_dropped_list_in_the_cli(cli, busy: Path) -> None:
    full = _build(busy, 1_000_000).tokens
    r = cli("context", "-W", "--grep", "needle[0-3]", "--budget", str(int(full / 0.8)))
    assert "warning: the context pack is at" in r.stderr
    assert "narrow the request with --path GLOB" in r.stderr
    r = cli("context", "-W", "--grep", "needle[0-3]", "--budget", "300")
    assert "## dropped to fit the budget" in r.stdout
    assert "a hunk with `patchpack context --at PATH:START-END`\n- located pkg/m" in r.stdout
    assert "dropped or shortened parts to fit" in r.stderr
    quiet = cli("context", "-W", "--grep", "needle[0-3]", "--budget", "1000000")
    assert "warning" not in quiet.stderr


def test_budget_from_git_config_and_json(cli, busy: Path) -> None:
    git(busy, "config", "patchpack.contextBudget", "200")
    data = json.loads(cli("context", "--json", "--grep", "needle1").stdout)
    assert data["budget"] == 200 and data["counter"] == "cl100k_base"
    assert data["tokens"] <= 200 and data["dropped"]
    data = json.loads(cli("context", "--json", "--grep", "needle1", "--budget", "9000").stdout)
    located = next(s for s in data["sections"] if s["kind"] == "located")
    assert located["source"] == "--grep needle1"
    assert [(p["path"], p["start"], p["label"]) for p in located["parts"]] == [
        ("pkg/m1.py", 1 + 10 * i, f"def f{i}") for i in range(12)
    ]
    assert all(set(p) >= {"start", "end", "tokens", "text"} for p in located["parts"])
