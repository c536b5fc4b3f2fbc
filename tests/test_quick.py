"""`check --staged`, `next` and `status` answered before click loads (#16): each runs here
through the console script's entry point and through click on the same repository, and the
two must print the same bytes on stdout and stderr and exit with the same code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git, lines, run_patchpack, write

# The console script's entry point, then which of these it loaded (on a last stderr line).
WATCHED = ("click", "pygit2._pygit2", "tiktoken", "patchpack.git.objects")
ENTRY = (
    "import sys\nfrom patchpack.__main__ import main\nsys.argv[1:] = sys.argv[2:]\n"
    "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
    "sys.stdout.flush()\n"
    f"print(code, *[m for m in {WATCHED!r} if m in sys.modules], file=sys.stderr)"
)
# The click command alone, as every command ran before #16's quick path.
CLICK = (
    "import sys\nfrom patchpack.cli import main\nsys.argv[1:] = sys.argv[2:]\n"
    "try:\n    main()\nexcept SystemExit as e:\n    print(e.code, file=sys.stderr)"
)


def _run(code: str, cwd: Path, argv: tuple[str, ...]) -> tuple[str, bytes, bytes, list[str]]:
    r = subprocess.run([sys.executable, "-c", code, "-", *argv], cwd=cwd, capture_output=True)
    *told, last = r.stderr.split(b"\n")[:-1]
    exit_code, _, loaded = last.decode().partition(" ")
    return exit_code, r.stdout, b"\n".join(told) + (b"\n" if told else b""), loaded.split()


def same(cwd: Path, *argv: str) -> tuple[str, bytes, bytes]:
    """``patchpack ARGV`` answered by the quick path, checked against click's answer: the
    exit code, stdout and stderr (bytes), which must be equal; and nothing heavy loaded."""
    code, out, err, loaded = _run(ENTRY, cwd, argv)
    click_code, click_out, click_err, _ = _run(CLICK, cwd, argv)
    assert (code, out, err) == (click_code, click_out, click_err)
    assert loaded == [], f"{argv} loaded {loaded}"
    return code, out, err


# -- check --staged ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [("check",), ("check", "--staged"), ("check", "--staged", "--json"), ("check", "--json")]
)
def test_check_of_a_staged_change_within_the_limits(committed: Path, argv) -> None:
    write(committed / "a.py", lines(10))
    git(committed, "add", "a.py")
    code, out, err = same(committed, *argv)
    assert code == "0" and err == b"" and b"a.py" in out


def test_check_over_the_limits_fails_the_same(committed: Path) -> None:
    for name in ("a.py", "b.py", "c.py"):
        write(committed / name, lines(60))
    git(committed, "add", ".")
    code, out, err = same(committed, "check", "--staged")
    assert code == "1" and b"files: 3 / 2  FAIL" in out and b"patchpack split" in err
    assert same(committed, "check", "--json")[0] == "1"


def test_check_of_nothing_staged_and_of_an_empty_repository(repo: Path) -> None:
    assert same(repo, "check")[:2] == ("0", b"files: 0 / 2  ok\ndiff lines: 0 / 120  ok\n")
    write(repo / "new.txt", "x\n")
    git(repo, "add", "new.txt")
    assert same(repo, "check", "--staged")[0] == "0"


def test_check_names_hostile_paths_and_settings_as_click_does(committed: Path) -> None:
    write(committed / "\x1b[31mred\x1b[0m.txt", "escape\n")
    (committed / "caf\xe9.txt".encode("latin-1").decode("utf-8", "surrogateescape")).write_bytes(
        b"latin-1 name\n"
    )
    write(committed / "new\nline.txt", "x\n")
    git(committed, "add", ".")
    git(committed, "config", "patchpack.maxFiles", "5")
    code, out, err = same(committed, "check", "--staged")
    assert code == "0" and b"files: 3 / 5" in out
    git(committed, "config", "patchpack.maxFiles", "many")
    code, out, err = same(committed, "check", "--staged")
    assert code == "2" and out == b"" and b"patchpack.maxFiles" in err


def test_check_outside_a_repository_is_bad_input_the_same(tmp_path: Path) -> None:
    code, out, err = same(tmp_path, "check", "--staged")
    assert code == "2" and out == b"" and err.startswith(b"patchpack: not a git repository")


def test_check_loads_no_dataclasses_nor_inspect(committed: Path) -> None:
    write(committed / "a.py", lines(10))
    git(committed, "add", "a.py")
    probe = ENTRY.replace(repr(WATCHED), repr(("dataclasses", "inspect", "email")))
    assert _run(probe, committed, ("check", "--staged"))[0::3] == ("0", [])


def test_other_commands_do_not_pay_for_the_quick_path(committed: Path) -> None:
    probe = ENTRY.replace(repr(WATCHED), repr(("patchpack.agents.quick",)))
    assert _run(probe, committed, ("list",))[0::3] == ("0", [])


def test_other_forms_of_check_still_go_to_click(committed: Path) -> None:
    for argv in (("check", "--help"), ("check", "HEAD"), ("check", "--max-files", "3")):
        code, out, _, loaded = _run(ENTRY, committed, argv)
        assert code == "0" and "click" in loaded, argv
        assert out.startswith(b"Usage: patchpack check") == (argv[1] == "--help")


# -- next -------------------------------------------------------------------------------------


def _queue_three(repo: Path) -> None:
    for i in range(1, 4):
        write(repo / f"f{i}.txt", lines(5, f"f{i}"))
    assert run_patchpack("split", "-m", "three", "--max-files", "1", cwd=repo).returncode == 0


@pytest.mark.parametrize("argv", [("next",), ("next", "--json")])
def test_next_of_a_queued_patch(committed: Path, argv) -> None:
    _queue_three(committed)
    code, out, err = same(committed, *argv)
    assert code == "0" and err == b"" and b"f1.txt" in out and b"f2.txt" not in out


def test_next_of_an_empty_queue_and_of_no_commit_fail_the_same(repo: Path) -> None:
    code, out, err = same(repo, "next")
    assert code == "1" and out == b"" and err.startswith(b"patchpack: queue empty")
    write(repo / "a.txt", "a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "a")
    assert same(repo, "next")[0] == "1"


def test_next_with_the_reminder_and_the_budget_line(committed: Path) -> None:
    _queue_three(committed)
    assert run_patchpack("apply", cwd=committed).returncode == 0
    assert run_patchpack("apply", cwd=committed).returncode == 0  # a reminder every 2
    git(committed, "config", "patchpack.dailyBudget", "100")
    record = ("record", "--in", "90", "--out", "5", "--model", "m\x1b[31m", "--agent", "a")
    assert run_patchpack(*record, cwd=committed).returncode == 0
    code, out, err = same(committed, "next")
    assert code == "0" and b"reminder: run /truncate" in err and b"budget: daily" in err
    git(committed, "config", "patchpack.truncateCommand", "/truncate {oops}")
    code, out, err = same(committed, "next")  # the patch was printed before the error
    assert code == "2" and b"f3.txt" in out and b"truncateCommand" in err


def test_next_of_a_patch_whose_base_moved_is_answered_by_the_door(committed: Path) -> None:
    _queue_three(committed)
    write(committed / "other.txt", "other\n")
    git(committed, "add", "other.txt")
    git(committed, "commit", "-q", "-m", "other")
    code, out, err, loaded = _run(ENTRY, committed, ("next",))
    assert code == "0" and b"HEAD moved" in out and "pygit2._pygit2" in loaded
    assert (code, out, err) == _run(CLICK, committed, ("next",))[:3]


def test_next_with_hostile_bytes_in_the_queue_and_the_notes(committed: Path) -> None:
    name = "caf\xe9 \x1b[1m.txt".encode("latin-1").decode("utf-8", "surrogateescape")
    (committed / name).write_bytes(b"\x1b[31mred\x1b[0m\n\xff\xfe\n")
    assert run_patchpack("split", "-m", "\x1b[32mgreen", cwd=committed).returncode == 0
    notes = "refs/notes/patchpack"
    (committed.parent / "note").write_bytes(b'{"v":1,"id":"\xff\n\x00{\x1b[2J\n')
    blob = git(committed, "hash-object", "-w", str(committed.parent / "note")).strip()
    head = git(committed, "rev-parse", "HEAD").strip()
    tree = git(committed, "mktree", input=f"100644 blob {blob}\t{head}\n").strip()
    notes_commit = git(committed, "commit-tree", tree, "-m", "notes").strip()
    git(committed, "update-ref", notes, notes_commit)
    code, out, err = same(committed, "next")
    assert code == "0" and b"\\033[1m" in out and b"\x1b" not in out + err


# -- status -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [("status",), ("status", "--json"), ("status", "--tracked-only"), ("status", "--json", "--tracked-only")],
)
def test_status_with_a_queue_a_change_and_a_ledger(committed: Path, argv) -> None:
    _queue_three(committed)
    assert run_patchpack("apply", cwd=committed).returncode == 0
    write(committed / "README.md", lines(200))
    git(committed, "config", "patchpack.dailyBudget", "1000")
    for agent in ("a", "b\x1b[31m"):
        record = ("record", "--in", "400", "--out", "20", "--model", "m", "--agent", agent)
        assert run_patchpack(*record, cwd=committed).returncode == 0
    git(committed, "commit", "-q", "-am", "big")  # the spend moves into the note
    record = ("record", "--in", "7", "--out", "0", "--model", "m")
    assert run_patchpack(*record, cwd=committed).returncode == 0
    write(committed / "README.md", lines(400))
    code, out, err = same(committed, *argv)
    assert code == "0" and err == b""
    if "--json" in argv:
        found = json.loads(out)
        assert (found["queue"]["applied"], found["today"]["tokens"]) == (1, 847)
        assert found["budget_line"].startswith("budget: daily 847/1,000")
    else:
        assert b"queue:       1/3 applied" in out and b"OVER the limits" in out
        assert b"today:       847/1,000 tokens (85%)" in out and b"\nbudget: daily" in out


def test_status_of_an_empty_queue_and_of_a_detached_head(committed: Path) -> None:
    code, out, err = same(committed, "status")
    assert code == "0" and b"queue:       empty" in out and err == b""
    git(committed, "checkout", "-q", "--detach")
    assert b"HEAD detached" in same(committed, "status")[1]


def test_status_with_untracked_files_or_no_commit_is_answered_by_the_door(repo: Path) -> None:
    write(repo / "new.txt", "new\n")
    for argv in (("status",), ("status", "--tracked-only")):  # no commit yet
        code, out, err, loaded = _run(ENTRY, repo, argv)
        assert code == "0" and "click" in loaded
        assert (code, out, err) == _run(CLICK, repo, argv)[:3]
    git(repo, "add", "new.txt")
    git(repo, "commit", "-q", "-m", "new")
    write(repo / "newer.txt", "newer\n")
    code, out, err, loaded = _run(ENTRY, repo, ("status",))
    assert code == "0" and b"1/2 files" in out and "pygit2._pygit2" in loaded
    assert (code, out, err) == _run(CLICK, repo, ("status",))[:3]
    assert b"0/2 files" in same(repo, "status", "--tracked-only")[1]


def test_status_with_a_bad_setting_or_outside_a_repository(committed: Path, tmp_path: Path) -> None:
    git(committed, "config", "patchpack.dailyBudget", "lots")
    code, out, err = same(committed, "status")
    assert code == "2" and out == b"" and b"patchpack.dailyBudget" in err
    outside = tmp_path / "outside"
    outside.mkdir()
    code, out, err = same(outside, "status", "--json")
    assert code == "2" and out == b"" and b"not a git repository" in err


def test_status_and_next_read_the_ledger_through_the_open_cat_file(committed: Path, tmp_path: Path) -> None:
    _queue_three(committed)
    assert run_patchpack("apply", cwd=committed).returncode == 0  # a note on HEAD
    for argv in (("status", "--tracked-only"), ("next",)):
        trace = tmp_path / f"{argv[0]}.trace"
        r = run_patchpack(*argv, cwd=committed, env={"GIT_TRACE": str(trace)})
        assert r.returncode == 0, r.stderr
        ran = [
            line.split("built-in: git ", 1)[1].split()[0]
            for line in trace.read_text().splitlines()
            if "built-in: git " in line
        ]
        # Each process costs about a tenth of the command's budget (#16).
        assert "ls-tree" not in ran and len(ran) <= 6, ran


def test_status_and_next_ask_git_for_the_branch_with_the_repository(committed: Path, tmp_path: Path) -> None:
    _queue_three(committed)
    assert run_patchpack("apply", cwd=committed).returncode == 0
    # The branch comes with the `rev-parse` that finds the repository, the config and the
    # objects are read while the modules load, the untracked files beside the diff (#16).
    for argv, expected in (
        (("status",), ["rev-parse", "config", "cat-file", "diff", "ls-files"]),
        (("status", "--tracked-only"), ["rev-parse", "config", "cat-file", "diff"]),
        (("next",), ["rev-parse", "config", "cat-file", "show"]),
    ):
        trace = tmp_path / f"{'-'.join(argv)}.trace"
        r = run_patchpack(*argv, cwd=committed, env={"GIT_TRACE": str(trace)})
        assert r.returncode == 0, r.stderr
        ran = [
            line.split("built-in: git ", 1)[1].split()[0]
            for line in trace.read_text().splitlines()
            if "built-in: git " in line
        ]
        assert sorted(ran) == sorted(expected), (argv, ran)


def test_status_and_next_the_same_in_a_worktree_a_subdirectory_and_the_git_dir(
    committed: Path, tmp_path: Path
) -> None:
    write(committed / "sub" / "a.txt", "a\n")
    git(committed, "add", "sub")
    git(committed, "commit", "-q", "-m", "sub")
    _queue_three(committed)
    other = tmp_path / "other"
    git(committed, "worktree", "add", "-q", "-b", "other", str(other))
    for where in (committed / "sub", other):
        for argv in (("status", "--tracked-only"), ("status", "--json"), ("next",)):
            same(where, *argv)
    assert b"on other at" in same(other, "status", "--tracked-only")[1]
    # From inside the git dir libgit2 finds the work tree, which git does not: the door.
    for argv in (("status", "--tracked-only"), ("next",), ("check", "--staged")):
        code, out, err, loaded = _run(ENTRY, committed / ".git", argv)
        assert code == "0" and "click" in loaded and b"bare" not in out, argv
        assert (code, out, err) == _run(CLICK, committed / ".git", argv)[:3]
