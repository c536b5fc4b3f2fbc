"""`split` and `apply` where the work tree is not all there: submodules and sparse checkouts.

git leaves a submodule's checkout alone unless asked to recurse, and writes a path outside a
sparse checkout's cone to the index only: `apply` does as git does (#15).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import git, write


@pytest.fixture
def with_sub(committed: Path, tmp_path: Path) -> Path:
    """A repository with a submodule ``sub`` at its first commit (s1); s2 exists."""
    sub = tmp_path / "sub-origin"
    sub.mkdir()
    git(sub, "init", "-q")
    write(sub / "s.txt", "one\n")
    git(sub, "add", "s.txt")
    git(sub, "commit", "-q", "-m", "s1")
    git(committed, "-c", "protocol.file.allow=always", "submodule", "add", "-q",
        str(sub), "sub")
    git(committed, "commit", "-q", "-m", "add sub")
    write(committed / "sub" / "s.txt", "two\n")
    git(committed / "sub", "commit", "-q", "-am", "s2")
    return committed


def _gitlink(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", f"{rev}:sub").strip()


def test_a_submodule_moved_to_a_new_commit_is_split_and_applied(with_sub: Path, cli) -> None:
    s2 = git(with_sub / "sub", "rev-parse", "HEAD").strip()
    write(with_sub / "README.md", "# test\nmore\n")
    r = cli("split")
    assert r.exit_code == 0, r.stderr
    r = cli("apply", "--all")
    assert r.exit_code == 0, r.stderr
    assert _gitlink(with_sub, "HEAD") == s2
    assert (with_sub / "README.md").read_text() == "# test\nmore\n"
    assert git(with_sub, "status", "--porcelain") == ""


def test_a_submodule_checked_out_elsewhere_meanwhile_is_left_there(with_sub: Path,
                                                                     cli) -> None:
    # As `git checkout` without --recurse-submodules: the new commit is recorded, the
    # submodule's own checkout is the user's.
    s1 = _gitlink(with_sub, "HEAD")
    s2 = git(with_sub / "sub", "rev-parse", "HEAD").strip()
    assert cli("split").exit_code == 0
    git(with_sub, "submodule", "update", "-q")
    assert git(with_sub / "sub", "rev-parse", "HEAD").strip() == s1
    r = cli("apply")
    assert r.exit_code == 0, r.stderr
    assert _gitlink(with_sub, "HEAD") == s2
    assert git(with_sub / "sub", "rev-parse", "HEAD").strip() == s1
    assert git(with_sub, "diff", "--cached") == ""


def test_a_refused_submodule_commit_changes_nothing(with_sub: Path, cli) -> None:
    s2 = git(with_sub / "sub", "rev-parse", "HEAD").strip()
    assert cli("split").exit_code == 0
    hook = write(with_sub / ".git" / "hooks" / "pre-commit", "#!/bin/sh\necho no >&2\nexit 1\n")
    hook.chmod(0o755)
    before = (git(with_sub, "rev-parse", "HEAD"), git(with_sub, "ls-files", "--stage"),
              git(with_sub, "status", "--porcelain"))
    r = cli("apply")
    assert r.exit_code == 1
    assert "was refused; nothing changed" in r.stderr and "no" in r.stderr
    assert (git(with_sub, "rev-parse", "HEAD"), git(with_sub, "ls-files", "--stage"),
            git(with_sub, "status", "--porcelain")) == before
    assert git(with_sub / "sub", "rev-parse", "HEAD").strip() == s2


def test_a_new_submodule_is_recorded_over_its_checkout(committed: Path, tmp_path: Path,
                                                       cli) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q")
    git(origin, "commit", "-q", "--allow-empty", "-m", "s1")
    git(committed, "-c", "protocol.file.allow=always", "submodule", "add", "-q",
        str(origin), "sub")
    assert cli("split").exit_code == 0
    assert git(committed, "status", "--porcelain") == "?? sub/\n"  # its checkout stays
    r = cli("apply", "--all")
    assert r.exit_code == 0, r.stderr
    assert _gitlink(committed, "HEAD") == git(origin, "rev-parse", "HEAD").strip()
    assert git(committed, "status", "--porcelain") == ""
    git(committed, "rm", "-q", "sub")
    assert cli("split").exit_code == 0
    assert cli("apply", "--all").exit_code == 0
    assert "sub" not in git(committed, "ls-tree", "--name-only", "HEAD")
    assert git(committed, "status", "--porcelain") == ""
