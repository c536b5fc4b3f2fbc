"""Cutting changes into micro-patches: the round-trip property and the shapes of the cut."""

from __future__ import annotations

import ast
import json
import os
import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchpack.queue import cuts

from conftest import git, lines, run_patchpack, write

NAMES = ["a.py", "lib/b.txt", "lib/deep/c.md", "with space.txt", "ünï.txt", "d.crlf", "e.bin"]


def _text(rng: random.Random, n: int, tag: str) -> bytes:
    body = "".join(f"{tag} {rng.randrange(1000)} {i}\n" for i in range(n))
    return body.encode()


def _mutate(rng: random.Random, data: bytes) -> bytes:
    rows = data.split(b"\n")
    for _ in range(rng.randrange(1, 6)):
        at = rng.randrange(len(rows) + 1)
        kind = rng.choice(["insert", "delete", "replace"])
        size = rng.choice([1, 2, 5, 40, 150])
        new = [f"new {rng.randrange(10**6)}".encode() for _ in range(size)]
        if kind == "insert":
            rows[at:at] = new
        elif kind == "delete":
            del rows[at : at + size]
        else:
            rows[at : at + size] = new
    return b"\n".join(rows)


def _make_change(root: Path, rng: random.Random) -> None:
    """A base commit, then an uncommitted change mixing every kind of edit."""
    git(root, "init", "-q")
    for name in NAMES:
        data = _text(rng, rng.choice([0, 3, 30, 200]), name)
        if name.endswith(".crlf"):
            data = data.replace(b"\n", b"\r\n")
        if name.endswith(".bin"):
            data = bytes(rng.randrange(256) for _ in range(300)) + b"\0"
        write(root / name, data)
    write(root / "latin1.txt", "caf\xe9\n".encode("latin-1") * 20)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    for name in [*NAMES, "latin1.txt"]:
        path = root / name
        roll = rng.random()
        if roll < 0.15:
            path.unlink()
        elif roll < 0.25:
            target = root / "moved" / path.name
            target.parent.mkdir(exist_ok=True)
            path.rename(target)
            if rng.random() < 0.5 and not name.endswith(".bin"):
                target.write_bytes(target.read_bytes() + b"one more line\n")
        elif roll < 0.35:
            path.chmod(0o755)
        elif name.endswith(".bin"):
            path.write_bytes(bytes(rng.randrange(256) for _ in range(200)) + b"\0")
        else:
            path.write_bytes(_mutate(rng, path.read_bytes()))
    for k in range(rng.randrange(0, 3)):
        data = _text(rng, rng.choice([0, 10, 130, 300]), f"new{k}")
        if rng.random() < 0.3:
            data = data.rstrip(b"\n")  # no final newline
        write(root / f"pkg/new_{k}.py", data)
    if rng.random() < 0.5:
        os.symlink("a.py", root / "link")


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1), max_lines=st.sampled_from([40, 120]))
def test_split_then_apply_all_reproduces_the_change(cli, seed: int, max_lines: int) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _make_change(root, rng)
        git(root, "add", "-A")
        expected = git(root, "write-tree").strip()
        git(root, "reset", "-q")
        old = os.getcwd()
        os.chdir(root)
        try:
            base = git(root, "rev-parse", "HEAD").strip()
            r = cli("split", "--max-lines", str(max_lines))
            if expected == git(root, "rev-parse", "HEAD^{tree}").strip():
                assert r.exit_code == 1  # nothing to split
                return
            assert r.exit_code == 0, r.stderr
            assert git(root, "status", "--porcelain") == ""
            r = cli("apply", "--all")
            assert r.exit_code == 0, r.stderr
            assert git(root, "rev-parse", "HEAD^{tree}").strip() == expected
            r = cli("check", "--json", "--max-lines", str(max_lines), f"{base}..HEAD")
            assert r.exit_code == 0, r.stdout
            results = json.loads(r.stdout)["results"]
            assert len(results) == int(git(root, "rev-list", "--count", f"{base}..HEAD"))
        finally:
            os.chdir(old)


def test_a_new_file_goes_with_the_file_that_uses_it(committed: Path, cli) -> None:
    write(committed / "app.py", "import helpers\n" + lines(30))
    write(committed / "zeta.py", lines(80, "z"))
    write(committed / "helpers.py", lines(20, "h"))
    git(committed, "add", "app.py")
    git(committed, "commit", "-q", "-m", "app")
    write(committed / "app.py", "import helpers\nhelpers.go()\n" + lines(30))
    write(committed / "util/helpers_extra.py", lines(5))
    r = cli("split", "-m", "Use helpers")
    assert r.exit_code == 0, r.stderr
    r = cli("list", "--json")
    files = [p["files"] for p in json.loads(r.stdout)["patches"]]
    assert ["app.py", "helpers.py"] in files


def test_one_hunk_too_big_is_cut_into_pieces_that_apply_in_turn(committed: Path, cli) -> None:
    write(committed / "big.txt", lines(500, "old"))
    git(committed, "add", "big.txt")
    git(committed, "commit", "-q", "-m", "big")
    write(committed / "big.txt", lines(500, "new"))
    assert cli("split", "-m", "Rewrite").exit_code == 0
    patches = json.loads(cli("list", "--json").stdout)["patches"]
    assert len(patches) >= 9
    assert all(p["diff_lines"] <= 120 and p["files"] == ["big.txt"] for p in patches)
    assert patches[0]["title"] == f"Rewrite (1/{len(patches)}): big.txt"
    assert cli("apply", "--all").exit_code == 0
    assert (committed / "big.txt").read_text() == lines(500, "new")


def test_binary_files_and_pure_renames_are_patches_of_their_own(committed: Path, cli) -> None:
    write(committed / "old.txt", lines(40))
    git(committed, "add", "old.txt")
    git(committed, "commit", "-q", "-m", "old")
    git(committed, "mv", "old.txt", "renamed.txt")
    write(committed / "image.png", b"\x89PNG\0\1\2")
    write(committed / "README.md", "# test\nmore\n")
    assert cli("split").exit_code == 0
    patches = json.loads(cli("list", "--json").stdout)["patches"]
    assert ["image.png"] in [p["files"] for p in patches]
    assert ["renamed.txt"] in [p["files"] for p in patches]
    assert cli("apply", "--all").exit_code == 0
    assert git(committed, "status", "--porcelain") == ""


def _snapshot(repo: Path) -> tuple[str, ...]:
    """HEAD, the index, the work tree (its status, its diff, every file's bytes)."""
    return (
        git(repo, "rev-parse", "HEAD"),
        git(repo, "ls-files", "--stage"),
        git(repo, "status", "--porcelain", "--untracked-files=all"),
        git(repo, "diff"),
        "".join(
            f"{p}:{p.read_bytes()!r}"
            for p in sorted(repo.rglob("*"))
            if ".git" not in p.parts and p.is_file()
        ),
    )


def _change(repo: Path) -> None:
    """Staged, unstaged and untracked changes, a file deleted."""
    write(repo / "keep.txt", lines(20, "keep"))
    write(repo / "gone.txt", lines(5, "gone"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "more files")
    write(repo / "README.md", "# test\nstaged\n")
    git(repo, "add", "README.md")
    write(repo / "README.md", "# test\nstaged\nand unstaged\n")
    write(repo / "keep.txt", lines(20, "kept"))
    (repo / "gone.txt").unlink()
    write(repo / "new dir/untracked.txt", lines(150))


def test_undo_of_a_split_after_files_were_merely_touched(committed: Path, cli) -> None:
    _change(committed)
    before = _snapshot(committed)
    assert cli("split").exit_code == 0
    for name in ("README.md", "keep.txt"):  # same bytes, another mtime
        os.utime(committed / name, (1_800_000_000, 1_800_000_000))
    r = cli("undo")
    assert r.exit_code == 0, r.stderr
    assert _snapshot(committed) == before


def test_an_undo_of_a_split_killed_at_any_moment_is_finished_by_the_next_undo(
    committed: Path, cli, tmp_path: Path
) -> None:
    from conftest import run_killed_after_git

    _change(committed)
    before = _snapshot(committed)
    for after in range(1, 50):
        assert cli("split").exit_code == 0
        killed = run_killed_after_git("undo", cwd=committed, after=after, tmp_path=tmp_path)
        if killed.returncode == 0:
            break  # undo ran fewer git processes: every moment between them was tried
        assert killed.returncode == -9, killed.stderr
        r = cli("undo")
        assert r.exit_code == 0, (after, r.stderr)
        assert r.stdout.startswith("undid split"), (after, r.stdout)
        assert _snapshot(committed) == before, after
        assert json.loads(cli("list", "--json").stdout)["patches"] == []
    assert after > 1 and _snapshot(committed) == before


def test_undo_of_a_split_refuses_to_overwrite_a_file_changed_since(committed: Path, cli) -> None:
    _change(committed)
    assert cli("split").exit_code == 0
    write(committed / "keep.txt", "edited since the split\n")
    write(committed / "new dir/untracked.txt", "made again since the split\n")
    before = _snapshot(committed), git(committed, "rev-parse", "refs/patchpack/queue/main")
    r = cli("undo")
    assert r.exit_code == 1
    assert r.stderr.startswith(
        "patchpack: keep.txt, new dir/untracked.txt changed since the "
        "split: undo would overwrite them; nothing changed\n"
    )
    assert r.stderr.rstrip().endswith("then `patchpack undo` again")
    assert (_snapshot(committed), git(committed, "rev-parse", "refs/patchpack/queue/main")) == before


TITLE = "Uncommitted changes"
ONE_SPLIT = [
    "Uncommitted changes (1/4): README.md, gone.txt",
    "Uncommitted changes (2/4): keep.txt",
    "Uncommitted changes (3/4): new dir/untracked.txt",
    "Uncommitted changes (4/4): new dir/untracked.txt",
]
"""What `split -m TITLE` queues of :func:`_change`."""


def _queue(repo: Path) -> tuple[str, list[str]]:
    """The queue ref (empty when there is none) and the titles of its patches."""
    ref = git(repo, "rev-parse", "-q", "--verify", "refs/patchpack/queue/main", check=False)
    listed = run_patchpack("list", "--json", cwd=repo)
    return ref, [p["title"] for p in json.loads(listed.stdout)["patches"]]


def test_split_with_the_index_locked_changes_nothing_and_names_the_lock(committed: Path, cli) -> None:
    _change(committed)
    before = _snapshot(committed), _queue(committed)
    lock = committed / ".git" / "index.lock"
    lock.touch()  # a git process at work, or one that died holding the lock
    r = cli("split", "-m", TITLE)
    assert r.exit_code == 1
    assert f"the index is locked ({lock} exists" in r.stderr and "nothing changed" in r.stderr
    assert r.stderr.rstrip().endswith("then `patchpack split` again")
    assert (_snapshot(committed), _queue(committed)) == before
    lock.unlink()
    assert cli("split", "-m", TITLE).exit_code == 0
    assert _queue(committed)[1] == ONE_SPLIT


def test_split_when_a_git_takes_the_index_lock_meanwhile_changes_nothing(
    committed: Path, tmp_path: Path
) -> None:
    import shutil

    _change(committed)
    assert (
        run_patchpack(
            "add",
            "-m",
            "queued before",
            cwd=committed,
            input=git(committed, "diff", "HEAD", "--", "keep.txt"),
        ).returncode
        == 0
    )
    before = _snapshot(committed), _queue(committed)
    lock = committed / ".git" / "index.lock"
    # Another git process takes the lock after split has queued the change, just before
    # split writes the index.
    wrapper = write(
        tmp_path / "bin" / "git",
        f'#!/bin/sh\ncase "$*" in *read-tree*) touch "{lock}";; esac\nexec "{shutil.which("git")}" "$@"\n',
    )
    wrapper.chmod(0o755)
    r = run_patchpack(
        "split", "-m", TITLE, cwd=committed, env={"PATH": f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}"}
    )
    assert r.returncode == 1, r.stderr
    assert f"the index is locked ({lock} exists" in r.stderr and "nothing changed" in r.stderr
    lock.unlink()
    assert (_snapshot(committed), _queue(committed)) == before
    assert run_patchpack("split", "-m", TITLE, cwd=committed).returncode == 0
    assert _queue(committed)[1] == ["queued before", *ONE_SPLIT]


def test_concurrent_splits_of_one_work_tree_queue_it_once(committed: Path, cli) -> None:
    import subprocess

    _change(committed)
    before = _snapshot(committed)
    procs = [
        subprocess.Popen(
            ["patchpack", "split", "-m", TITLE],
            cwd=committed,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(p.wait(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    assert sorted(code for code, _ in results) == [0, 1, 1, 1], results
    assert all("nothing to split" in err for code, err in results if code), results
    assert _queue(committed)[1] == ONE_SPLIT
    assert git(committed, "status", "--porcelain", "--untracked-files=all") == ""
    assert cli("undo").exit_code == 0 and _snapshot(committed) == before


def test_a_split_killed_at_any_moment_is_finished_by_the_next_split(
    committed: Path, cli, tmp_path: Path
) -> None:
    from conftest import run_killed_after_git

    _change(committed)
    before = _snapshot(committed)
    for after in range(1, 50):
        killed = run_killed_after_git("split", "-m", TITLE, cwd=committed, after=after, tmp_path=tmp_path)
        if killed.returncode == 0:
            break  # split ran fewer git processes: every moment between them was tried
        assert killed.returncode == -9, killed.stderr
        r = cli("split", "-m", TITLE)
        # Killed once its work was done (the stat data refreshed last), it left nothing.
        assert r.exit_code == 0 or "nothing to split" in r.stderr, (after, r.stderr)
        assert _queue(committed)[1] == ONE_SPLIT, after
        assert git(committed, "status", "--porcelain", "--untracked-files=all") == "", after
        assert cli("undo").exit_code == 0 and _snapshot(committed) == before, after
    assert after > 1 and _queue(committed)[1] == ONE_SPLIT


def test_a_split_killed_at_any_moment_is_finished_by_the_next_apply(
    committed: Path, cli, tmp_path: Path
) -> None:
    from conftest import run_killed_after_git

    _change(committed)
    start = git(committed, "rev-parse", "HEAD").strip()
    changed = git(committed, "stash", "create").strip()  # the change, as a commit
    target = git(committed, "rev-parse", f"{changed}^{{tree}}").strip()
    for after in range(1, 50):
        killed = run_killed_after_git(
            "split", "--tracked-only", cwd=committed, after=after, tmp_path=tmp_path
        )
        if killed.returncode == 0:
            break
        assert killed.returncode == -9, killed.stderr
        r = cli("apply", "--all")
        if "queue empty" in r.stderr:  # killed before it queued anything: nothing changed
            assert git(committed, "stash", "create").strip() == changed, after
            continue
        assert r.exit_code == 0, (after, r.stderr)
        assert git(committed, "rev-parse", "HEAD^{tree}").strip() == target, after
        assert git(committed, "rev-list", "--count", f"{start}..HEAD") == "2\n", after
        assert git(committed, "status", "--porcelain", "--untracked-files=no") == "", after
        git(committed, "reset", "-q", "--hard", start)
        git(committed, "stash", "apply", "-q", "--index", changed)
    assert after > 1


def test_split_and_undo_of_directories_and_files_taking_each_others_place(committed: Path, cli) -> None:
    write(committed / "d" / "x", "x\n")
    write(committed / "f", "f\n")
    os.symlink("f", committed / "link")
    git(committed, "add", ".")
    git(committed, "commit", "-q", "-m", "a directory, a file, a link")
    (committed / "d" / "x").unlink()
    (committed / "d").rmdir()
    write(committed / "d", "a file now\n")
    (committed / "f").unlink()
    write(committed / "f" / "y", "a directory now\n")
    (committed / "link").unlink()
    os.symlink("d", committed / "link")
    before = _snapshot(committed)
    r = cli("split")
    assert r.exit_code == 0, r.stderr
    assert git(committed, "status", "--porcelain", "--untracked-files=all") == ""
    assert (committed / "d" / "x").read_text() == "x\n" and (committed / "f").is_file()
    assert cli("undo").exit_code == 0
    assert _snapshot(committed) == before


# -- titles and counts a user reads -------------------------------------------------------------


def _titles(cli) -> list[str]:
    return [p["title"] for p in json.loads(cli("list", "--json").stdout)["patches"]]


def test_untitled_split_names_the_files_and_what_changed(committed: Path, cli) -> None:
    write(committed / "app.py", lines(90, "a"))
    write(committed / "test_app.py", lines(5, "t"))
    write(committed / "old.txt", lines(40))
    git(committed, "add", "-A")
    git(committed, "commit", "-q", "-m", "base")
    write(committed / "app.py", lines(90, "b"))  # 90 removed, 90 added: two pieces
    write(committed / "test_app.py", lines(5, "t") + "t 6\n")
    git(committed, "mv", "old.txt", "new.txt")
    assert cli("split").exit_code == 0
    titles = _titles(cli)
    n = len(titles)
    assert titles[0].startswith("app.py: +") and titles[0].endswith(f" (1/{n})")
    assert "Uncommitted changes" not in " ".join(titles)
    assert titles[-2] == f"old.txt -> new.txt ({n - 1}/{n})"  # a rename names both paths
    assert titles[-1] == f"test_app.py: +1 -0 ({n}/{n})"
    added = sum(int(t.split(": +")[1].split()[0]) for t in titles if t.startswith("app.py"))
    assert added == 90
    assert cli("apply", "--all").exit_code == 0
    assert git(committed, "log", "-1", "--format=%s") == f"{titles[-1]}\n"


def test_a_titled_split_names_a_rename_by_both_paths(committed: Path, cli) -> None:
    write(committed / "old.txt", lines(40))
    git(committed, "add", "-A")
    git(committed, "commit", "-q", "-m", "base")
    git(committed, "mv", "old.txt", "new.txt")
    write(committed / "README.md", "# test\nmore\n")
    assert cli("split", "-m", "Move").exit_code == 0
    assert "Move (2/2): old.txt -> new.txt" in _titles(cli)


def test_an_untitled_diff_is_titled_by_its_files(committed: Path, cli) -> None:
    write(committed / "README.md", "# test\nmore\n")
    diff = git(committed, "diff")
    git(committed, "checkout", "README.md")
    assert cli("add", input=diff).exit_code == 0
    assert _titles(cli) == ["README.md: +1 -0"]


def test_one_file_is_counted_as_1_file(committed: Path, cli) -> None:
    write(committed / "big.txt", lines(200))
    diff = git(committed, "diff", "--no-index", "/dev/null", "big.txt", check=False)
    (committed / "big.txt").unlink()
    r = cli("add", "--max-files", "1", input=diff)
    assert r.exit_code == 1 and "(1 file, 206 diff lines; at most 1 file and 120" in r.stderr
    write(committed / "small.txt", "one\n")
    small = git(committed, "diff", "--no-index", "/dev/null", "small.txt", check=False)
    (committed / "small.txt").unlink()
    assert cli("add", input=small).exit_code == 0
    r = cli("apply")
    assert r.exit_code == 0 and "(1 file, " in r.stdout and "files" not in r.stdout


def test_an_untitled_path_that_is_not_utf8_is_named_as_git_shows_it(committed: Path, cli) -> None:
    (committed / "caf\udce9.txt").write_bytes(b"hello\n")  # the file name's bytes: caf\xe9
    assert cli("split").exit_code == 0
    assert _titles(cli) == ['"caf\\351.txt": +1 -0']  # as `git status` quotes it
    assert git(committed, "status", "--porcelain") == ""  # all in the queue


def _split_and_apply(root: Path, cli, *args: str) -> None:
    """`split` then `apply --all` of the work tree: HEAD ends at what the work tree held."""
    git(root, "add", "-A")
    expected = git(root, "write-tree").strip()
    git(root, "reset", "-q")
    base = git(root, "rev-parse", "HEAD").strip()
    r = cli("split", *args)
    assert r.exit_code == 0, r.stderr
    assert git(root, "status", "--porcelain") == ""
    r = cli("apply", "--all")
    assert r.exit_code == 0, r.stderr
    assert git(root, "rev-parse", "HEAD^{tree}").strip() == expected
    assert git(root, "status", "--porcelain") == ""
    r = cli("check", "--json", f"{base}..HEAD")
    assert r.exit_code == 0, r.stdout


def test_a_directory_replaced_by_a_file_of_its_name(committed: Path, cli) -> None:
    # Issue 15: the file was written over the directory while its files were still there.
    for name in ("a.txt", "b.txt", "deep/c.txt"):
        write(committed / "d" / name, lines(30, name))
    git(committed, "add", "-A")
    git(committed, "commit", "-q", "-m", "dir")
    git(committed, "rm", "-q", "-r", "d")
    write(committed / "d", lines(10, "now a file"))
    _split_and_apply(committed, cli)
    assert (committed / "d").read_text() == lines(10, "now a file")


def test_a_file_replaced_by_a_directory_of_its_name(committed: Path, cli) -> None:
    write(committed / "d", lines(300, "long file"))
    write(committed / "app.py", "x = 1\n")
    git(committed, "add", "-A")
    git(committed, "commit", "-q", "-m", "file")
    (committed / "d").unlink()
    # app.py names the new files: they would be queued right after it, before d is gone.
    write(committed / "app.py", "import a_mod, b_mod\n")
    write(committed / "d" / "a_mod.py", lines(20, "a"))
    write(committed / "d" / "b_mod.py", lines(20, "b"))
    _split_and_apply(committed, cli)
    assert (committed / "d" / "a_mod.py").read_text() == lines(20, "a")


def test_a_directory_renamed_to_a_file_of_its_name(committed: Path, cli) -> None:
    write(committed / "d" / "a.txt", lines(30, "a"))
    write(committed / "d" / "b.txt", lines(30, "b"))
    git(committed, "add", "-A")
    git(committed, "commit", "-q", "-m", "dir")
    git(committed, "mv", "d/a.txt", "a.tmp")
    git(committed, "rm", "-q", "-r", "d")
    git(committed, "mv", "a.tmp", "d")
    _split_and_apply(committed, cli)


def test_a_file_in_the_way_of_a_directory_replaced_by_a_file(committed: Path, cli) -> None:
    for name in ("a.txt", "b.txt", "deep/c.txt"):
        write(committed / "d" / name, lines(30, name))
    git(committed, "add", "-A")
    git(committed, "commit", "-q", "-m", "dir")
    git(committed, "rm", "-q", "-r", "d")
    write(committed / "d", lines(10, "now a file"))
    assert cli("split").exit_code == 0
    write(committed / "d" / "mine.txt", "not tracked\n")
    r = cli("apply", "--all")
    assert r.exit_code == 1
    assert "local changes: d/mine.txt" in r.stderr
    assert (committed / "d" / "mine.txt").read_text() == "not tracked\n"
    assert git(committed, "status", "--porcelain") == "?? d/mine.txt\n"
    assert "queued" in cli("list").stdout


def _object_bytes(repo: Path) -> int:
    objects = repo / ".git" / "objects"
    return sum(p.stat().st_size for p in objects.rglob("*") if p.is_file())


def test_a_file_cut_into_many_pieces_writes_what_they_change(committed: Path, cli) -> None:
    # Each piece's commit holds the whole file; written whole (compressed) each time, a
    # 200,000-line file cut into 2,000 pieces wrote 10 GB (#15). Deltas write the pieces:
    # what is written follows the change's diff (kept too, one diff a patch), not the file
    # times the pieces.
    rng = random.Random(3)
    write(committed / "big.txt", "".join(f"old {rng.random()}\n" for _ in range(3000)))
    git(committed, "add", "big.txt")
    git(committed, "commit", "-q", "-m", "big")
    text = "".join(f"new {rng.random()}\n" for _ in range(3000))
    write(committed / "big.txt", text)
    before, change = _object_bytes(committed), len(git(committed, "diff"))
    r = cli("split")
    assert r.exit_code == 0, r.stderr
    pieces = len(json.loads(cli("list", "--json").stdout)["patches"])
    assert pieces > 50
    assert _object_bytes(committed) - before < 4 * change
    assert cli("apply", "--all").exit_code == 0
    assert (committed / "big.txt").read_text() == text
    git(committed, "fsck", "--strict")


def _pieces_of(repo: Path, path: str, base: str) -> list[str]:
    """The text of ``path`` after each commit of ``base..HEAD``."""
    commits = git(repo, "rev-list", "--reverse", f"{base}..HEAD").split()
    return [git(repo, "show", f"{c}:{path}") for c in commits]


def test_a_file_is_cut_between_hunks_where_they_fit(committed: Path, cli) -> None:
    # Six separate edits of 40 diff lines: a cut at the budget would end a piece in the
    # middle of the third; the cut goes between two edits instead.
    old = [f"line {i}\n" for i in range(400)]
    write(committed / "notes.txt", "".join(old))
    git(committed, "add", "notes.txt")
    git(committed, "commit", "-q", "-m", "notes")
    base = git(committed, "rev-parse", "HEAD").strip()
    new = list(old)
    for start in range(20, 380, 60):
        new[start : start + 20] = [f"edited {i}\n" for i in range(start, start + 20)]
    write(committed / "notes.txt", "".join(new))
    assert cli("split").exit_code == 0
    assert cli("apply", "--all").exit_code == 0
    for text in _pieces_of(committed, "notes.txt", base):
        rows = text.splitlines()
        for start in range(20, 380, 60):  # each edit whole in a piece, or not yet there
            assert rows[start : start + 20] in (
                [f"edited {i}" for i in range(start, start + 20)],
                [f"line {i}" for i in range(start, start + 20)],
            )


def test_a_python_file_re_wrapped_is_cut_where_every_piece_parses(committed: Path, cli) -> None:
    # What a formatter does: every call re-wrapped, one long hunk; a cut inside a statement
    # would leave a file that does not parse, or names a variable it no longer defines.
    old = "".join(
        f"value_{i} = compute({i}, 'a', 'b',\n                    'c')\nprint(value_{i})\n"
        for i in range(120)
    )
    new = "".join(
        f"value_{i} = compute(\n    {i},\n    'a',\n    'b',\n    'c',\n)\nprint(value_{i})\n"
        for i in range(120)
    )
    write(committed / "mod.py", old)
    git(committed, "add", "mod.py")
    git(committed, "commit", "-q", "-m", "mod")
    base = git(committed, "rev-parse", "HEAD").strip()
    write(committed / "mod.py", new)
    assert cli("split").exit_code == 0
    assert cli("apply", "--all").exit_code == 0
    pieces = _pieces_of(committed, "mod.py", base)
    assert len(pieces) > 4 and pieces[-1] == new
    for text in pieces:
        tree = ast.parse(text)
        assigned = {
            t.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for t in node.targets
            if isinstance(t, ast.Name)
        }
        printed = {
            node.value.args[0].id
            for node in tree.body
            if isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.args[0], ast.Name)
        }
        assert printed <= assigned


def test_python_cuts_by_logical_lines() -> None:
    text = b"x = f(1,\n      2)\ny = '''a\nb'''\nz = 1 + \\\n    2\n# note\n\ndef g():\n    return 1\n"
    assert cuts.starts(text) == {0, 2, 4, 6, 7, 8, 9, 10}
    assert cuts.starts(b"x = (\n") is None  # does not tokenize: any cut will do
    assert cuts.for_file("a.txt", b"x = 1\n", b"x = 2\n") is None
    assert cuts.for_file("a.py", b"x = 1\n", b"x = (\n") is None  # the target does not parse
    py = cuts.for_file("a.py", b"x = f(1,\n      2)\n", b"x = f(1, 2)\n")
    assert py is not None and py.allows(0, 0) and not py.allows(1, 0)
    assert py.keeps(b"x = 1\n") and not py.keeps(b"x = (\n")
