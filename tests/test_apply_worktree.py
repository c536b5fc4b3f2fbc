"""`split` and `apply` where the work tree is not all there: submodules and sparse checkouts.

git leaves a submodule's checkout alone unless asked to recurse, and writes a path outside a
sparse checkout's cone to the index only: `apply` does as git does (#15).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import git, lines, write


@pytest.fixture
def with_sub(committed: Path, tmp_path: Path) -> Path:
    """A repository with a submodule ``sub`` at its first commit (s1); s2 exists."""
    sub = tmp_path / "sub-origin"
    sub.mkdir()
    git(sub, "init", "-q")
    write(sub / "s.txt", "one\n")
    git(sub, "add", "s.txt")
    git(sub, "commit", "-q", "-m", "s1")
    git(committed, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "sub")
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


def test_a_submodule_checked_out_elsewhere_meanwhile_is_left_there(with_sub: Path, cli) -> None:
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
    before = (
        git(with_sub, "rev-parse", "HEAD"),
        git(with_sub, "ls-files", "--stage"),
        git(with_sub, "status", "--porcelain"),
    )
    r = cli("apply")
    assert r.exit_code == 1
    assert "was refused; nothing changed" in r.stderr and "no" in r.stderr
    assert (
        git(with_sub, "rev-parse", "HEAD"),
        git(with_sub, "ls-files", "--stage"),
        git(with_sub, "status", "--porcelain"),
    ) == before
    assert git(with_sub / "sub", "rev-parse", "HEAD").strip() == s2


def test_a_new_submodule_is_recorded_over_its_checkout(committed: Path, tmp_path: Path, cli) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q")
    git(origin, "commit", "-q", "--allow-empty", "-m", "s1")
    git(committed, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(origin), "sub")
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


@pytest.fixture
def sparse(committed: Path) -> Path:
    """A sparse checkout of ``in/``: ``out/b.txt`` and ``out/gone.txt`` are in the index
    only (skip-worktree)."""
    write(committed / "in" / "a.txt", lines(20, "a"))
    write(committed / "out" / "b.txt", lines(20, "b"))
    write(committed / "out" / "gone.txt", lines(5, "g"))
    git(committed, "add", "-A")
    git(committed, "commit", "-q", "-m", "two dirs")
    git(committed, "sparse-checkout", "set", "in")
    assert not (committed / "out").exists()
    return committed


def _queue_diff(repo: Path, cli, diff: str) -> None:
    write(repo.parent / "change.diff", diff)
    r = cli("add", "--split", str(repo.parent / "change.diff"))
    assert r.exit_code == 0, r.stderr


def test_a_patch_outside_a_sparse_checkout_is_applied_to_the_index(sparse: Path, cli) -> None:
    base = git(sparse, "rev-parse", "HEAD").strip()
    _queue_diff(
        sparse,
        cli,
        "diff --git a/out/b.txt b/out/b.txt\n--- a/out/b.txt\n+++ b/out/b.txt\n"
        "@@ -20 +20,2 @@\n b 20\n+b 21\n"
        "diff --git a/out/gone.txt b/out/gone.txt\ndeleted file mode 100644\n"
        "--- a/out/gone.txt\n+++ /dev/null\n@@ -1,5 +0,0 @@\n"
        + "".join(f"-g {i}\n" for i in range(1, 6))
        + "diff --git a/out/new.txt b/out/new.txt\nnew file mode 100644\n"
        "--- /dev/null\n+++ b/out/new.txt\n@@ -0,0 +1 @@\n+new\n",
    )
    r = cli("apply", "--all")
    assert r.exit_code == 0, r.stderr
    assert git(sparse, "show", "HEAD:out/b.txt") == lines(21, "b")
    assert (
        git(sparse, "diff", "--no-renames", "--name-status", base, "HEAD")
        == "M\tout/b.txt\nD\tout/gone.txt\nA\tout/new.txt\n"
    )
    # Still outside the cone: in the index with skip-worktree, not in the work tree.
    assert git(sparse, "ls-files", "-t", "out") == "S out/b.txt\nS out/new.txt\n"
    assert not (sparse / "out").exists()
    assert git(sparse, "status", "--porcelain") == ""


def test_a_file_outside_the_cone_that_is_in_the_work_tree_is_checked(sparse: Path, cli) -> None:
    _queue_diff(
        sparse,
        cli,
        "diff --git a/out/b.txt b/out/b.txt\n--- a/out/b.txt\n"
        "+++ b/out/b.txt\n@@ -20 +20,2 @@\n b 20\n+b 21\n",
    )
    write(sparse / "out" / "b.txt", "mine\n")
    head = git(sparse, "rev-parse", "HEAD")
    r = cli("apply")
    assert r.exit_code == 1
    assert "local changes: out/b.txt" in r.stderr
    assert (sparse / "out" / "b.txt").read_text() == "mine\n"
    assert git(sparse, "rev-parse", "HEAD") == head
