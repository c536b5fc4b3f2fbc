"""The README and docs/ against the real program: usage text, settings, links, length."""

from __future__ import annotations

import re
from itertools import takewhile
from pathlib import Path

import pytest

from conftest import ROOT, run_patchpack

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(`{3,})(\S*)[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def usage_blocks() -> list[tuple[str, str]]:
    """Every ```text block that shows a patchpack command's help: (page, block)."""
    return [
        (page.relative_to(ROOT).as_posix(), m.group(3).rstrip("\n"))
        for page in PAGES
        for m in FENCE.finditer(page.read_text())
        if m.group(2) == "text" and m.group(3).startswith("Usage: patchpack ")
    ]


def command_of(block: str) -> list[str]:
    """`Usage: patchpack ledger attach [OPTIONS] [REV]` -> ["ledger", "attach"]."""
    return list(takewhile(str.islower, block.split("\n", 1)[0].split()[2:]))


BLOCKS = usage_blocks()


@pytest.mark.parametrize(("page", "block"), BLOCKS, ids=[f"{p}:{' '.join(command_of(b))}" for p, b in BLOCKS])
def test_usage_text_is_the_real_help(page: str, block: str, tmp_path: Path) -> None:
    command = command_of(block)
    shown = run_patchpack(*command, "--help", cwd=tmp_path, env={"COLUMNS": "80"})
    assert shown.returncode == 0, shown.stderr
    assert block == shown.stdout.rstrip("\n"), f"{page}: `patchpack {' '.join(command)}`"


def test_the_usage_blocks_checked_before_are_still_there() -> None:
    # The commands whose help the README showed when the reference moved to docs/ (issue 16).
    shown = {" ".join(command_of(block)) for _, block in BLOCKS}
    assert shown >= {"record", "ledger attach", "budget", "sync", "run", "test", "guard", "status"}


def test_settings_table_covers_every_setting() -> None:
    from patchpack.config import env_name, git_key, names

    page = (ROOT / "docs" / "settings.md").read_text()
    table = page[page.index("\n## Settings") : page.index("\n## Exit codes")]
    assert "provider" in names()  # the list is the real one
    for name in names():
        assert f"| `{git_key(name)}` | `{env_name(name)}` |" in table, name


def test_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= 300, f"README.md has {lines} lines; move reference text to docs/"


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def broken_links(page: Path) -> list[str]:
    """Relative links of a markdown page whose file, or heading in it, does not exist."""
    text = FENCE.sub("", page.read_text())
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md":
            headings = re.findall(r"^#+ (.*)$", FENCE.sub("", linked.read_text()), re.M)
            if anchor not in {slug(h) for h in headings}:
                broken.append(target)
    return broken


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_relative_links_point_at_files_that_exist(page: Path) -> None:
    assert broken_links(page) == []


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# Set up: `an agent`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[a](there.md) [b](there.md#set-up-an-agent) [c](gone.md)\n"
        "[d](there.md#nowhere) [e](https://example.invalid/x) [f](#top)\n"
        "```text\n[g](inside-a-block.md)\n```\n# Top\n"
    )
    assert broken_links(page) == ["gone.md", "there.md#nowhere"]
