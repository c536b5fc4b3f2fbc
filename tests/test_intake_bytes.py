"""Changes enter the queue byte for byte (issue 15): each case is made in a clone, then queued
from its diff, from its `git format-patch` mail and by `split` of a work tree, and each way
the queue, applied, ends at the clone's tree."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from conftest import git, write


def _raw(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True).stdout


def _every_way(repo: Path, cli, change: Callable[[Path], object]) -> None:
    other = repo.parent / "other"
    git(repo.parent, "clone", "-q", str(repo), str(other))
    change(other)
    git(other, "add", "-A")
    git(other, "commit", "-q", "-m", "The change")
    want = git(other, "rev-parse", "HEAD^{tree}")
    ways = {"diff": _raw(other, "diff", "HEAD~1", "HEAD"),
            "mail": _raw(other, "format-patch", "--stdout", "HEAD~1"), "split": None}
    head = git(repo, "rev-parse", "HEAD").strip()
    for way, text in ways.items():
        if text is None:
            change(repo)
        r = cli("split") if text is None else cli("add", input=text)
        assert r.exit_code == 0, (way, r.stderr)
        r = cli("apply", "--all")
        assert r.exit_code == 0, (way, r.stderr)
        assert git(repo, "rev-parse", "HEAD^{tree}") == want, way
        git(repo, "reset", "-q", "--hard", head)
        git(repo, "update-ref", "-d", "refs/patchpack/queue/main")


def test_a_text_file_with_nul_bytes(committed: Path, cli) -> None:
    # NUL past git's first 8000 bytes: git diffs the file as text.
    old = b"x" * 9000 + b"\n" + b"a\0b\n" + b"line\n" * 5
    write(committed / "nul.txt", old)
    git(committed, "add", "nul.txt")
    git(committed, "commit", "-q", "-m", "nul")

    def change(tree: Path) -> None:
        write(tree / "nul.txt", old.replace(b"a\0b\n", b"a\0c\0\n"))

    _every_way(committed, cli, change)
