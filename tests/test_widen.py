"""`patchpack context --fill`: the order units are widened in, the budget, large files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import git, run_patchpack, write
from patchpack import context, locate, widen
from patchpack.git import Repo
from patchpack.tokens import get_counter

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
    write(committed / "big.py", "".join(  # 300 lines, one match
        f"def f{i}(x):\n    {'needle' if i == 30 else 'y'} = x + {i}\n    return x\n\n\n"
        for i in range(60)))
    git(committed, "add", "-A")
    git(committed, "commit", "-qm", "code")
    return committed


def _plan(repo: Path, *greps: str, cap: int = 80) -> list[tuple[str, int, int, str]]:
    found = locate.locate(Repo.discover(repo), greps)
    units, _ = widen.plan(repo, found.hunks, cap=cap)
    return [(u.path, u.start, u.end, u.label) for u in units]


def _build(repo: Path, budget: int, *, greps: tuple[str, ...] = ("needle",),
           max_file_lines: int = 200, fill: bool = True) -> context.Pack:
    request = context.Request(greps=greps, budget=budget, fill=fill,
                              max_file_lines=max_file_lines)
    return context.build(Repo.discover(repo), request, get_counter())


def _shown(pack: context.Pack, path: str) -> set[int]:
    return {n for p in pack.parts if p.path == path for n in range(p.start, p.end + 1)}


def test_order_block_class_calls_then_neighbours(boxed: Path) -> None:
    found = locate.locate(Repo.discover(boxed), ["def needle"], paths=["box.py"])
    units, texts = widen.plan(boxed, found.hunks, cap=80)
    assert texts["box.py"] == BOX.splitlines()
    assert [(u.start, u.end, u.label) for u in units] == [
        (18, 21, "def Box.needle [rest]"),  # its comment and blank lines belong to it
        (13, 14, "class Box [its class]"),  # the class's own statements, nearest first
        (10, 12, "class Box [its class]"),
        (15, 17, "def Box.width [called]"),  # self.width(): a method, through an attribute
        (26, 29, "def caller [calls needle]"),
        (22, 25, "def Box.far [near]"),  # then outwards, one unit at a time
        (30, 31, "def unrelated [near]"),  # 3 units away
        (6, 9, "def helper [near]"),  # 4
        (1, 5, "import os [near]"),  # 5
    ]


def test_a_function_called_by_name_is_a_callee(boxed: Path) -> None:
    units = _plan(boxed, "return helper")
    assert ("box.py", 6, 9, "def helper [called]") in units


def test_other_languages_widen_by_paragraph_and_cut_long_blocks(boxed: Path) -> None:
    assert _plan(boxed, "needle here") == [
        ("notes.md", 4, 7, "# Needle [rest]"),
        ("notes.md", 1, 3, "intro [near]"),
        ("notes.md", 8, 10, "next para [near]"),
        ("notes.md", 11, 11, "last para [near]"),
    ]
    write(boxed / "long.py", "def long():\n" + "".join(f"    x{i} = {i}\n" for i in range(30)))
    git(boxed, "add", "long.py")
    # A block cut by --max-hunk-lines comes back first, in pieces, nearest the match first.
    assert _plan(boxed, "x20 = ", cap=10)[:4] == [
        ("long.py", 21, 30, "def long [rest]"), ("long.py", 11, 20, "def long [rest]"),
        ("long.py", 31, 31, "def long [rest]"), ("long.py", 1, 10, "def long [rest]")]


def test_strongest_file_first(boxed: Path) -> None:
    found = locate.locate(Repo.discover(boxed), ["needle"])
    ranked = sorted(found.hunks, key=lambda h: (h.path != "notes.md", h.path, h.start))
    units, _ = widen.plan(boxed, ranked, cap=80)
    near = [u.path for u in units if u.label.endswith("[near]")]
    assert near[:3] == ["notes.md"] * 3


def test_fill_spends_the_budget_and_shows_whole_small_files(boxed: Path) -> None:
    plain = _build(boxed, 50_000, greps=("def needle",), fill=False)
    pack = _build(boxed, 50_000, greps=("def needle",))
    assert pack.tokens > plain.tokens and not pack.dropped
    assert _shown(pack, "box.py") >= {n for n, text in enumerate(BOX.splitlines(), 1)
                                      if text.strip()}
    widened = [p for p in pack.parts if p.section == "widened"]
    assert "## widened: --fill: " in pack.text and widened
    assert not _shown(pack, "box.py") - _shown(plain, "box.py") - {
        n for p in widened for n in range(p.start, p.end + 1)}
    # No line twice: widened hunks leave out what the other sections show.
    seen = [n for p in pack.parts if p.path == "box.py" for n in range(p.start, p.end + 1)]
    assert len(seen) == len(set(seen))
    assert pack.warnings() == []  # near the budget on purpose


def test_large_files_are_never_whole(boxed: Path) -> None:
    total = len((boxed / "big.py").read_text().splitlines())
    assert total > 200
    pack = _build(boxed, 1_000_000)
    assert 190 < len(_shown(pack, "big.py")) <= 200
    assert len(_shown(pack, "notes.md")) == len(NOTES.splitlines())  # small: whole
    raised = _build(boxed, 1_000_000, max_file_lines=1000)
    assert len(_shown(raised, "big.py")) == total


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(min_value=0, max_value=3_000),
       max_file_lines=st.sampled_from([5, 50, 200, 10_000]))
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
    assert kinds == ["located", "related", "widened"] and data["tokens"] <= 2000
    assert "warning" not in r.stderr and "narrow the request" not in r.stderr
    git(boxed, "config", "patchpack.contextFill", "true")
    assert "## widened: " in cli("context", "--grep", "def needle").stdout
    assert "## widened: " not in cli("context", "--grep", "def needle", "--no-fill").stdout
    assert run_patchpack("context", "--grep", "def needle", "--no-fill", "--budget", "10",
                         cwd=boxed).returncode == 0


def test_binary_and_unreadable_files_are_not_widened(cli, boxed: Path) -> None:
    write(boxed / "data.bin", b"needle\0\1\2")
    write(boxed / "latin.txt", "needle caf\xe9\n".encode("latin-1"))
    git(boxed, "add", "-A")
    git(boxed, "commit", "-qm", "unreadable")
    r = cli("context", "--grep", "needle", "--fill", "--json")
    assert r.exit_code == 0, r.stderr
    paths = {p["path"] for s in json.loads(r.stdout)["sections"] for p in s["parts"]}
    assert paths == {"box.py", "notes.md", "big.py"}
