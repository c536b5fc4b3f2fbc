"""`patchpack context --fill`: the order units are widened in, the budget, large files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchpack.context import locate, widen
from patchpack.context import pack as context
from patchpack.git import Repo
from patchpack.git.files import Worktree
from patchpack.tokens import get_counter

from conftest import git, run_patchpack, write

BOX = '''import os

LIMIT = 3


def helper(x):
    return x + LIMIT


class Box:
    """A box."""

    size = 3

    def width(self):
        return helper(self.size)

    # The one searched for.
    def needle(self):
        return self.width() * 2

    def far(self):
        return os.sep


def caller():
    return Box().needle()


def unrelated():
    return 1
'''

NOTES = "intro\ntext\n\n# Needle\nneedle here\n  indented\n\nnext para\nmore\n\nlast para\n"


@pytest.fixture
def boxed(committed: Path) -> Path:
    write(committed / "box.py", BOX)
    write(committed / "notes.md", NOTES)
    write(
        committed / "big.py",
        "".join(  # 300 lines, one match
            f"def f{i}(x):\n    {'needle' if i == 30 else 'y'} = x + {i}\n    return x\n\n\n"
            for i in range(60)
        ),
    )
    git(committed, "add", "-A")
    git(committed, "commit", "-qm", "code")
    return committed


def _plan(repo: Path, *greps: str, cap: int = 80) -> list[tuple[str, int, int, str]]:
    found = locate.locate(Repo.discover(repo), greps)
    units, _ = widen.plan(Worktree(repo), found.hunks, cap=cap)
    return [(u.path, u.start, u.end, u.label) for u in units]


def _build(
    repo: Path,
    budget: int,
    *,
    greps: tuple[str, ...] = ("needle",),
    max_file_lines: int = 200,
    fill: bool = True,
) -> context.Pack:
    request = context.Request(greps=greps, budget=budget, fill=fill, max_file_lines=max_file_lines)
    return context.build(Repo.discover(repo), request, get_counter())


def _shown(pack: context.Pack, path: str) -> set[int]:
    return {n for p in pack.parts if p.path == path for n in range(p.start, p.end + 1)}


def test_order_header_end_module_block_class_calls_then_neighbours(boxed: Path) -> None:
    found = locate.locate(Repo.discover(boxed), ["def needle"], paths=["box.py"])
    units, texts = widen.plan(Worktree(boxed), found.hunks, cap=80)
    assert texts["box.py"] == BOX.splitlines()
    # Each unit comes with the blank lines above it (a change removing it takes them along).
    assert [(u.start, u.end, u.label) for u in units] == [
        (1, 2, "header [header]"),  # imports: cheap, and where a change starts
        (28, 31, "[end of file]"),  # where new code is appended
        (2, 5, "LIMIT = 3 [module level]"),
        (17, 21, "def Box.needle [rest]"),  # its comment and blank lines belong to it
        (12, 14, "class Box [its class]"),  # the class's own statements, nearest first
        (8, 12, "class Box [its class]"),
        (14, 17, "def Box.width [called by needle]"),  # self.width(): through an attribute
        (24, 29, "def caller [calls needle]"),
        (4, 9, "def helper [called by width]"),  # two levels down the call tree
        (21, 25, "def Box.far [near]"),  # then outwards, one unit at a time
        (28, 31, "def unrelated [near]"),
    ]


def test_call_tree_goes_one_way(repo: Path) -> None:
    write(
        repo / "calls.py",
        "".join(
            f"def {name}():\n    return {body}\n\n\n"
            for name, body in [
                ("top", "mid()"),
                ("mid", "low()"),
                ("low", "1"),
                ("sibling", "1 + low()"),
                ("above", "top()"),
                ("far", "2"),
            ]
        ),
    )
    git(repo, "add", "-A")
    labels = [
        u.label
        for u in widen.plan(Worktree(repo), locate.locate(Repo.discover(repo), ["return low"]).hunks, cap=80)[
            0
        ]
    ]
    assert labels == [
        "[end of file]",
        "def mid [rest]",
        "def top [calls mid]",
        "def low [called by mid]",
        "def above [calls top]",
        # another caller of low is a sibling, not on the way up nor down
        "def sibling [near]",
        "def far [near]",
    ]


def test_a_function_called_by_name_is_a_callee(boxed: Path) -> None:
    assert ("box.py", 4, 9, "def helper [called by width]") in _plan(boxed, "return helper")


def test_headers_and_module_level_statements(repo: Path) -> None:
    write(
        repo / "mod.py",
        '"""Doc."""\n\nimport os\n\n__all__ = ["f"]\nX = 1\n\n\n'
        "def f():\n    return os.sep\n\n\nY = 2\n\n\ndef g():\n    return 3\n",
    )
    write(
        repo / "main.go",
        'package main\n\nimport (\n\t"fmt"\n)\n\nfunc a() {\n\tfmt.Println("needle")\n}\n\nfunc b() {\n}\n',
    )
    git(repo, "add", "-A")
    assert _plan(repo, "return os")[:4] == [
        ("mod.py", 1, 4, "header [header]"),  # docstring and imports, not what follows
        ("mod.py", 14, 17, "[end of file]"),
        ("mod.py", 4, 8, '__all__ = ["f"] [module level]'),  # nearest the match first
        ("mod.py", 11, 15, "Y = 2 [module level]"),
    ]
    assert _plan(repo, "needle")[:2] == [  # other languages: the import paragraphs too
        ("main.go", 1, 2, "package main [header]"),
        ("main.go", 2, 6, "import ( [header]"),
    ]


def test_test_files_end_first_and_their_other_tests_last(repo: Path) -> None:
    write(
        repo / "tests" / "test_a.py",
        "".join(f"def test_{i}():\n    assert {'needle' if i == 0 else i}\n\n\n" for i in range(5)),
    )
    write(
        repo / "a.py", "".join(f"def f{i}():\n    return {'needle' if i == 2 else i}\n\n\n" for i in range(5))
    )
    git(repo, "add", "-A")
    units = _plan(repo, "needle")
    # The last test whole: what a new test, appended after it, copies; the last lines of
    # other files: the context of a diff that appends.
    assert [u for u in units if "[end" in u[3]] == [
        ("a.py", 15, 20, "[end of file]"),
        ("tests/test_a.py", 15, 20, "def test_4 [end: last test]"),
    ]
    near = [(path, label) for path, _, _, label in units if label.endswith("[near]")]
    assert near[-4:] == [("tests/test_a.py", f"def test_{i} [near]") for i in (1, 2, 3, 4)]


def test_other_languages_widen_by_paragraph_and_cut_long_blocks(boxed: Path) -> None:
    assert _plan(boxed, "needle here") == [
        ("notes.md", 1, 3, "intro [header]"),
        ("notes.md", 9, 11, "[end of file]"),
        ("notes.md", 3, 7, "# Needle [rest]"),
        ("notes.md", 7, 10, "next para [near]"),
        ("notes.md", 10, 11, "last para [near]"),
    ]
    write(boxed / "long.py", "def long():\n" + "".join(f"    x{i} = {i}\n" for i in range(30)))
    git(boxed, "add", "long.py")
    # A block cut by --max-hunk-lines comes back first, in pieces, nearest the match first.
    assert [u for u in _plan(boxed, "x20 = ", cap=10) if u[3].endswith("[rest]")] == [
        ("long.py", 21, 30, "def long [rest]"),
        ("long.py", 11, 20, "def long [rest]"),
        ("long.py", 31, 31, "def long [rest]"),
        ("long.py", 1, 10, "def long [rest]"),
    ]


def test_strongest_file_first_within_a_step(boxed: Path) -> None:
    found = locate.locate(Repo.discover(boxed), ["needle"])
    for first in ("notes.md", "box.py"):
        ranked = sorted(found.hunks, key=lambda h: (h.path != first, h.path, h.start))
        units, _ = widen.plan(Worktree(boxed), ranked, cap=80)
        assert units[0].path == first and units[0].label.endswith("[header]")


def test_a_stronger_file_finishes_its_call_tree_and_neighbours_first(boxed: Path) -> None:
    found = locate.locate(Repo.discover(boxed), ["needle"])
    ranked = sorted(found.hunks, key=lambda h: (h.path != "big.py", h.path, h.start))

    def far(units: list[widen.Unit], *paths: str) -> list[int]:
        return [
            i
            for i, u in enumerate(units)
            if u.path in paths and u.label.endswith(("[near]", "by needle]", "calls needle]"))
        ]

    # As strong (no strength given): the files fill together, a ring at a time, so the
    # 60 functions of big.py are still coming when box.py is whole.
    tied, _ = widen.plan(Worktree(boxed), ranked, cap=80)
    assert max(far(tied, "box.py")) < max(far(tied, "big.py"))
    # big.py's hit is stronger: its neighbours all come first; the cheap steps (headers,
    # ends, module level) still go across files before them.
    units, _ = widen.plan(Worktree(boxed), ranked, cap=80, strength=lambda h: (h.path != "big.py",))
    assert max(far(units, "big.py")) < min(far(units, "box.py", "notes.md"))
    cheap = [i for i, u in enumerate(units) if u.label.endswith(("[header]", "[end of file]"))]
    assert {units[i].path for i in cheap} == {"box.py", "big.py", "notes.md"}
    assert max(cheap) < min(far(units, "big.py"))
    assert sorted(units, key=lambda u: (u.path, u.start)) == sorted(
        tied, key=lambda u: (u.path, u.start)
    )  # the same units, in another order


def test_a_file_missing_the_import_of_the_name_fills_first(committed: Path) -> None:
    def module(head: str) -> str:
        return head + "".join(
            f"\n\ndef f{i}(x{': BinaryIO' if i == 15 else ''}):\n    return x + {i}\n" for i in range(30)
        )

    # Both use the name once, as an annotation; loose.py never imports it (what a commit
    # naming BinaryIO most likely fixes), typed.py does.
    write(committed / "loose.py", module("from __future__ import annotations\n"))
    write(committed / "typed.py", module("from typing import BinaryIO\n"))
    git(committed, "add", "-A")
    git(committed, "commit", "-qm", "code")
    plain = _build(committed, 50_000, greps=("BinaryIO",), fill=False)
    budget = plain.tokens + get_counter().count((committed / "loose.py").read_text()) + 100
    pack = _build(committed, budget, greps=("BinaryIO",))
    total = len((committed / "typed.py").read_text().splitlines())
    assert len(_shown(pack, "loose.py")) == total
    assert len(_shown(pack, "typed.py")) < total / 2


def test_fill_spends_the_budget_and_shows_whole_small_files(boxed: Path) -> None:
    plain = _build(boxed, 50_000, greps=("def needle",), fill=False)
    pack = _build(boxed, 50_000, greps=("def needle",))
    assert pack.tokens > plain.tokens and not pack.dropped
    assert _shown(pack, "box.py") >= {n for n, text in enumerate(BOX.splitlines(), 1) if text.strip()}
    widened = [p for p in pack.parts if p.section == "widened"]
    assert "## widened: --fill: " in pack.text and widened
    assert (
        not _shown(pack, "box.py")
        - _shown(plain, "box.py")
        - {n for p in widened for n in range(p.start, p.end + 1)}
    )
    # No line twice: widened hunks leave out what the other sections show.
    seen = [n for p in pack.parts if p.path == "box.py" for n in range(p.start, p.end + 1)]
    assert len(seen) == len(set(seen))
    assert pack.warnings() == []  # near the budget on purpose


def test_large_files_are_never_whole(boxed: Path) -> None:
    total = len((boxed / "big.py").read_text().splitlines())
    assert total > 200
    pack = _build(boxed, 1_000_000)
    # Fill covers it piecewise but keeps the farthest unit's code out (def f0, 30 units
    # from the match in f30): ask for it with --at.
    assert set(range(1, total + 1)) - _shown(pack, "big.py") == {1, 2, 3}
    assert len(_shown(pack, "notes.md")) == len(NOTES.splitlines())  # small: whole
    raised = _build(boxed, 1_000_000, max_file_lines=1000)
    assert len(_shown(raised, "big.py")) == total


def test_widened_lines_take_in_the_hunks_they_touch(boxed: Path) -> None:
    plain = _build(boxed, 50_000, greps=("def needle",), fill=False)
    pack = _build(boxed, 50_000, greps=("def needle",))
    box = [p for p in pack.parts if p.path == "box.py"]
    # The whole small file reads as one hunk: the match first in its label.
    assert [(p.section, p.start, p.end) for p in box] == [("widened", 1, len(BOX.splitlines()))]
    assert box[0].label.startswith("def needle [located] and ")
    assert box[0].body == BOX
    assert {p.section for p in plain.parts if p.path == "box.py"} == {"located", "related"}
    assert "## located" not in pack.text and pack.tokens < plain.tokens + get_counter().count(BOX)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(min_value=0, max_value=3_000), max_file_lines=st.sampled_from([5, 50, 200, 10_000]))
def test_budget_is_never_exceeded(boxed: Path, budget: int, max_file_lines: int) -> None:
    pack = _build(boxed, budget, max_file_lines=max_file_lines)
    assert pack.tokens == get_counter().count(pack.text) <= budget
    plain = _build(boxed, budget, max_file_lines=max_file_lines, fill=False)
    assert _shown(pack, "box.py") >= _shown(plain, "box.py")  # fill only adds


def test_deterministic(boxed: Path) -> None:
    assert _build(boxed, 1_500) == _build(boxed, 1_500)


def test_nothing_to_widen_without_grep_or_when_parts_were_dropped(boxed: Path) -> None:
    assert not _build(boxed, 50_000, greps=()).parts
    tight = _build(boxed, 60)
    assert tight.dropped and not tight.filled


def test_cli_flag_setting_and_json(cli, boxed: Path) -> None:
    r = cli("context", "--grep", "def needle", "--fill", "--budget", "2000", "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    kinds = [s["kind"] for s in data["sections"]]
    assert kinds[-1] == "widened" and data["tokens"] <= 2000
    assert "warning" not in r.stderr and "narrow the request" not in r.stderr
    git(boxed, "config", "patchpack.contextFill", "true")
    assert "## widened: " in cli("context", "--grep", "def needle").stdout
    assert "## widened: " not in cli("context", "--grep", "def needle", "--no-fill").stdout
    assert (
        run_patchpack("context", "--grep", "def needle", "--no-fill", "--budget", "10", cwd=boxed).returncode
        == 0
    )


def test_binary_and_unreadable_files_are_not_widened(cli, boxed: Path) -> None:
    write(boxed / "data.bin", b"needle\0\1\2")
    write(boxed / "latin.txt", "needle caf\xe9\n".encode("latin-1"))
    git(boxed, "add", "-A")
    git(boxed, "commit", "-qm", "unreadable")
    r = cli("context", "--grep", "needle", "--fill", "--json")
    assert r.exit_code == 0, r.stderr
    paths = {p["path"] for s in json.loads(r.stdout)["sections"] for p in s["parts"]}
    assert paths == {"box.py", "notes.md", "big.py"}


def test_paired_tests_by_the_usual_names_nearest_first() -> None:
    tracked = [
        "pkg/cli.py",
        "tests/test_cli.py",
        "tests/other/test_cli.py",
        "pkg/test_cli.py",
        "tests/test_box.py",
        "web/app.ts",
        "web/app.test.ts",
        "go/run.go",
        "go/run_test.go",
        "src/Main.java",
        "test/MainTest.java",
        "tests/test_x.py",
    ]
    pairs = widen.paired_tests(
        ["pkg/cli.py", "web/app.ts", "go/run.go", "src/Main.java", "tests/test_x.py", "README"], tracked
    )
    assert pairs == {
        "pkg/cli.py": ["pkg/test_cli.py"],  # beside it beats tests/, which beats tests/other/
        "web/app.ts": ["web/app.test.ts"],
        "go/run.go": ["go/run_test.go"],
        "src/Main.java": ["test/MainTest.java"],
    }  # a test file pairs with nothing
    assert widen.paired_tests(["a/cli.py"], ["tests/test_cli.py", "tests/b/test_cli.py"]) == {
        "a/cli.py": ["tests/test_cli.py"]
    }


def test_fill_adds_the_last_test_of_a_paired_test_file(committed: Path) -> None:
    write(
        committed / "pkg" / "box.py",
        "".join(f"def f{i}():\n    return {'needle' if i == 2 else i}\n\n\n" for i in range(5)),
    )
    # 300 lines: over --max-file-lines, yet its end alone is not the whole file.
    write(
        committed / "tests" / "test_box.py",
        "".join(f"def test_{i}():\n    assert {i}\n\n\n" for i in range(75)),
    )
    write(committed / "tests" / "test_other.py", "def test_other():\n    assert 0\n")
    git(committed, "add", "-A")
    git(committed, "commit", "-qm", "box")
    found = locate.locate(Repo.discover(committed), ["needle"])
    tests = widen.paired_tests(["pkg/box.py"], git(committed, "ls-files").split())
    units, _ = widen.plan(Worktree(committed), found.hunks, cap=80, tests=tests)
    assert [(u.path, u.start, u.end, u.label) for u in units][:3] == [
        ("pkg/box.py", 15, 20, "[end of file]"),
        ("tests/test_box.py", 295, 300, "def test_74 [end: last test of the tests of pkg/box.py]"),
        ("pkg/box.py", 7, 12, "def f2 [rest]"),
    ]
    pack = _build(committed, 50_000)
    assert _shown(pack, "tests/test_box.py") == set(range(295, 301))
    assert "def test_74 [end: last test of the tests of pkg/box.py]" in pack.text
    assert "test_other" not in pack.text
    assert _build(committed, 50_000) == pack  # deterministic


# -- a tight budget: every hit keeps its matching lines and its def (issue 15) -----------------


@pytest.fixture
def spread(committed: Path) -> Path:
    """Four files, each a long function with one match deep inside; one also defines it."""
    for i in range(4):
        body = "".join(f"    y{j} = x + {j}\n" for j in range(40))
        body = body.replace("    y30 = x + 30\n", f"    y30 = target(x) + {i}\n")
        write(committed / f"m{i}.py", f"def f{i}(x):\n{body}    return x\n")
    write(committed / "m3.py", "def target(x):\n    return x\n\n\n" + (committed / "m3.py").read_text())
    git(committed, "add", "-A")
    git(committed, "commit", "-qm", "code")
    return committed


@pytest.mark.parametrize("fill", [False, True])
def test_a_tight_budget_shortens_every_hit_before_dropping_one(cli, spread: Path, fill: bool) -> None:
    full = json.loads(cli("context", "--json", "--grep", "target").stdout)
    flag = "--fill" if fill else "--no-fill"
    r = cli("context", "--json", "--grep", "target", "--budget", str(full["tokens"] // 3), flag)
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["tokens"] <= full["tokens"] // 3
    located: dict[str, str] = {}
    for part in (p for s in data["sections"] if s["kind"] == "located" for p in s["parts"]):
        located[part["path"]] = located.get(part["path"], "") + part["text"]
    assert sorted(located) == ["m0.py", "m1.py", "m2.py", "m3.py"]  # none dropped whole
    for i in range(4):
        text = located[f"m{i}.py"]
        assert f"def f{i}(x):\n" in text and f"    y30 = target(x) + {i}\n" in text, text
    assert "def target(x):\n" in located["m3.py"]
    shortened = [d["what"] for d in data["dropped"]]
    assert shortened and all(w.endswith("shortened to its matching lines") for w in shortened)
    assert all(d["ask"].startswith("patchpack context --at m") for d in data["dropped"])
    assert "y10 = x + 10" not in r.stdout  # the rest of each function is what went


def test_room_left_after_shortening_goes_back_to_the_hits_it_fits(committed: Path) -> None:
    body = "".join(f"    y{j} = x + {j}\n" for j in range(60))
    write(committed / "a.py", f"def target(x):\n{body}    return x\n")  # the strongest, long
    write(committed / "b.py", "def g(x):\n    y = 1\n    z = target(x)\n    return y + z\n")
    git(committed, "add", "-A")
    git(committed, "commit", "-qm", "code")
    repo = Repo.discover(committed)
    b_back = False
    for budget in range(60, 900, 10):
        pack = context.build(repo, context.Request(greps=("target",), budget=budget), get_counter())
        parts = {p.path: p for p in pack.parts if p.section == "located"}
        # Shortening a.py, the last step, freed more than b.py needs whole: b.py is whole again.
        if len(parts) == 2 and parts["a.py"].only and not parts["b.py"].only:
            assert "    y = 1\n" in pack.text and pack.tokens <= budget
            b_back = True
    assert b_back
