"""`patchpack apply` commits with the repository's hooks run as `git commit` runs them, and
changes nothing when it fails; `patchpack undo` takes back a split or an apply."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
        "".join(
            f"{p}:{p.read_bytes()!r}"
            for p in sorted(repo.rglob("*"))
            if ".git" not in p.parts and p.is_file()
        ),
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


def test_apply_writes_a_new_message_file_and_leaves_a_link_to_the_last_one_alone(queued: Path, cli) -> None:
    # Written anew, not truncated and rewritten, which ext4 flushes at close (2.5 ms a patch,
    # #16): a file linked to the last COMMIT_EDITMSG keeps that message.
    edit = queued / ".git" / "COMMIT_EDITMSG"
    write(edit, "the last message\n")
    os.link(edit, queued / ".git" / "kept-message")
    r = cli("apply")
    assert r.exit_code == 0, r.stderr
    assert (queued / ".git" / "kept-message").read_text() == "the last message\n"
    assert edit.read_text() == "Two files (1/2): a.txt\n"


def test_apply_writes_only_the_trees_of_the_queue_state_that_change(queued: Path, cli) -> None:
    # Recording an apply changes a patch's entry under series/, not its diff under diffs/:
    # that tree is kept as it is, not written again (each loose object written or touched is
    # a file system write on every patch, #16).
    diffs = git(queued, "rev-parse", f"{REF}:diffs/0000").strip()
    loose = queued / ".git" / "objects" / diffs[:2] / diffs[2:]
    os.utime(loose, (1, 1))
    assert cli("apply").exit_code == 0
    assert git(queued, "rev-parse", f"{REF}:diffs/0000").strip() == diffs
    assert git(queued, "log", "-1", "--format=%s", REF).startswith("patchpack apply: 1/2")
    assert loose.stat().st_mtime == 1


def test_apply_result_names_commits_and_tokens(queued: Path) -> None:
    from patchpack.git import Repo
    from patchpack.queue import apply

    result = apply.apply(Repo.discover(queued), count=None, verify=True, counter_spec="chars:4")
    assert [a.commit for a in result.commits] == git(queued, "rev-list", "--reverse", "HEAD~2..HEAD").split()
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
    assert "hook says no" in r.stderr and "--no-verify" in r.stderr and "--amend" in r.stderr
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
    assert [p["state"] for p in json.loads(cli("list", "--json").stdout)["patches"]] == ["skipped", "queued"]


def test_apply_all_stops_at_the_first_failure(queued: Path, cli) -> None:
    _hook(queued, "pre-commit", "git diff --cached --name-only | grep -q b.txt && exit 1\nexit 0\n")
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
    assert [p["state"] for p in json.loads(cli("list", "--json").stdout)["patches"]] == ["queued", "queued"]
    assert cli("undo").exit_code == 0  # and the split itself
    assert (queued / "a.txt").exists() and (queued / "b.txt").exists()
    assert cli("undo").exit_code == 1


# -- the commit made in process, its hooks run as `git commit` runs them ---------------------

_DUMP = """\
{{ echo "== {name} $# $*"; pwd; env | grep '^GIT_' | sort; }} >> "{log}"
"""
# What the git program adds for its own children (and `-c` options patchpack passes to it).
_GIT_OWN = ("GIT_EXEC_PATH=", "GIT_CONFIG_PARAMETERS=")


def _dump_hooks(hooks_dir: Path, log: Path) -> None:
    """Every commit hook logs its arguments, directory and git environment to ``log``."""
    for name in ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit"):
        hook = write(hooks_dir / name, "#!/bin/sh\n" + _DUMP.format(name=name, log=log))
        hook.chmod(0o755)


def test_the_commit_and_the_hooks_are_those_of_git_commit(queued: Path, cli, tmp_path: Path) -> None:
    """Same commit id, same reflog entry, same hook arguments and environment as the
    `git commit` fallback (taken when hooks are declared in config)."""
    seen = []
    for fallback in (False, True):
        if fallback:
            git(queued, "config", "hook.patchpack-test.command", "true")
        log = tmp_path / f"log-{fallback}"
        _dump_hooks(queued / ".git" / "hooks", log)
        (queued / "sub").mkdir(exist_ok=True)
        r = cli("apply")  # the current directory does not matter: hooks run from the top
        assert r.exit_code == 0, r.stderr
        dumped = log.read_text()
        assert ("GIT_EXEC_PATH=" in dumped) == fallback
        dumped = "".join(line for line in dumped.splitlines(keepends=True) if not line.startswith(_GIT_OWN))
        seen.append(
            (
                git(queued, "rev-parse", "HEAD"),
                dumped,
                git(queued, "log", "-g", "-1", "--format=%gs", "HEAD"),
                git(queued, "log", "-g", "-1", "--format=%gs", "main"),
                (queued / ".git" / "COMMIT_EDITMSG").read_text(),
            )
        )
        assert cli("undo").exit_code == 0
    assert seen[0] == seen[1]
    _head, log, reflog_head, reflog_branch, message = seen[0]
    assert [line.split()[1:] for line in log.splitlines() if line.startswith("==")] == [
        ["pre-commit", "0"],
        ["prepare-commit-msg", "2", ".git/COMMIT_EDITMSG", "message"],
        ["commit-msg", "1", ".git/COMMIT_EDITMSG"],
        ["post-commit", "0"],
    ]
    assert "GIT_INDEX_FILE=.git/index\n" in log and "GIT_EDITOR=:\n" in log
    assert "GIT_AUTHOR_DATE=@1700000000 +0000\n" in log and f"{queued}\n" in log
    assert reflog_head == reflog_branch == "commit: Two files (1/2): a.txt\n"
    assert message == "Two files (1/2): a.txt\n"


def test_the_index_the_pre_commit_hook_leaves_is_committed(queued: Path, cli) -> None:
    _hook(queued, "pre-commit", "echo formatted >> a.txt && git add a.txt\n")
    assert cli("apply").exit_code == 0
    assert git(queued, "show", "HEAD:a.txt").endswith("a 100\nformatted\n")
    assert git(queued, "status", "--porcelain") == ""


def test_commit_msg_may_rewrite_the_message_and_whitespace_is_cleaned(queued: Path, cli) -> None:
    _hook(queued, "commit-msg", 'printf "\\n\\nRewritten   \\n\\n\\n\\nbody\\n\\n" > "$1"\n')
    assert cli("apply").exit_code == 0
    assert git(queued, "log", "-1", "--format=%B") == "Rewritten\n\nbody\n\n"
    assert git(queued, "log", "-g", "-1", "--format=%gs") == "commit: Rewritten\n"


def test_a_message_left_empty_by_commit_msg_refuses_the_commit(queued: Path, cli) -> None:
    _hook(queued, "commit-msg", ': > "$1"\n')
    before = _snapshot(queued)
    r = cli("apply")
    assert r.exit_code == 1 and "empty commit message" in r.stderr
    assert _snapshot(queued) == before


def test_a_rejecting_prepare_commit_msg_hook_runs_even_without_verify(queued: Path, cli) -> None:
    _hook(queued, "prepare-commit-msg", "echo 'no message for you' >&2\nexit 3\n")
    before = _snapshot(queued)
    r = cli("apply", "--no-verify")
    assert r.exit_code == 1 and "no message for you" in r.stderr
    assert "prepare-commit-msg hook exited with status 3" in r.stderr
    assert _snapshot(queued) == before


def test_no_verify_skips_pre_commit_and_commit_msg_only(queued: Path, cli, tmp_path: Path) -> None:
    _dump_hooks(queued / ".git" / "hooks", tmp_path / "log")
    assert cli("apply", "--no-verify").exit_code == 0
    ran = [line.split()[1] for line in (tmp_path / "log").read_text().splitlines() if line.startswith("==")]
    assert ran == ["prepare-commit-msg", "post-commit"]


def test_a_failing_post_commit_hook_changes_nothing(queued: Path, cli) -> None:
    _hook(queued, "post-commit", "echo 'post-commit fails' >&2\nexit 1\n")
    r = cli("apply")
    assert r.exit_code == 0, r.stderr
    assert git(queued, "log", "-1", "--format=%s") == "Two files (1/2): a.txt\n"


def test_hooks_that_git_would_not_run_are_not_run(queued: Path, cli) -> None:
    hook = write(queued / ".git" / "hooks" / "pre-commit", "#!/bin/sh\nexit 1\n")
    hook.chmod(0o644)  # not executable: git ignores it
    assert cli("apply").exit_code == 0
    # A script without a #! line is run by sh, as git does.
    _hook(queued, "commit-msg", "")
    write(queued / ".git" / "hooks" / "commit-msg", "echo 'from sh' >&2; exit 1\n")
    r = cli("apply")
    assert r.exit_code == 1 and "from sh" in r.stderr


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_core_hooks_path(queued: Path, cli, where: str) -> None:
    hooks = queued / "my hooks"
    _hook(queued, "pre-commit", "exit 0\n")  # the default hooks dir is not used any more
    write(hooks / "pre-commit", "#!/bin/sh\necho 'hooksPath says no' >&2\nexit 1\n").chmod(0o755)
    git(queued, "config", "core.hooksPath", "my hooks" if where == "relative" else str(hooks))
    (queued / "sub").mkdir()
    r = run_patchpack("apply", cwd=queued / "sub")
    assert r.returncode == 1 and "hooksPath says no" in r.stderr


def test_apply_in_a_linked_worktree(queued: Path, cli, tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    git(queued, "worktree", "add", "-q", "-b", "side", str(linked))
    write(linked / "c.txt", lines(10, "c"))
    assert run_patchpack("split", "-m", "Side", cwd=linked).returncode == 0
    _dump_hooks(queued / ".git" / "hooks", tmp_path / "log")
    r = run_patchpack("apply", cwd=linked)
    assert r.returncode == 0, r.stderr
    log = (tmp_path / "log").read_text()
    git_dir = queued / ".git" / "worktrees" / "linked"
    assert f"GIT_DIR={git_dir}\n" in log and f"GIT_INDEX_FILE={git_dir}/index\n" in log
    assert f"== commit-msg 1 {git_dir}/COMMIT_EDITMSG\n" in log
    assert git(linked, "log", "-1", "--format=%s") == "Side\n"
    assert git(linked, "status", "--porcelain") == ""
    assert git(linked, "log", "-g", "-1", "--format=%gs", "side") == "commit: Side\n"
    assert git(queued, "log", "-1", "--format=%s", "main") != "Side\n"


def test_the_ledger_post_commit_hook_attaches_to_each_commit(queued: Path, cli) -> None:
    assert cli("init").exit_code == 0
    assert cli("record", "--in", "1000", "--out", "10").exit_code == 0
    r = cli("apply", "--all")
    assert r.exit_code == 0, r.stderr
    first, second = git(queued, "rev-list", "--reverse", "HEAD~2..HEAD").split()
    notes = [git(queued, "notes", "--ref=patchpack", "show", c) for c in (first, second)]
    assert '"in":1000' in notes[0] and '"kind":"apply"' in notes[0]
    assert '"in":1000' not in notes[1] and '"kind":"apply"' in notes[1]


def test_apply_on_a_detached_head(queued: Path, cli) -> None:
    git(queued, "checkout", "-q", "--detach")
    write(queued / "d.txt", "d\n")
    assert cli("split", "-m", "Detached").exit_code == 0
    assert cli("apply").exit_code == 0
    assert git(queued, "log", "-1", "--format=%s") == "Detached\n"
    assert git(queued, "log", "-g", "-1", "--format=%gs", "HEAD") == "commit: Detached\n"
    assert git(queued, "status", "--porcelain") == ""


def test_every_kind_of_change_reaches_the_work_tree_and_index(committed: Path, cli) -> None:
    """Renames, deletions, modes, links, binary, CRLF and odd names: after apply --all the
    work tree, the index and HEAD agree and HEAD holds the change."""
    write(committed / "old name.txt", lines(30))
    write(committed / "gone.txt", "bye\n")
    write(committed / "run.sh", "#!/bin/sh\n")
    git(committed, "add", "-A")
    git(committed, "commit", "-q", "-m", "files")
    git(committed, "mv", "old name.txt", "new näme.txt")
    (committed / "gone.txt").unlink()
    (committed / "run.sh").chmod(0o755)
    (committed / "link").symlink_to("run.sh")
    write(committed / "blob.bin", bytes(range(256)))
    write(committed / "crlf.txt", b"one\r\ntwo\r\n")
    write(committed / "no-eol.txt", b"last line")
    write(committed / "*.py", "not a glob\n")
    git(committed, "add", "-A")
    expected = git(committed, "write-tree")
    git(committed, "reset", "-q")
    assert cli("split").exit_code == 0
    r = cli("apply", "--all")
    assert r.exit_code == 0, r.stderr
    assert git(committed, "rev-parse", "HEAD^{tree}") == expected
    assert git(committed, "status", "--porcelain", "--untracked-files=all") == ""
    assert (committed / "run.sh").stat().st_mode & 0o111
    assert (committed / "link").is_symlink() and (committed / "crlf.txt").read_bytes() == b"one\r\ntwo\r\n"


def test_signed_commits_go_through_git_commit(queued: Path, cli) -> None:
    gpg = write(queued / ".git" / "fake-gpg", "#!/bin/sh\necho 'fake gpg ran' >&2\nexit 1\n")
    gpg.chmod(0o755)
    git(queued, "config", "commit.gpgSign", "true")
    git(queued, "config", "gpg.program", str(gpg))
    before = _snapshot(queued)
    r = cli("apply")
    assert r.exit_code == 1 and "gpg failed to sign" in r.stderr
    assert _snapshot(queued) == before


def test_filter_drivers_are_run_when_the_work_tree_is_written(committed: Path, cli) -> None:
    git(committed, "config", "filter.upper.smudge", "tr a-z A-Z")
    git(committed, "config", "filter.upper.clean", "tr A-Z a-z")
    write(committed / ".gitattributes", "*.up filter=upper\n")
    git(committed, "add", ".gitattributes")
    git(committed, "commit", "-q", "-m", "attributes")
    write(committed / "f.up", "shout\n")
    assert cli("split").exit_code == 0
    assert cli("apply").exit_code == 0
    assert git(committed, "show", "HEAD:f.up") == "shout\n"
    assert (committed / "f.up").read_text() == "SHOUT\n"
    assert git(committed, "status", "--porcelain") == ""


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["", " ", "\t", "\r", "x", "y z", "  a  ", "\u00e9 ", "\x0b"]), max_size=12))
def test_messages_are_cleaned_as_git_stripspace_cleans_them(parts: list[str]) -> None:
    from patchpack.git import stripspace

    text = "\n".join(parts)
    expected = subprocess.run(
        ["git", "stripspace"], input=text.encode(), capture_output=True, check=True
    ).stdout.decode()
    assert stripspace(text) == expected


# -- apply --all: a series, observed by its hooks, stopped, killed, undone ----------------------


@pytest.fixture
def series(committed: Path, cli) -> Path:
    """Four micro-patches queued by `split`, one file each: a.txt, b.txt, c.txt, d.txt."""
    for name in "abcd":
        write(committed / f"{name}.txt", lines(100, name))
    assert cli("split", "-m", "Four", "--max-files", "1").exit_code == 0
    return committed


def _states(repo: Path, n: int) -> list[str]:
    """The queue's last ``n`` states, oldest first."""
    return git(repo, "rev-list", "--first-parent", f"--max-count={n}", REF).split()[::-1]


def test_hooks_of_a_series_see_each_commit_as_git_commit_would_leave_it(series: Path, cli) -> None:
    # The next patch's state and plan are made while the post-commit hook runs: no hook may
    # see any of it. Each sees HEAD, the index, the work tree and the queue as one `apply`
    # after another would leave them.
    seen = series / ".git" / "seen"
    for name in ("pre-commit", "post-commit"):
        # HEAD, the queue, the index, local changes (none: the work tree is the index), and
        # what is staged.
        _hook(
            series,
            name,
            f'echo "{name} $(git rev-parse HEAD {REF} | tr \\\\n " ")'
            f"$(git write-tree) $({{ git diff --name-only; git ls-files -o "
            f"--exclude-standard; }} | wc -l) $(git diff --cached --name-only "
            f'HEAD)" >> "{seen}"\n',
        )
    start = git(series, "rev-parse", "HEAD").strip()
    assert cli("apply", "--all").exit_code == 0
    commits = git(series, "rev-list", "--reverse", f"{start}..HEAD").split()
    states = _states(series, 5)  # the split, then one apply each
    assert len(commits) == 4 and git(series, "log", "-1", "--format=%s", states[0]) == (
        "patchpack split: 4 from the work tree\n"
    )
    expected = []
    for i, (name, commit) in enumerate(zip("abcd", commits)):
        parent = commits[i - 1] if i else start
        tree = git(series, "rev-parse", f"{commit}^{{tree}}").strip()
        expected += [
            f"pre-commit {parent} {states[i]} {tree} 0 {name}.txt",
            f"post-commit {commit} {states[i]} {tree} 0 ",
        ]
    assert seen.read_text().splitlines() == expected


def test_a_series_whose_hooks_change_its_commits_records_the_commits_made(series: Path, cli) -> None:
    # Each patch's queue state and the next patch's plan are made for the commit as it will
    # be, while the pre-commit hook runs: a hook that stages more or rewrites the message
    # makes another commit, and what was made ahead for the first is not used.
    _hook(series, "pre-commit", "if [ -f c.txt ]; then echo formatted >> c.txt && git add c.txt; fi\n")
    _hook(series, "commit-msg", 'if grep -q "b.txt" "$1"; then echo "Signed-off-by: A <a@b.c>" >> "$1"; fi\n')
    start = git(series, "rev-parse", "HEAD").strip()
    assert cli("apply", "--all").exit_code == 0
    commits = git(series, "rev-list", "--reverse", f"{start}..HEAD").split()
    patches = json.loads(cli("list", "--json").stdout)["patches"]
    assert [p["applied_as"] for p in patches] == commits
    assert "Signed-off-by: A <a@b.c>" in git(series, "log", "-1", "--format=%B", commits[1])
    assert git(series, "show", f"{commits[2]}:c.txt").endswith("formatted\n")
    assert git(series, "rev-parse", f"{commits[3]}^").strip() == commits[2]
    assert git(series, "status", "--porcelain") == ""


def test_a_file_a_post_commit_hook_writes_is_never_overwritten_by_the_next_patch(series: Path, cli) -> None:
    # The next patch is checked while the post-commit hook runs; this hook writes a file that
    # patch touches only after that check (it sleeps first). The check is made again, and
    # the file is kept.
    _hook(series, "post-commit", 'if [ ! -e b.txt ]; then sleep 0.5; echo "the hook" > b.txt; fi\n')
    r = cli("apply", "--all")
    assert r.exit_code == 1
    assert "touches files with local changes: b.txt" in r.stderr
    assert (series / "b.txt").read_text() == "the hook\n"
    assert [p["state"] for p in json.loads(cli("list", "--json").stdout)["patches"]] == [
        "applied",
        "queued",
        "queued",
        "queued",
    ]


def test_a_series_killed_between_commits_loses_nothing_and_carries_on(series: Path, cli) -> None:
    assert cli("init").exit_code == 0  # the ledger's hooks and notes config
    # The second commit's post-commit hook kills apply (its parent) as a Ctrl-C or an OOM
    # kill would: HEAD has moved to that commit, the queue has not recorded it yet.
    hook = series / ".git" / "hooks" / "post-commit"
    hook.write_text(
        hook.read_text().replace(
            "#!/bin/sh\n",
            '#!/bin/sh\n[ "$(git log -1 --format=%s)" = "Four (2/4): b.txt" ] && '
            "sleep 0.3 && kill -9 $PPID\n",
            1,
        )
    )
    start = git(series, "rev-parse", "HEAD").strip()
    killed = run_patchpack("apply", "--all", cwd=series)
    assert killed.returncode == -9
    assert git(series, "log", "--format=%s", f"{start}..HEAD").splitlines() == [
        "Four (2/4): b.txt",
        "Four (1/4): a.txt",
    ]
    assert [p["state"] for p in json.loads(cli("list", "--json").stdout)["patches"]] == [
        "applied",
        "queued",
        "queued",
        "queued",
    ]

    r = cli("apply", "--all")
    assert r.exit_code == 0, r.stderr
    assert "2  already in HEAD, skipped" in r.stdout and r.stdout.endswith("all applied\n")
    commits = git(series, "rev-list", "--reverse", f"{start}..HEAD").split()
    assert [git(series, "log", "-1", "--format=%s", c).strip() for c in commits] == [
        f"Four ({n}/4): {name}.txt" for n, name in zip(range(1, 5), "abcd")
    ]
    assert git(series, "status", "--porcelain") == ""
    # Every commit has its apply entry, the two of the killed run included, each once.
    for commit in commits:
        note = git(series, "notes", "--ref=patchpack", "show", commit)
        assert note.count('"kind":"apply"') == 1, note
    assert (series / ".git" / "patchpack" / "bound.jsonl").read_text() == ""


def test_a_conflict_found_while_a_series_runs_stops_it_after_the_commits_before(series: Path, cli) -> None:
    write(series / "c.txt", "made by hand\n")  # the third patch creates c.txt too
    git(series, "add", "c.txt")
    git(series, "commit", "-q", "-m", "By hand")
    r = cli("apply", "--all")
    assert r.exit_code == 1
    assert "patch 3/4 (Four (3/4): c.txt) conflicts with HEAD in c.txt" in r.stderr
    assert git(series, "log", "--format=%s", "-3").splitlines() == [
        "Four (2/4): b.txt",
        "Four (1/4): a.txt",
        "By hand",
    ]
    assert [p["state"] for p in json.loads(cli("list", "--json").stdout)["patches"]] == [
        "applied",
        "applied",
        "queued",
        "queued",
    ]
    assert git(series, "status", "--porcelain") == ""


def test_undo_after_apply_all_takes_back_one_commit_at_a_time(series: Path, cli) -> None:
    start = git(series, "rev-parse", "HEAD")
    assert cli("apply", "--all").exit_code == 0
    for left in (3, 2, 1, 0):
        assert cli("undo").exit_code == 0
        assert git(series, "rev-list", "--count", f"{start.strip()}..HEAD") == f"{left}\n"
        assert git(series, "status", "--porcelain") == ""
    assert git(series, "rev-parse", "HEAD") == start
    assert cli("apply", "--all").exit_code == 0  # and again, from the start
    assert not cli("list").stdout.count("queued")


def test_a_commit_taken_back_because_the_queue_moved_keeps_no_ledger_entry(series: Path, cli) -> None:
    # Another patchpack changes the queue while the second commit's post-commit hook runs:
    # apply cannot record that commit, so it takes it back, and its ledger entry with it.
    _hook(
        series,
        "post-commit",
        '[ "$(git log -1 --format=%s)" = "Four (2/4): b.txt" ] && patchpack drop 4 >/dev/null\nexit 0\n',
    )
    start = git(series, "rev-parse", "HEAD").strip()
    r = cli("apply", "--all")
    assert r.exit_code == 1
    assert "the queue changed while applying" in r.stderr
    first = git(series, "rev-parse", "HEAD").strip()
    assert git(series, "log", "--format=%s", f"{start}..HEAD").splitlines() == ["Four (1/4): a.txt"]
    assert git(series, "status", "--porcelain", "--untracked-files=all") == ""
    assert [p["state"] for p in json.loads(cli("list", "--json").stdout)["patches"]] == [
        "applied",
        "queued",
        "queued",
    ]
    notes = git(series, "notes", "--ref=patchpack", "list").split()
    assert notes[1::2] == [first]
    assert git(series, "notes", "--ref=patchpack", "show", first).count('"kind":"apply"') == 1
    assert (series / ".git" / "patchpack" / "bound.jsonl").read_text() == ""


def _blocking_pre_commit(repo: Path, name: str) -> None:
    """A pre-commit hook that, for the patch of ``name``, says so (``.git/blocked``) and waits
    until ``.git/release`` exists."""
    _hook(
        repo,
        "pre-commit",
        f'if [ "$(git diff --cached --name-only)" = "{name}" ]; then\n'
        "  touch .git/blocked\n"
        "  while [ ! -e .git/release ]; do sleep 0.02; done\n"
        "fi\n",
    )


def _stop_while_a_hook_runs(repo: Path, how: str) -> str:
    """Run `apply --all` as a subprocess and stop it (``how``: SIGKILL or SIGINT) while the
    pre-commit hook of the second patch (b.txt) runs; what it printed on stderr."""
    import os
    import signal
    import time

    _blocking_pre_commit(repo, "b.txt")
    # A session of its own: SIGINT to the group is a Ctrl-C, which the hook receives too.
    proc = subprocess.Popen(
        ["patchpack", "apply", "--all"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not (repo / ".git" / "blocked").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    if how == "SIGKILL":
        proc.kill()  # the hook is left waiting, as after an OOM kill
    else:
        os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    (repo / ".git" / "release").touch()
    assert proc.returncode == (-9 if how == "SIGKILL" else 130), err
    return err


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_a_series_stopped_while_a_hook_runs_is_finished_by_the_next_apply(
    series: Path, cli, how: str
) -> None:
    assert cli("init").exit_code == 0  # the ledger's hooks and notes config
    start = git(series, "rev-parse", "HEAD").strip()
    err = _stop_while_a_hook_runs(series, how)
    assert git(series, "log", "--format=%s", f"{start}..HEAD").splitlines() == ["Four (1/4): a.txt"]
    if how == "SIGINT":  # Ctrl-C puts the patch it was committing back at once
        assert "interrupted" in err
        assert git(series, "status", "--porcelain", "--untracked-files=all") == ""
    else:  # a kill leaves it staged, and what apply was doing recorded
        assert git(series, "status", "--porcelain", "--untracked-files=all") == "A  b.txt\n"

    r = cli("apply", "--all")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.endswith("all applied\n") and "skipped" not in r.stdout
    commits = git(series, "rev-list", "--reverse", f"{start}..HEAD").split()
    assert [git(series, "log", "-1", "--format=%s", c).strip() for c in commits] == [
        f"Four ({n}/4): {name}.txt" for n, name in zip(range(1, 5), "abcd")
    ]
    assert [git(series, "diff-tree", "--no-commit-id", "--name-only", "-r", c).strip() for c in commits] == [
        "a.txt",
        "b.txt",
        "c.txt",
        "d.txt",
    ]
    assert git(series, "status", "--porcelain", "--untracked-files=all") == ""
    assert [p["state"] for p in json.loads(cli("list", "--json").stdout)["patches"]] == ["applied"] * 4
    for commit in commits:
        note = git(series, "notes", "--ref=patchpack", "show", commit)
        assert note.count('"kind":"apply"') == 1, note
    assert not (series / ".git" / "patchpack" / "applying.json").exists()


def test_a_file_changed_since_an_apply_was_killed_is_not_overwritten(series: Path, cli) -> None:
    _stop_while_a_hook_runs(series, "SIGKILL")
    write(series / "b.txt", "edited by hand after the kill\n")
    before = _snapshot(series)
    r = cli("apply")
    assert r.exit_code == 1
    assert "an interrupted apply of Four (2/4): b.txt" in r.stderr
    assert "b.txt changed since" in r.stderr
    assert r.stderr.rstrip().endswith("and run `patchpack apply` again")
    assert _snapshot(series) == before
    # Given HEAD's version back, as the hint says, the series carries on.
    git(series, "restore", "--source=HEAD", "--staged", "--worktree", "--", "b.txt")
    assert cli("apply", "--all").exit_code == 0
    assert git(series, "log", "--format=%s", "-3").splitlines() == [
        "Four (4/4): d.txt",
        "Four (3/4): c.txt",
        "Four (2/4): b.txt",
    ]


def test_an_undo_of_an_apply_killed_at_any_moment_is_finished_by_the_next_undo(
    queued: Path, cli, tmp_path: Path
) -> None:
    from conftest import run_killed_after_git

    start = git(queued, "rev-parse", "HEAD")
    for after in range(1, 50):
        assert cli("apply").exit_code == 0
        killed = run_killed_after_git("undo", cwd=queued, after=after, tmp_path=tmp_path)
        if killed.returncode == 0:
            break  # undo ran fewer git processes: every moment between them was tried
        assert killed.returncode == -9, killed.stderr
        r = cli("undo")
        assert r.exit_code == 0, (after, r.stderr)
        assert r.stdout.startswith("undid apply"), (after, r.stdout)
        assert git(queued, "rev-parse", "HEAD") == start
        assert git(queued, "status", "--porcelain", "--untracked-files=all") == ""
        assert [p["state"] for p in json.loads(cli("list", "--json").stdout)["patches"]] == [
            "queued",
            "queued",
        ]
    assert after > 1 and git(queued, "rev-parse", "HEAD") == start
