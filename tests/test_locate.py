"""Located hunks and explicit ranges, through `patchpack context --grep/--at`."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from patchpack.context import blocks, locate
from patchpack.context import pack as context
from patchpack.git import Repo
from patchpack.tokens import get_counter

from conftest import git, lines, run_patchpack, write

PY = '''import os


def alpha(x):
    """Alpha."""
    if x:
        return needle(x)
    return 0


class Box:
    size = 3

    @property
    def width(self):
        return self.size * 2

    def height(self):
        return needle(self.size)


def omega():
    return 1
'''

JS = """const a = 1;

function first(x) {
  if (x > 1) {
    return needle(x);
  }
  return 0;
}

function second() {
  return 2;
}
"""

C = """#include <stdio.h>

int main(void)
{
    for (int i = 0; i < 3; i++) {
        needle(i);
    }
    return 0;
}

static int other(void)
{
    return 1;
}
"""


def _commit(repo: Path, files: dict[str, str | bytes]) -> None:
    for name, text in files.items():
        write(repo / name, text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "files")


def _hunks(cli, *args: str) -> list[tuple[str, int, int, str]]:
    r = cli("context", "--json", *args)
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    return [
        (p["path"], p["start"], p["end"], p["label"])
        for s in data["sections"]
        if s["kind"] in ("located", "explicit")
        for p in s["parts"]
    ]


def test_python_hit_returns_the_whole_function_and_nothing_else(cli, repo: Path) -> None:
    _commit(repo, {"m.py": PY})
    assert _hunks(cli, "--grep", "return needle\\(x\\)") == [("m.py", 4, 8, "def alpha")]
    r = cli("context", "--grep", "return needle\\(x\\)")
    body = r.stdout.split("```python\n")[1].split("```")[0]
    assert body == "".join(PY.splitlines(keepends=True)[3:8])
    assert "### m.py:4-8 (def alpha)" in r.stdout


def test_python_method_decorators_and_module_level(cli, repo: Path) -> None:
    _commit(repo, {"m.py": PY})
    assert _hunks(cli, "--grep", "size \\* 2") == [("m.py", 14, 16, "def width")]
    assert _hunks(cli, "--grep", "^import") == [("m.py", 1, 1, "")]


def test_hits_in_one_block_merge_and_adjacent_blocks_merge(cli, repo: Path) -> None:
    _commit(repo, {"m.py": PY})
    # Both hits sit in `alpha`: one hunk, listing both patterns.
    r = cli("context", "--json", "--grep", "Alpha", "--grep", "if x")
    parts = json.loads(r.stdout)["sections"][0]["parts"]
    assert [(p["start"], p["end"]) for p in parts] == [(4, 8)]
    # The class attribute's block (the class) holds the method's: one range, the class.
    assert _hunks(cli, "--grep", "size = 3", "--grep", "size \\* 2") == [("m.py", 11, 19, "class Box")]


def test_brace_languages_use_the_enclosing_function(cli, repo: Path) -> None:
    _commit(repo, {"web/a.js": JS, "main.c": C})
    assert _hunks(cli, "--grep", "needle", "--path", "*.js") == [("web/a.js", 3, 8, "function first(x) {")]
    assert _hunks(cli, "--grep", "needle", "--path", "*.c") == [("main.c", 3, 9, "int main(void)")]


def test_blocks_are_cut_to_max_hunk_lines(cli, repo: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(100))
    _commit(repo, {"big.py": f"def big():\n{body}    return needle\n"})
    assert _hunks(cli, "--grep", "x3 = 3", "--max-hunk-lines", "10") == [("big.py", 1, 10, "def big")]
    ((_path, start, end, _),) = _hunks(cli, "--grep", "needle", "--max-hunk-lines", "10")
    assert end - start + 1 <= 10 and start <= 102 <= end


def test_binary_and_non_utf8_files_are_skipped_with_a_note(cli, repo: Path) -> None:
    _commit(repo, {"data.bin": b"needle\0\1\2", "latin.txt": b"needle caf\xe9\n", "ok.txt": "needle\n"})
    r = cli("context", "--grep", "needle")
    assert r.exit_code == 0
    assert "### ok.txt:1-1" in r.stdout and "latin" not in r.stdout
    assert "data.bin: binary file skipped" in r.stderr
    assert "latin.txt: not UTF-8, skipped" in r.stderr


def test_only_tracked_files_are_searched(cli, repo: Path) -> None:
    _commit(repo, {"a.txt": "needle\n"})
    write(repo / "untracked.txt", "needle\n")
    assert _hunks(cli, "--grep", "needle") == [("a.txt", 1, 1, "")]


def test_no_match_says_so_and_exits_1(committed: Path) -> None:
    r = run_patchpack("context", "--grep", "nothing_matches_this", cwd=committed)
    assert r.returncode == 1
    assert "no match in tracked files for --grep 'nothing_matches_this'" in r.stderr


def test_bad_regex_exits_2(committed: Path) -> None:
    r = run_patchpack("context", "--grep", "foo(", cwd=committed)
    assert r.returncode == 2
    assert "bad --grep pattern 'foo('" in r.stderr and r.stdout == ""


def test_pattern_starting_with_a_dash(cli, repo: Path) -> None:
    _commit(repo, {"a.txt": "x --flag y\n"})
    assert _hunks(cli, "--grep", "--flag") == [("a.txt", 1, 1, "")]


# -- --at -------------------------------------------------------------------------------------


def test_at_range_symbol_and_small_whole_file(cli, repo: Path) -> None:
    _commit(repo, {"m.py": PY, "notes.txt": lines(5)})
    assert _hunks(cli, "--at", "m.py:2-3") == [("m.py", 2, 3, "")]
    assert _hunks(cli, "--at", "m.py:Box.height") == [("m.py", 18, 19, "def Box.height")]
    assert _hunks(cli, "--at", "m.py:omega") == [("m.py", 22, 23, "def omega")]
    assert _hunks(cli, "--at", "notes.txt") == [("notes.txt", 1, 5, "whole file")]
    assert _hunks(cli, "--at", "notes.txt:4-99") == [("notes.txt", 4, 5, "")]


def test_at_refuses_a_whole_large_file(cli, repo: Path) -> None:
    _commit(repo, {"big.txt": lines(300)})
    r = cli("context", "--at", "big.txt")
    assert r.exit_code == 1
    assert "big.txt has 300 lines, over --max-file-lines 200" in r.stderr
    assert "--at big.txt:1-80" in r.stderr
    assert r.stdout == ""
    assert _hunks(cli, "--at", "big.txt", "--max-file-lines", "300")[0][1:3] == (1, 300)
    assert _hunks(cli, "--at", "big.txt:250-260") == [("big.txt", 250, 260, "")]


def test_at_bad_input_exits_2(committed: Path) -> None:
    write(committed / "m.js", JS)
    for spec, message in [
        ("missing.py:1-2", "no such file"),
        ("../outside.txt", "outside the repository"),
        ("README.md:5-2", "bad range"),
        ("m.js:first", "FILE:SYMBOL works for Python files only"),
    ]:
        r = run_patchpack("context", "--at", spec, cwd=committed)
        assert r.returncode == 2, spec
        assert message in r.stderr, (spec, r.stderr)


def test_at_unknown_symbol_exits_1(cli, repo: Path) -> None:
    _commit(repo, {"m.py": PY})
    r = cli("context", "--at", "m.py:nope")
    assert r.exit_code == 1 and "no def or class nope in m.py" in r.stderr


def test_python_scopes_qualified_names_and_function_of() -> None:
    from patchpack.context.blocks import function_of, python_scopes

    scopes = python_scopes(PY)
    assert scopes is not None
    by_name = {s.name: (s.kind, s.start, s.end) for s in scopes}
    assert by_name == {
        "alpha": ("def", 4, 8),
        "Box": ("class", 11, 19),
        "Box.width": ("def", 14, 16),
        "Box.height": ("def", 18, 19),
        "omega": ("def", 22, 23),
    }
    names = {n: getattr(function_of(scopes, n), "name", None) for n in (1, 6, 11, 12, 13, 14, 19)}
    # module level, in a def, the class header and attribute, between methods, a decorator
    assert names == {1: None, 6: "alpha", 11: "Box", 12: "Box", 13: None, 14: "Box.width", 19: "Box.height"}
    assert python_scopes("def (") is None
    guarded = python_scopes("if True:\n    def f():\n        pass\n")
    assert guarded is not None and [s.name for s in guarded] == ["f"]


def test_under_a_tight_budget_the_definition_of_what_was_searched_stays(repo: Path) -> None:
    uses = "".join(f"def use{i}():\n    target()\n    return target()\n\n\n" for i in range(8))
    _commit(repo, {"a_uses.py": uses, "lib.py": "def target():\n    return 1\n"})
    for budget in range(50, 2000, 10):
        pack = context.build(
            Repo.discover(repo), context.Request(greps=("target",), budget=budget), get_counter("cl100k_base")
        )
        if pack.parts:
            break
    # Every hit is shortened to its matching lines before any goes; then the weakest go.
    assert [(p.path, p.label) for p in pack.parts] == [("lib.py", "def target; matching lines")]
    assert sum(d.what.startswith("located a_uses.py") for d in pack.dropped) == 8


# -- related: what located Python code uses from its file -------------------------------------

USES = (
    '''"""A module docstring,
over two lines."""

from __future__ import annotations

import os
from pathlib import Path

LIMIT = 10
UNUSED = 99


def helper(x):
    return x + LIMIT


def long_helper(a,
                b):
    """Long enough to show only its signature."""
'''
    + "".join(f"    a = a + {i}\n" for i in range(12))
    + """    return a


def lonely():
    return UNUSED


def target(path):
    if helper(len(path)) > LIMIT:
        return long_helper(os.sep, Path(path))
    return None
"""
)


def _related(cli, *args: str) -> list[tuple[str, int, int, str]]:
    r = cli("context", "--json", *args)
    assert r.exit_code == 0, r.stderr
    return [
        (p["path"], p["start"], p["end"], p["label"])
        for s in json.loads(r.stdout)["sections"]
        if s["kind"] == "related"
        for p in s["parts"]
    ]


def test_related_imports_constants_and_helpers_the_hit_uses(cli, repo: Path) -> None:
    _commit(repo, {"m.py": USES})
    assert _hunks(cli, "--grep", "def target") == [("m.py", 39, 42, "def target")]
    used = "used by def target"
    # The import block without the docstring; LIMIT, not UNUSED next to it; helper whole;
    # long_helper's signature only; lonely, which target does not call, not at all.
    assert _related(cli, "--grep", "def target") == [
        ("m.py", 4, 7, "imports"),
        ("m.py", 9, 9, f"LIMIT; {used}"),
        ("m.py", 13, 14, f"def helper; {used}"),
        ("m.py", 17, 18, f"def long_helper (signature); {used}"),
    ]
    r = cli("context", "--grep", "def target")
    assert "## related: imports and module-level definitions the located code uses (4 hunks" in r.stdout
    assert "### m.py:13-14 (def helper; used by def target)\n```python\ndef helper(x):\n" in r.stdout
    assert "UNUSED" not in r.stdout and "lonely" not in r.stdout


def test_related_leaves_out_what_the_hits_show_and_is_one_level_deep(cli, repo: Path) -> None:
    _commit(repo, {"m.py": USES})
    # helper is located itself: not repeated; LIMIT, which helper uses, is related to it.
    # What helper's callers use is not followed.
    found = _related(cli, "--grep", "def helper", "--grep", "def target")
    assert [(s, e) for _, s, e, _ in found] == [(4, 7), (9, 9), (17, 18)]
    assert _related(cli, "--grep", "return x \\+") == [
        ("m.py", 4, 7, "imports"),
        ("m.py", 9, 9, "LIMIT; used by def helper"),
    ]


def test_related_off_by_flag_setting_and_for_other_files(cli, repo: Path) -> None:
    _commit(
        repo,
        {
            "m.py": USES,
            "broken.py": "import os\nLIMIT = 1\ndef f(:\n  LIMIT\n",
            "a.js": "import x from 'y';\nconst LIMIT = 1;\nfunction f() { return LIMIT; }\n",
        },
    )
    assert _related(cli, "--grep", "def target", "--no-related") == []
    git(repo, "config", "patchpack.contextRelated", "false")
    assert _related(cli, "--grep", "def target") == []
    assert len(_related(cli, "--grep", "def target", "--related")) == 4
    git(repo, "config", "--unset", "patchpack.contextRelated")
    # Not Python, or Python that does not parse: nothing related.
    assert _related(cli, "--grep", "return LIMIT", "--grep", "^  LIMIT") == []


def test_related_hunks_are_dropped_before_any_hit(repo: Path) -> None:
    _commit(repo, {"m.py": USES, "other.py": "def other():\n    return 'target'\n"})
    full = context.build(Repo.discover(repo), context.Request(greps=("target",)), get_counter("cl100k_base"))
    assert {p.section for p in full.parts} == {"located", "related"}
    located = sum(p.tokens for p in full.parts if p.section == "located")
    seen = set()
    for budget in range(located // 2, full.tokens, 5):
        pack = context.build(
            Repo.discover(repo), context.Request(greps=("target",), budget=budget), get_counter("cl100k_base")
        )
        assert pack.tokens <= budget
        kept = [p for p in pack.parts if p.section == "located"]
        if len(kept) < 2:  # a hit dropped: every related hunk went before it
            assert all(p.section == "located" for p in pack.parts), budget
        gone = [d.what for d in pack.dropped]
        if any(w.startswith("located") for w in gone):
            assert sum(w.startswith("related") for w in gone) == 4
        seen.add((len(kept), sum(p.section == "related" for p in pack.parts)))
    assert (1, 0) in seen and (2, 0) in seen and any(r for _, r in seen)  # each case happened


# -- unbound: names a module reads and binds nowhere ------------------------------------------

BINDS = """from __future__ import annotations

import os.path
from typing import Any as A

LIMIT = 1
first, (second, third) = 1, (2, 3)


def f(a, /, b=LIMIT, *args: A, c: Missing, **kw) -> Path:
    global later
    later = [x for x in args if (y := x)]
    for i in range(a):
        del i
    with open(__file__) as handle:
        pass
    try:
        pass
    except OSError as error:
        raise error
    match b:
        case [head, *rest]:
            return head, rest, y, os.path, Missing
        case {"k": v, **others}:
            return v, others
        case str() as s:
            return s, lambda q: q + first + second + third + len(kw)
    return Path, handle, later


class C:
    attr: Missing = None
"""


def test_unbound_names_are_those_no_import_assignment_def_or_parameter_binds() -> None:
    tree = blocks.parse(BINDS.splitlines())
    assert tree is not None
    assert blocks.unbound(tree) == {
        n for n, text in enumerate(BINDS.splitlines(), 1) if "Missing" in text or "Path" in text
    }
    # A module that imports * may bind anything.
    assert blocks.unbound(ast.parse("from os import *\nprint(sep)\n")) == set()


def test_a_file_that_reads_the_name_without_binding_it_ranks_first(cli, repo: Path) -> None:
    _commit(
        repo,
        {
            "a.py": "from typing import BinaryIO\n\n\ndef read(f: BinaryIO) -> BinaryIO:\n    return f\n",
            "b.py": "from __future__ import annotations\n\n\ndef write(f: BinaryIO) -> None:\n"
            "    f.write(b'')\n",
        },
    )
    found = locate.locate(Repo.discover(repo), ["BinaryIO"])
    assert {(h.path, h.start, h.unbound) for h in found.hunks} == {
        ("a.py", 1, ()),
        ("a.py", 4, ()),
        ("b.py", 4, ("BinaryIO",)),
    }
    # The missing import is what a change naming BinaryIO most likely fixes: b.py's hunk comes
    # first, though a.py has more hits and sorts first.
    assert _hunks(cli, "--grep", "BinaryIO")[0] == ("b.py", 4, 5, "def write")


# -- git's own files never reach a pack (issue 15) ----------------------------------------------

SECRET = "s3cret-token"


def _with_secret(repo: Path) -> Path:
    """A repository whose config holds credentials in a remote URL, as `git clone` leaves them."""
    _commit(repo, {"m.py": PY})
    git(repo, "remote", "add", "origin", f"https://user:{SECRET}@example.com/x.git")
    return repo


def _refused(repo: Path, *args: str, cwd: Path | None = None) -> str:
    """Run `context ARGS`: exit 2, nothing printed of the file, nothing spent; the message."""
    r = run_patchpack("context", *args, cwd=cwd or repo)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert SECRET not in r.stdout + r.stderr and r.stdout == ""
    assert "inside the git directory" in r.stderr, (args, r.stderr)
    assert r.stderr.rstrip().splitlines()[-1].startswith("hint: ")
    assert not (repo / ".git" / "patchpack" / "pending.jsonl").exists()
    return r.stderr


def test_at_refuses_the_git_directory_however_it_is_named(repo: Path) -> None:
    _with_secret(repo)
    (repo / "sub").mkdir()
    (repo / "gd").symlink_to(".git")
    (repo / "cfg").symlink_to(".git/config")
    write(repo / ".Git" / "config", "a directory git itself would refuse to track\n")
    for spec in [
        ".git/config",
        ".git/config:1-40",
        "./.git/config",
        "sub/../.git/config",
        str(repo / ".git" / "config"),
        "gd/config",
        "cfg",
        "cfg:1-3",
        ".git",
        ".Git/config",
        ".git/HEAD",
    ]:
        assert f"--at {spec}: " in _refused(repo, "--at", spec)


def test_at_refuses_a_git_dir_by_any_name_and_a_linked_worktree(tmp_path: Path) -> None:
    main = tmp_path / "main"
    git(tmp_path, "init", "-q", f"--separate-git-dir={tmp_path / 'main' / 'meta'}", str(main))
    _with_secret(main)
    _refused(main, "--at", "meta/config")  # the git dir, though not named .git
    git(main, "worktree", "add", "-q", "inner")
    inner = main / "inner"
    _refused(main, "--at", "inner/.git")  # a linked worktree's pointer to its git dir
    # Inside the linked worktree: its own git dir and the common one.
    _refused(main, "--at", str(main / "meta" / "worktrees" / "inner" / "HEAD"), cwd=inner)
    r = run_patchpack("context", "--at", "../meta/config", cwd=inner)
    assert r.returncode == 2 and SECRET not in r.stdout + r.stderr


def test_fill_never_reads_through_a_symlink_out_of_the_work_tree(cli, repo: Path) -> None:
    _with_secret(repo)
    outside = write(repo.parent / "elsewhere.txt", f"def test_x():\n    url = '{SECRET}'\n")
    write(repo / "n.py", "def other():\n    return needle(2)\n")
    # Paired test files that fill reads: one a link into the git dir, one out of the tree.
    (repo / "test_m.py").symlink_to(".git/config")
    (repo / "test_n.py").symlink_to(outside)
    git(repo, "add", "n.py", "test_m.py", "test_n.py")
    git(repo, "commit", "-qm", "links")
    for budget in ("50000", "3000"):
        r = cli("context", "--grep", "needle", "--fill", "--budget", budget)
        assert r.exit_code == 0, r.stderr
        assert SECRET not in r.stdout + r.stderr and "def other" in r.stdout
