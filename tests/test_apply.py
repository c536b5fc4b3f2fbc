"""`patchpack apply` commits through git and its hooks, and changes nothing when it fails;
`patchpack undo` takes back a split or an apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import git, lines, run_patchpack, write

REF = "refs/patchpack/queue/main"


def _snapshot(repo: Path, *, stat: bool = True) -> tuple[str, ...]:
    """Everything apply may touch: HEAD, the index (with its stat data), the work tree, the
    queue."""
    return (
        git(repo, "rev-parse", "HEAD"),
        git(repo, "ls-files", "--stage", *(["--debug"] if stat else [])),
        git(repo, "status", "--porcelain", "--untracked-files=all"),
        git(repo, "diff"),
        git(repo, "rev-parse", "-q", "--verify", REF, check=False),
        "".join(f"{p}:{p.read_bytes()!r}" for p in sorted(repo.rglob("*"))
                if ".git" not in p.parts and p.is_file()),
    )


def _hook(repo: Path, name: str, body: str) -> None:
    hook = repo / ".git" / "hooks" / name
    write(hook, "#!/bin/sh\n" + body)
    hook.chmod(0o755)


@pytest.fixture
def queued(committed: Path, cli) -> Path:
    """Two micro-patches queued by `split`: a.txt then b.txt."""
    write(committed / "a.txt", lines(100, "a"))
    write(committed / "b.txt", lines(100, "b"))
    assert cli("split", "-m", "Two files").exit_code == 0
    return committed


def test_apply_commits_the_next_patch_through_the_hooks(queued: Path, cli) -> None:
    _hook(queued, "pre-commit", "git diff --cached --name-only > .git/pre-commit-saw\n")
    _hook(queued, "commit-msg", 'cp "$1" .git/commit-msg-saw\n')
    _hook(queued, "post-commit", "git log -1 --format=%s > .git/post-commit-saw\n")
    r = cli("apply")
    assert r.exit_code == 0, r.stderr
    assert "committed" in r.stdout and r.stdout.endswith("1 queued\n")
    assert (queued / ".git/pre-commit-saw").read_text() == "a.txt\n"
    assert (queued / ".git/commit-msg-saw").read_text() == "Two files (1/2): a.txt\n"
    assert (queued / ".git/post-commit-saw").read_text() == "Two files (1/2): a.txt\n"
    assert git(queued, "status", "--porcelain", "--untracked-files=all") == ""
    assert not (queued / "b.txt").exists()


def test_apply_result_names_commits_and_tokens(queued: Path) -> None:
    from patchpack import apply
    from patchpack.git import QueueGit, Repo

    result = apply.apply(QueueGit(Repo.discover(queued)), count=None, verify=True,
                         counter_spec="chars:4")
    assert [a.commit for a in result.commits] == git(
        queued, "rev-list", "--reverse", "HEAD~2..HEAD").split()
    assert all(a.tokens > 0 and a.counter == "chars:4" for a in result.applied)
    assert result.remaining == 0 and result.failure is None


@pytest.mark.parametrize("hook", ["pre-commit", "commit-msg"])
def test_a_rejecting_hook_leaves_everything_as_it_was(queued: Path, cli, hook: str) -> None:
    write(queued / "README.md", "# local edit, unstaged\n")
    write(queued / "notes.txt", "untracked\n")
    _hook(queued, hook, "echo 'hook says no' >&2\nexit 1\n")
    before = _snapshot(queued)
    r = cli("apply")
    assert r.exit_code == 1
    assert "hook says no" in r.stderr and "--no-verify" in r.stderr
    assert _snapshot(queued) == before
    r = cli("apply", "--no-verify")
    assert r.exit_code == 0, r.stderr


def test_a_conflict_leaves_everything_as_it_was(queued: Path, cli) -> None:
    write(queued / "a.txt", "someone else wrote a.txt\n")
    git(queued, "add", "a.txt")
    git(queued, "commit", "-q", "-m", "conflicting")
    before = _snapshot(queued)
    r = cli("apply")
    assert r.exit_code == 1
    assert "conflicts with HEAD in a.txt" in r.stderr and "patchpack drop" in r.stderr
    assert _snapshot(queued) == before
    assert "conflicts with HEAD in a.txt" in cli("next").stdout


def test_head_moved_the_patch_is_replayed_with_a_3_way_merge(committed: Path, cli) -> None:
    write(committed / "f.txt", lines(40))
    git(committed, "add", "f.txt")
    git(committed, "commit", "-q", "-m", "f")
    write(committed / "f.txt", lines(40).replace("line 35\n", "line 35 queued\n"))
    assert cli("split").exit_code == 0
    write(committed / "f.txt", lines(40).replace("line 2\n", "line 2 upstream\n"))
    git(committed, "commit", "-q", "-am", "upstream")
    assert "HEAD moved" in cli("next").stdout
    assert cli("apply").exit_code == 0
    text = (committed / "f.txt").read_text()
    assert "line 2 upstream\n" in text and "line 35 queued\n" in text


def test_a_patch_already_in_head_is_skipped(queued: Path, cli) -> None:
    write(queued / "a.txt", lines(100, "a"))
    git(queued, "add", "a.txt")
    git(queued, "commit", "-q", "-m", "by hand")
    r = cli("apply")
    assert r.exit_code == 0 and "already in HEAD, skipped" in r.stdout
    assert git(queued, "rev-list", "--count", "HEAD") == "2\n"
    assert [p["state"] for p in json.loads(cli("list", "--json").stdout)["patches"]] == [
        "skipped", "queued"]


def test_apply_all_stops_at_the_first_failure(queued: Path, cli) -> None:
    _hook(queued, "pre-commit", "git diff --cached --name-only | grep -q b.txt && exit 1\n"
                                "exit 0\n")
    r = cli("apply", "--all")
    assert r.exit_code == 1
    assert "Two files (1/2)" in r.stdout and "the commit of patch 2/2" in r.stderr
    assert git(queued, "log", "-1", "--format=%s") == "Two files (1/2): a.txt\n"
    assert git(queued, "status", "--porcelain") == ""


def test_apply_refuses_local_changes_staged_changes_and_operations(queued: Path, cli) -> None:
    write(queued / "a.txt", "mine\n")
    r = cli("apply")
    assert r.exit_code == 1 and "local changes: a.txt" in r.stderr
    (queued / "a.txt").unlink()
    write(queued / "README.md", "# staged\n")
    git(queued, "add", "README.md")
    r = cli("apply")
    assert r.exit_code == 1 and "staged changes" in r.stderr
    git(queued, "reset", "-q", "--hard")
    write(queued / ".git" / "MERGE_HEAD", git(queued, "rev-parse", "HEAD"))
    r = cli("apply")
    assert r.exit_code == 1 and "merge is in progress" in r.stderr


def test_apply_on_a_bare_repository(committed: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(committed, "clone", "-q", "--bare", str(committed), str(bare))
    r = run_patchpack("apply", cwd=bare)
    assert r.returncode == 1 and "bare repository" in r.stderr


def test_apply_with_an_empty_queue_exits_1_through_the_entry_point(committed: Path) -> None:
    r = run_patchpack("apply", cwd=committed)
    assert r.returncode == 1 and "queue empty" in r.stderr
    r = run_patchpack("apply", "-n", "2", "--all", cwd=committed)
    assert r.returncode == 2


def test_undo_after_split_gives_the_work_tree_back_exactly(committed: Path, cli) -> None:
    write(committed / "README.md", "# test\nstaged\n")
    git(committed, "add", "README.md")
    write(committed / "README.md", "# test\nstaged\nand unstaged\n")
    write(committed / "new dir/untracked.txt", lines(150))
    before = _snapshot(committed, stat=False)[:4]
    assert cli("split").exit_code == 0
    assert git(committed, "status", "--porcelain", "--untracked-files=all") == ""
    r = cli("undo")
    assert r.exit_code == 0 and r.stdout.startswith("undid split")
    assert _snapshot(committed, stat=False)[:4] == before
    assert json.loads(cli("list", "--json").stdout)["patches"] == []


def test_undo_after_apply_moves_head_back(queued: Path, cli) -> None:
    head = git(queued, "rev-parse", "HEAD")
    assert cli("apply", "-n", "2").exit_code == 0
    assert cli("undo").exit_code == 0
    assert git(queued, "rev-parse", "HEAD") != head
    assert cli("undo").exit_code == 0
    assert git(queued, "rev-parse", "HEAD") == head
    assert [p["state"] for p in json.loads(cli("list", "--json").stdout)["patches"]] == [
        "queued", "queued"]
    assert cli("undo").exit_code == 0  # and the split itself
    assert (queued / "a.txt").exists() and (queued / "b.txt").exists()
    assert cli("undo").exit_code == 1
