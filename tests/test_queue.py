"""The queue: add (diffs, plain diffs, mails), list, next, drop, undo, log, storage in refs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import git, lines, run_patchpack, write

REF = "refs/patchpack/queue/main"


def _diff(repo: Path, path: str, text: str) -> str:
    """The git diff that writes ``text`` to ``path``, leaving the work tree as it was."""
    target = repo / path
    before = target.read_bytes() if target.exists() else None
    write(target, text)
    git(repo, "add", "-N", path)
    out = git(repo, "diff", path)
    git(repo, "reset", "-q", path)
    if before is None:
        target.unlink()
    else:
        target.write_bytes(before)
    return out


def _titles(cli) -> list[str]:
    return [p["title"] for p in json.loads(cli("list", "--json").stdout)["patches"]]


def _ref(repo: Path) -> str:
    return git(repo, "rev-parse", "-q", "--verify", REF, check=False).strip()


# -- add --------------------------------------------------------------------------------------


def test_add_a_git_diff_queues_one_patch(committed: Path, cli) -> None:
    diff = _diff(committed, "README.md", "# test\nhello\n")
    r = cli("add", "-m", "Say hello", input=diff)
    assert r.exit_code == 0, r.stderr
    assert "queued" in r.stdout and "Say hello" in r.stdout
    listed = json.loads(cli("list", "--json").stdout)
    assert listed["counter"] == "cl100k_base"
    [patch] = listed["patches"]
    assert patch["position"] == 1 and patch["state"] == "queued"
    assert patch["files"] == ["README.md"] and patch["diff_lines"] == 7 and patch["tokens"] > 0
    assert git(committed, "status", "--porcelain") == ""  # add does not touch the work tree


def test_add_a_plain_diff_u_and_a_diff_ru(committed: Path, cli, tmp_path: Path) -> None:
    write(tmp_path / "old" / "README.md", "# test\n")
    write(tmp_path / "new" / "README.md", "# test\nplain\n")
    plain = subprocess.run(
        ["diff", "-u", "old/README.md", "new/README.md"], cwd=tmp_path, capture_output=True, text=True
    ).stdout
    assert cli("add", "-m", "ru", input=plain).exit_code == 0
    write(tmp_path / "README.md", "# test\n")
    write(tmp_path / "README.md.new", "# test\nsecond\n")
    plain = subprocess.run(
        ["diff", "-u", "README.md", "README.md.new"], cwd=tmp_path, capture_output=True, text=True
    ).stdout
    r = cli("add", "-m", "u", input=plain)
    assert r.exit_code == 0, r.stderr
    assert _titles(cli) == ["ru", "u"]


def test_add_mails_takes_title_and_author_from_each_mail(committed: Path, cli) -> None:
    for n in (1, 2):
        write(committed / f"f{n}.txt", lines(3))
        git(committed, "add", ".")
        git(
            committed,
            "-c",
            "user.name=Mail Author",
            "-c",
            "user.email=mail@example.com",
            "commit",
            "-q",
            "-m",
            f"Add f{n}",
            "--author=Mail Author <mail@example.com>",
        )
    mbox = git(committed, "format-patch", "--stdout", "HEAD~2")
    git(committed, "reset", "-q", "--hard", "HEAD~2")
    r = cli("add", input=mbox)
    assert r.exit_code == 0, r.stderr
    assert _titles(cli) == ["Add f1", "Add f2"]
    assert cli("apply", "--all").exit_code == 0
    assert git(committed, "log", "-2", "--format=%an <%ae>|%s").splitlines() == [
        "Mail Author <mail@example.com>|Add f2",
        "Mail Author <mail@example.com>|Add f1",
    ]


def test_add_over_the_limits_is_refused_unless_split(committed: Path, cli) -> None:
    diff = _diff(committed, "big.txt", lines(300))
    r = cli("add", input=diff)
    assert r.exit_code == 1
    assert "over the micro-patch limits" in r.stderr and "--split" in r.stderr
    assert _ref(committed) == ""
    r = cli("add", "--split", "-m", "Big", input=diff)
    assert r.exit_code == 0, r.stderr
    assert _titles(cli)[0] == "Big (1/3): big.txt"


def test_add_a_diff_that_does_not_fit_shows_the_failing_hunk(committed: Path, cli) -> None:
    diff = _diff(committed, "README.md", "# test\nhello\n").replace(" # test", " # other")
    r = cli("add", input=diff)
    assert r.exit_code == 1
    assert "does not apply" in r.stderr and "the hunk that failed" in r.stderr
    assert "+hello" in r.stderr
    assert _ref(committed) == ""


def test_add_on_top_of_queued_patches(committed: Path, cli) -> None:
    first = _diff(committed, "README.md", "# test\none\n")
    assert cli("add", input=first).exit_code == 0
    write(committed / "README.md", "# test\none\n")
    git(committed, "add", "README.md")  # the second diff is made on top of the first
    second = _diff(committed, "README.md", "# test\none\ntwo\n")
    git(committed, "checkout", "README.md")
    assert cli("add", input=second).exit_code == 0
    r = cli("apply", "--all")
    assert r.exit_code == 0, r.stderr
    assert (committed / "README.md").read_text() == "# test\none\ntwo\n"


@pytest.mark.parametrize(
    "text, code",
    [
        ("not a diff at all\n", 2),
        ("--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n-a\n", 2),
    ],
)
def test_add_bad_input(committed: Path, cli, text: str, code: int) -> None:
    r = cli("add", input=text)
    assert r.exit_code == code, r.stderr
    assert _ref(committed) == ""


def test_add_in_an_empty_repository_or_outside_one(repo: Path, cli, tmp_path: Path) -> None:
    r = cli(
        "add", input="diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+x\n"
    )
    assert r.exit_code == 2 and "no commits yet" in r.stderr
    outside = tmp_path / "outside"
    outside.mkdir()
    assert run_patchpack("list", cwd=outside).returncode == 2


HOSTILE = {
    "climbs": "diff --git a/../evil b/../evil\nnew file mode 100644\n--- /dev/null\n"
    "+++ b/../evil\n@@ -0,0 +1 @@\n+x\n",
    "absolute": "--- /dev/null\n+++ /etc/evil\n@@ -0,0 +1 @@\n+x\n",
    "git dir": "diff --git a/.git/hooks/pre-commit b/.git/hooks/pre-commit\n"
    "new file mode 100755\n--- /dev/null\n+++ b/.git/hooks/pre-commit\n"
    "@@ -0,0 +1 @@\n+x\n",
    "nested git dir": "diff --git a/sub/.GIT/config b/sub/.GIT/config\nnew file mode 100644\n"
    "--- /dev/null\n+++ b/sub/.GIT/config\n@@ -0,0 +1 @@\n+x\n",
    "through a symlink": "diff --git a/link/evil b/link/evil\nnew file mode 100644\n"
    "--- /dev/null\n+++ b/link/evil\n@@ -0,0 +1 @@\n+x\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_paths_are_refused_before_anything_is_written(committed: Path, cli, name: str) -> None:
    (committed / "link").symlink_to("/tmp")
    git(committed, "add", "link")
    git(committed, "commit", "-q", "-m", "link")
    objects = git(committed, "count-objects", "-v")
    r = cli("add", input=HOSTILE[name])
    assert r.exit_code == 2, r.stderr
    assert "unsafe path" in r.stderr
    assert _ref(committed) == ""
    assert git(committed, "count-objects", "-v") == objects


@pytest.mark.parametrize("escape", ["\\q", "\\2 4", "\\400"])
def test_a_quoted_path_with_an_escape_git_does_not_read_is_refused(committed: Path, cli, escape: str) -> None:
    name = f'"b/x{escape}"'
    objects = git(committed, "count-objects", "-v")
    r = cli(
        "add",
        input=f"diff --git {name.replace('b/', 'a/')} {name}\nnew file mode 100644\n"
        f"--- /dev/null\n+++ {name}\n@@ -0,0 +1 @@\n+x\n",
    )
    assert r.exit_code == 2 and "an escape git does not read" in r.stderr
    assert _ref(committed) == ""
    assert git(committed, "count-objects", "-v") == objects


# -- list, next, drop, log --------------------------------------------------------------------


def _queue_three(repo: Path, cli) -> None:
    for n in (1, 2, 3):
        assert cli("add", "-m", f"Add f{n}", input=_diff(repo, f"f{n}.txt", "x\n")).exit_code == 0


def test_next_shows_position_title_files_and_the_diff(committed: Path, cli) -> None:
    r = cli("next")
    assert r.exit_code == 1 and "queue empty" in r.stderr
    _queue_three(committed, cli)
    r = cli("next")
    assert r.exit_code == 0
    assert r.stdout.startswith("1/3  Add f1\nfiles: f1.txt  (7 diff lines)\n\ndiff --git a/f1.txt")
    data = json.loads(cli("next", "--json").stdout)
    assert data["position"] == 1 and data["total"] == 3 and data["diff"].startswith("diff --git")


def test_list_text(committed: Path, cli) -> None:
    assert cli("list").stdout == "queue empty\n"
    _queue_three(committed, cli)
    assert cli("apply").exit_code == 0
    out = cli("list").stdout.splitlines()
    assert out[0].startswith("1/3  applied") and out[0].endswith("Add f1")
    assert out[2].startswith("2/3  queued") and out[-1] == "(tokens counted with cl100k_base)"


def test_drop_undo_and_log(committed: Path, cli) -> None:
    _queue_three(committed, cli)
    assert cli("drop", "2").stdout == "dropped  Add f2\n"
    assert _titles(cli) == ["Add f1", "Add f3"]
    assert cli("drop", "9").exit_code == 2
    assert cli("drop").exit_code == 0
    assert _titles(cli) == ["Add f3"]
    assert cli("undo").exit_code == 0
    assert _titles(cli) == ["Add f1", "Add f3"]
    assert cli("undo").exit_code == 0
    assert _titles(cli) == ["Add f1", "Add f2", "Add f3"]
    log = cli("log").stdout.splitlines()
    assert [line.split()[1] for line in log] == ["undo", "undo", "drop", "drop", "add", "add", "add"]
    assert len(cli("log", "-n", "2").stdout.splitlines()) == 2


def test_every_operation_moves_the_ref_once_with_a_reflog_reason(committed: Path, cli) -> None:
    _queue_three(committed, cli)
    reflog = git(committed, "reflog", "show", "--format=%gs", REF).splitlines()
    assert reflog == ["patchpack add: 1 from stdin"] * 3
    state = git(committed, "rev-parse", REF).strip()
    assert git(committed, "rev-parse", f"{REF}~1").strip() != state
    assert json.loads(git(committed, "show", f"{REF}:state.json"))["version"] == 2
    assert git(committed, "ls-tree", "-r", "--name-only", f"{REF}:series").split() == [
        "0000/00",
        "0000/01",
        "0000/02",
    ]


def _old_format_queue(repo: Path) -> tuple[str, str]:
    """A queue as version 1 wrote it, the whole series in one ``queue.json``: two patches,
    x.txt then y.txt on top of it."""
    commits, parent = [], git(repo, "rev-parse", "HEAD").strip()
    for name in ("x.txt", "y.txt"):
        write(repo / name, lines(3, name))
        git(repo, "add", name)
        parent = git(
            repo, "commit-tree", git(repo, "write-tree").strip(), "-p", parent, "-m", f"Add {name}"
        ).strip()
        commits.append(parent)
    git(repo, "read-tree", "HEAD")
    for name in ("x.txt", "y.txt"):
        (repo / name).unlink()
    text = json.dumps(
        {
            "version": 1,
            "previous": None,
            "op": {"kind": "add", "summary": "2 old"},
            "patches": [
                {"commit": c, "title": f"Add {n}", "files": [n], "lines": 8, "state": "queued"}
                for c, n in zip(commits, ("x.txt", "y.txt"))
            ],
        }
    )
    blob = git(repo, "hash-object", "-w", "--stdin", input=text).strip()
    tree = git(repo, "mktree", input=f"100644 blob {blob}\tqueue.json\n").strip()
    state = git(
        repo, "commit-tree", tree, "-p", commits[0], "-p", commits[1], "-m", "patchpack add: 2 old"
    ).strip()
    git(repo, "update-ref", REF, state)
    return state, tree


def test_a_queue_written_by_version_1_is_read_applied_and_undone(committed: Path, cli) -> None:
    old, _ = _old_format_queue(committed)
    assert _titles(cli) == ["Add x.txt", "Add y.txt"]
    assert cli("next").stdout.startswith("1/2  Add x.txt\n")
    assert cli("apply").exit_code == 0
    # The next state has the new layout; its parent is the old one.
    assert git(committed, "rev-parse", f"{REF}~1").strip() == old
    assert git(committed, "ls-tree", "-r", "--name-only", REF).split() == [
        "series/0000/00",
        "series/0000/01",
        "state.json",
    ]
    assert [line.split()[1] for line in cli("log").stdout.splitlines()] == ["apply", "add"]
    assert cli("undo").exit_code == 0  # back to the old state: read from the old layout
    assert [p["state"] for p in json.loads(cli("list", "--json").stdout)["patches"]] == ["queued", "queued"]
    assert git(committed, "rev-list", "--count", "HEAD") == "1\n"
    assert cli("apply", "--all").exit_code == 0
    assert git(committed, "log", "--format=%s", "-2").splitlines() == ["Add y.txt", "Add x.txt"]
    assert (committed / "y.txt").read_text() == lines(3, "y.txt")


def test_a_state_edits_only_what_changed(committed: Path, cli) -> None:
    for i in range(105):  # two directories of the series
        write(committed / f"f{i:03d}.txt", f"{i}\n")
    assert cli("split", "-m", "Many", "--max-files", "1").exit_code == 0
    assert len(git(committed, "ls-tree", "-r", f"{REF}:series").split("\n")) == 106
    assert cli("apply").exit_code == 0
    rev = lambda spec: git(committed, "rev-parse", spec)  # noqa: E731
    assert rev(f"{REF}:series/0000/00") != rev(f"{REF}~1:series/0000/00")  # now applied
    assert rev(f"{REF}:series/0000/01") == rev(f"{REF}~1:series/0000/01")
    # The other directory of the series is the very same tree, not written again.
    assert rev(f"{REF}:series/0001") == rev(f"{REF}~1:series/0001")
    assert cli("drop").exit_code == 0  # the next queued, patch 2: the rest move up
    assert len(git(committed, "ls-tree", "-r", "--name-only", f"{REF}:series").split()) == 104
    assert _titles(cli)[:2] == ["Many (1/105): f000.txt", "Many (3/105): f002.txt"]


def test_the_queue_survives_gc(committed: Path, cli) -> None:
    _queue_three(committed, cli)
    assert cli("drop", "1").exit_code == 0
    git(committed, "reflog", "expire", "--expire=now", "--all")
    git(committed, "gc", "-q", "--prune=now")
    assert cli("undo").exit_code == 0
    assert cli("apply", "--all").exit_code == 0
    assert git(committed, "log", "--format=%s", "-3").splitlines() == ["Add f3", "Add f2", "Add f1"]


def test_concurrent_adds_lose_nothing(committed: Path) -> None:
    diffs = [_diff(committed, f"c{n}.txt", f"{n}\n") for n in range(8)]
    procs = [
        subprocess.Popen(
            ["patchpack", "add", "-m", f"c{n}"],
            cwd=committed,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    for proc, diff in zip(procs, diffs):
        proc.stdin.write(diff)  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
    assert [p.wait() for p in procs] == [0] * 8, [p.stderr.read() for p in procs]
    listed = run_patchpack("list", "--json", cwd=committed)
    titles = sorted(p["title"] for p in json.loads(listed.stdout)["patches"])
    assert titles == [f"c{n}" for n in range(8)]


def test_queue_works_from_a_subdirectory_a_worktree_and_a_detached_head(committed: Path, cli) -> None:
    diff = _diff(committed, "README.md", "# test\nsub\n")
    (committed / "sub").mkdir()
    assert run_patchpack("add", cwd=committed / "sub", input=diff).returncode == 0
    linked = committed.parent / "linked"
    git(committed, "worktree", "add", "-q", "-b", "other", str(linked))
    r = run_patchpack("add", "-m", "from worktree", cwd=linked, input=diff)
    assert r.returncode == 0, r.stderr
    assert run_patchpack("apply", cwd=linked).returncode == 0
    assert git(committed, "log", "-1", "--format=%s", "other").strip() == "from worktree"
    git(committed, "checkout", "-q", "--detach")
    assert run_patchpack("add", cwd=committed, input=diff).returncode == 0
    refs = git(committed, "for-each-ref", "--format=%(refname)", "refs/patchpack/").split()
    assert refs == ["refs/patchpack/queue/detached", REF, "refs/patchpack/queue/other"]


def test_each_patch_keeps_its_diff_in_the_state_for_list(committed: Path, cli) -> None:
    # `list` reads the kept text instead of diffing each patch's files again (#15).
    _queue_three(committed, cli)
    rows = json.loads(cli("list", "--json").stdout)["patches"]
    for n, row in enumerate(rows):
        kept = git(committed, "cat-file", "blob", f"{REF}:diffs/0000/{n:02d}")
        assert kept == git(committed, "show", "--format=", "-M", row["commit"]).lstrip("\n")
    assert cli("drop", "1").exit_code == 0
    git(committed, "reflog", "expire", "--expire=now", "--all")
    git(committed, "gc", "-q", "--prune=now")
    assert json.loads(cli("list", "--json").stdout)["patches"] == [
        {**row, "position": n} for n, row in enumerate(rows[1:], 1)
    ]
    assert git(committed, "ls-tree", "--name-only", f"{REF}:diffs/0000") == "00\n01\n"
