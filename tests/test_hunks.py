"""Diffs fitted to trees in process (hunks.py, via intake) give exactly what `git apply
--cached` gives, or decline so that git decides."""

from __future__ import annotations

import importlib
import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from patchpack.errors import BadInput
from patchpack.git import DoesNotFit, Oid, Repo
from patchpack.limits import hunks
from patchpack.queue import intake

from conftest import git, lines, write

PATHS = ["f.txt", "dir/g.txt", "sp ace.txt", "\u00fc/\u00e4 x.txt", "dir/sub/h.txt"]
LINES = [b"a\n", b"b\n", b"c\n", b"a\r\n", b"\n", b"  x\n", b"\xff\xfe\n", b"d\t\n", b"e\n"]
content = st.builds(
    lambda body, tail: b"".join(body) + tail,
    st.lists(st.sampled_from(LINES), max_size=14),
    st.sampled_from([b"", b"", b"z", b"a", b"\r"]),
)


def _tree(git_repo: Repo, files: dict[str, bytes]) -> Oid:
    return git_repo.tree_with(
        git_repo.empty_tree(), {p: (git_repo.write_blob(data), 0o100644) for p, data in files.items()}
    )


def _diff(repo: Path, old: Oid, new: Oid, *args: str) -> bytes:
    return subprocess.run(
        ["git", *args, "diff-tree", "-p", "-r", old, new], cwd=repo, check=True, capture_output=True
    ).stdout


def _by_git(git_repo: Repo, tree: Oid, diff: bytes) -> Oid | None:
    with git_repo.patcher() as patcher:
        try:
            return patcher.apply(tree, diff)
        except DoesNotFit:
            return None


def _drift(data: st.DataObject, text: bytes) -> bytes:
    """The file as it may have moved on since the diff was made."""
    how = data.draw(st.sampled_from(["same", "same", "above", "below", "edit"]))
    extra = b"".join(data.draw(st.lists(st.sampled_from(LINES), min_size=1, max_size=4)))
    if how == "above":
        return extra + text
    if how == "below":
        return text + (b"\n" if text and not text.endswith(b"\n") else b"") + extra
    if how == "edit" and text:
        at = data.draw(st.integers(0, len(text) - 1))
        return text[:at] + b"q" + text[at + 1 :]
    return text


def _corrupt(data: st.DataObject, diff: bytes) -> bytes:
    """The diff, perhaps damaged the ways hand-edited or model-written diffs are."""
    how = data.draw(st.sampled_from(["none", "none", "none", "byte", "drop", "double", "tail", "count"]))
    rows = diff.split(b"\n")
    if how == "none" or len(rows) < 2:
        return diff
    at = data.draw(st.integers(0, len(rows) - 2))
    if how == "byte" and rows[at]:
        k = data.draw(st.integers(0, len(rows[at]) - 1))
        rows[at] = (
            rows[at][:k] + data.draw(st.sampled_from([b" ", b"-", b"+", b"x", b"\\"])) + rows[at][k + 1 :]
        )
    elif how == "drop":
        del rows[at]
    elif how == "double":
        rows.insert(at, rows[at])
    elif how == "tail":
        rows.insert(len(rows) - 1, data.draw(st.sampled_from([b"+extra", b" ctx", b"-- ", b"x"])))
    elif how == "count":
        rows = [r.replace(b",", b",1", 1) if r.startswith(b"@@") else r for r in rows]
    return b"\n".join(rows)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_in_process_fit_is_git_apply_or_declines(repo: Path, data: st.DataObject) -> None:
    git_repo = Repo.discover(repo)
    paths = data.draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=3, unique=True))
    old = {p: data.draw(content) for p in paths[:-1]}
    new = dict(old)
    for p in paths[:-1]:
        what = data.draw(st.sampled_from(["edit", "edit", "keep", "delete"]))
        if what == "edit":
            new[p] = data.draw(content)
        elif what == "delete":
            del new[p]
    new[paths[-1]] = data.draw(content)  # a file added
    quoted = data.draw(st.sampled_from([[], ["-c", "core.quotePath=false"]]))
    context = data.draw(st.sampled_from(["-U3", "-U3", "-U1", "-U0", "-U5"]))
    diff = (
        _diff(repo, _tree(git_repo, old), _tree(git_repo, new), *quoted, "-c", "diff.noprefix=false")
        if context == "-U3"
        else subprocess.run(
            ["git", *quoted, "diff-tree", "-p", context, "-r", _tree(git_repo, old), _tree(git_repo, new)],
            cwd=repo,
            check=True,
            capture_output=True,
        ).stdout
    )
    diff = _corrupt(data, diff)
    target = {p: _drift(data, text) for p, text in old.items()}
    if data.draw(st.booleans()):
        target[paths[-1]] = b"in the way\n"  # the file the diff adds is there already
    tree = _tree(git_repo, target)

    mine = intake._fit_in_process(git_repo, tree, diff)
    theirs = _by_git(git_repo, tree, diff)
    event("in process" if mine else "declined")
    event("git applied" if theirs else "git refused")
    if mine is not None:
        assert mine == theirs


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hunks_that_moved_land_where_git_puts_them(repo: Path, data: st.DataObject) -> None:
    """Files of few distinct lines (every hunk could match in many places), edited in several
    places, applied to a copy edited elsewhere in between."""
    git_repo = Repo.discover(repo)
    rows = st.lists(st.sampled_from([b"a\n", b"b\n", b"a\n", b"c\n"]), min_size=0, max_size=6)
    old = data.draw(st.lists(st.sampled_from([b"a\n", b"b\n"]), min_size=4, max_size=40))

    def edited(lines: list[bytes]) -> list[bytes]:
        out = list(lines)
        for _ in range(data.draw(st.integers(1, 4))):
            at = data.draw(st.integers(0, len(out)))
            out[at : at + data.draw(st.integers(0, 3))] = data.draw(rows)
        return out

    new = edited(old)
    diff = _diff(repo, _tree(git_repo, {"f": b"".join(old)}), _tree(git_repo, {"f": b"".join(new)}))
    tree = _tree(git_repo, {"f": b"".join(edited(old) if data.draw(st.booleans()) else old)})
    mine = intake._fit_in_process(git_repo, tree, diff) if diff else None
    theirs = _by_git(git_repo, tree, diff) if diff else None
    event("in process" if mine else "declined")
    event("git applied" if theirs else "git refused")
    if mine is not None:
        assert mine == theirs
    elif theirs is not None:
        event("declined, git applied")


def test_a_series_of_real_diffs_is_fitted_in_process(
    committed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No git process for plain diffs: modified, added, deleted, moved hunks, CRLF, no final
    newline, non-UTF-8 bytes, paths with spaces and non-ASCII characters, quoted or not."""
    files = {
        "a.txt": lines(30).encode(),
        "crlf.txt": b"one\r\ntwo\r\nthree\r\n",
        "no eol.txt": b"x\ny",
        "bytes.bin.txt": b"\xff\xfe\n\x80\n",
        "\u00fc/\u00e4.txt": b"\n",
        "gone.txt": b"bye\n",
    }
    for path, data in files.items():
        write(committed / path, data)
    git(committed, "add", "-A")
    git(committed, "commit", "-q", "-m", "files")
    changed = {
        "a.txt": lines(30).replace("line 5\n", "five\n").replace("line 25\n", "").encode(),
        "crlf.txt": b"one\r\n2\r\nthree\r\n",
        "no eol.txt": b"x\ny\nz",
        "bytes.bin.txt": b"\xff\xfe\n\x81\n",
        "\u00fc/\u00e4.txt": b"\n\n",
        "new dir/n\u00e9w.txt": b"fresh\n",
    }
    for path, data in changed.items():
        write(committed / path, data)
    (committed / "gone.txt").unlink()
    write(committed / "run.sh", "#!/bin/sh\n").chmod(0o755)
    git(committed, "add", "-A")
    expected = git(committed, "write-tree").strip()
    diffs = [
        subprocess.run(
            ["git", *args, "diff", "--cached"], cwd=committed, check=True, capture_output=True
        ).stdout
        for args in ([], ["-c", "core.quotePath=false"])
    ]
    assert b'"a/\\303\\274/\\303\\244.txt"' in diffs[0] and b"a/\xc3\xbc/" in diffs[1]
    git(committed, "reset", "-q", "--hard")
    # Lines added above the hunks: they apply at an offset.
    text = (committed / "a.txt").read_text()
    write(committed / "a.txt", "top\n" + text)
    git(committed, "commit", "-qam", "moved")
    expected = _with(committed, expected, "a.txt", ("top\n" + changed["a.txt"].decode()).encode())
    git_repo = Repo.discover(committed)
    head = git_repo.tree_of(git_repo.head_oid())
    git_repo.config_get("apply.ignoreWhitespace")  # read once per command, with git
    for door in ("run", "repo", "objects", "notes", "worktree", "commit"):
        module = importlib.import_module(f"patchpack.git.{door}")
        monkeypatch.setattr(module, "run_git", _no_git)
    for diff in diffs:
        assert intake._fit_in_process(git_repo, head, diff) == expected


def _no_git(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"git was run: {args}")


def _with(repo: Path, tree: str, path: str, data: bytes) -> str:
    git_repo = Repo.discover(repo)
    return git_repo.tree_with(Oid(tree), {path: (git_repo.write_blob(data), 0o100644)})


@pytest.mark.parametrize(
    "diff",
    [
        # a mode change, a rename, a binary patch: git's business
        "diff --git a/README.md b/README.md\nold mode 100644\nnew mode 100755\n",
        "diff --git a/README.md b/R.md\nsimilarity index 100%\nrename from README.md\nrename to R.md\n",
        "diff --git a/README.md b/README.md\nindex 1..2 100644\nGIT binary patch\nliteral 0\n",
        # names that disagree, a hunk that changes nothing, counts that do not add up
        "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/OTHER.md\n@@ -1 +1 @@\n-# test\n+# x\n",
        "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n # test\n",
        "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1,2 +1 @@\n"
        "-# test\n+# x\n",
        # one file twice; a path git might refuse on some file system; no newline at the end
        "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n"
        "-# test\n+# x\ndiff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n"
        "@@ -1 +1 @@\n-# x\n+# y\n",
        "diff --git a/.GIT/x b/.GIT/x\nnew file mode 100644\n--- /dev/null\n+++ b/.GIT/x\n"
        "@@ -0,0 +1 @@\n+x\n",
        "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# test\n+# x",
        # a traditional patch after a git one
        "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n"
        "-# test\n+# x\n--- a/b\n+++ b/b\n@@ -1 +1 @@\n-a\n+b\n",
    ],
)
def test_declines_what_git_should_decide(diff: str) -> None:
    assert hunks.parse(diff.encode()) is None


def test_declines_a_file_in_the_way_of_a_new_directory_and_a_symlink(committed: Path) -> None:
    (committed / "link").symlink_to("README.md")
    git(committed, "add", "link")
    git(committed, "commit", "-qm", "link")
    git_repo = Repo.discover(committed)
    head = git_repo.tree_of(git_repo.head_oid())
    new_under_file = (
        b"diff --git a/README.md/x b/README.md/x\nnew file mode 100644\n"
        b"--- /dev/null\n+++ b/README.md/x\n@@ -0,0 +1 @@\n+x\n"
    )
    assert intake._fit_in_process(git_repo, head, new_under_file) is None
    edit_link = (
        b"diff --git a/link b/link\n--- a/link\n+++ b/link\n@@ -1 +1 @@\n"
        b"-README.md\n\\ No newline at end of file\n+other\n"
        b"\\ No newline at end of file\n"
    )
    assert intake._fit_in_process(git_repo, head, edit_link) is None
    through_link = (
        b"diff --git a/link/x b/link/x\nnew file mode 100644\n--- /dev/null\n"
        b"+++ b/link/x\n@@ -0,0 +1 @@\n+x\n"
    )
    with pytest.raises(BadInput, match="symbolic link"):
        intake._fit_in_process(git_repo, head, through_link)


def test_ignore_whitespace_config_leaves_it_to_git(committed: Path) -> None:
    git(committed, "config", "apply.ignoreWhitespace", "change")
    git_repo = Repo.discover(committed)
    diff = (
        b"diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# test\n+# x\n"
    )
    assert intake._fit_in_process(git_repo, git_repo.tree_of(git_repo.head_oid()), diff) is None


@pytest.mark.parametrize(
    ("old", "hunk"),
    [
        # git's find_pos: where the header says, then the nearest place, after before before
        (b"a\nx\nm\nx\nb\nx\nm\nx\nc\n", b"@@ -4,3 +4,3 @@\n x\n-m\n+M\n x\n"),
        (b"x\nm\nx\nm\nx\nm\nx\n", b"@@ -4,3 +4,3 @@\n m\n-x\n+X\n m\n"),
        (b"top\na\nb\nc\nd\n", b"@@ -2,3 +2,3 @@\n b\n-c\n+C\n d\n"),
        # a hunk at the top must match at the top, one without trailing context at the end
        (b"new\na\nb\nc\n", b"@@ -1,2 +1,2 @@\n a\n-b\n+B\n"),
        (b"a\nb\nc\n", b"@@ -1,2 +1,2 @@\n-a\n+A\n b\n"),
        (b"a\nb\nafter\n", b"@@ -2,2 +2,2 @@\n a\n-b\n+B\n"),
        # lines an earlier hunk wrote are not matched again
        (b"k\nk\nk\nk\n", b"@@ -2,2 +2,2 @@\n k\n-k\n+k\n@@ -2,2 +2,2 @@\n k\n-k\n+j\n"),
        # a missing final newline is a different line; CR bytes are kept
        (b"a\nb", b"@@ -1,2 +1,2 @@\n a\n-b\n+c\n"),
        (b"a\nb", b"@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"),
        (b"a\r\nb\r\n", b"@@ -1,2 +1,2 @@\n a\r\n-b\r\n+c\r\n"),
        (b"a\nb\n", b"@@ -1,2 +1,2 @@\n a\r\n-b\r\n+c\r\n"),
    ],
)
def test_apply_matches_git_on_the_cases_that_matter(repo: Path, old: bytes, hunk: bytes) -> None:
    git_repo = Repo.discover(repo)
    tree = _tree(git_repo, {"f": old})
    diff = b"diff --git a/f b/f\n--- a/f\n+++ b/f\n" + hunk
    theirs = _by_git(git_repo, tree, diff)
    [patch] = hunks.parse(diff) or []
    mine = hunks.apply(old, patch.hunks)
    if theirs is None:
        assert mine is None
    else:
        assert mine is not None and git_repo.entry(theirs, "f") == (git_repo.write_blob(mine), 0o100644)


def test_unquote_reads_git_quoting() -> None:
    assert hunks.unquote('"a/\\303\\244 \\"q\\"\\t"') == 'a/\u00e4 "q"\t'
    assert hunks.unquote("a/plain") == "a/plain"
    # What git's unquote_c_style does not read (git then takes the name as it is).
    for bad in ('"a/\\q"', '"a/\\2 4"', '"a/\\400"', '"a/\\"'):
        with pytest.raises(BadInput, match="an escape git does not read"):
            hunks.unquote(bad)
        assert hunks.parse(f"diff --git {bad} {bad}\n".encode()) is None


def test_a_path_that_is_not_utf8_is_left_to_git(committed: Path, cli) -> None:
    name = b"caf\xe9.txt"
    diff = (
        b"diff --git a/" + name + b" b/" + name + b"\nnew file mode 100644\n--- /dev/null\n"
        b"+++ b/" + name + b"\n@@ -0,0 +1 @@\n+hello\n"
    )
    assert hunks.parse(diff) is None
    r = cli("add", input=diff)
    assert r.exit_code == 0, r.stderr
    [patch] = json.loads(cli("list", "--json").stdout)["patches"]
    listed = subprocess.run(
        ["git", "ls-tree", "-z", "--name-only", patch["commit"]],
        cwd=committed,
        capture_output=True,
        check=True,
    ).stdout
    assert name in listed.split(b"\0")


def test_tree_with_takes_any_path(repo: Path) -> None:
    git_repo = Repo.discover(repo)
    blob = git_repo.write_blob(b"x\n")
    tree = git_repo.tree_with(
        git_repo.empty_tree(), {"caf\udce9/x.txt": (blob, 0o100644), "d/e\u00e9.txt": (blob, 0o100644)}
    )
    listed = subprocess.run(
        ["git", "ls-tree", "-r", "-z", "--name-only", tree], cwd=repo, capture_output=True, check=True
    ).stdout
    assert listed.split(b"\0")[:-1] == [b"caf\xe9/x.txt", "d/e\u00e9.txt".encode()]
    assert git_repo.tree_with(tree, {"caf\udce9/x.txt": None, "d/e\u00e9.txt": None}) == git_repo.empty_tree()


def test_tree_with_replaces_files_and_directories_as_an_index_does(repo: Path) -> None:
    git_repo = Repo.discover(repo)

    def blob(text: bytes) -> tuple[Oid, int]:
        return git_repo.write_blob(text), 0o100644

    base = git_repo.tree_with(
        git_repo.empty_tree(), {"d/x": blob(b"1"), "d/y": blob(b"2"), "f": blob(b"3"), "e/g/h": blob(b"4")}
    )
    for changes in (
        {"d/x": None, "d/y": None, "d": blob(b"a file now")},
        {"f": None, "f/inner": blob(b"a directory now")},
        {"e/g/h": None},
        {"d/x": None},
        {"new/deep/z": blob(b"6")},
    ):
        listed = git(repo, "ls-tree", "-r", "--name-only", git_repo.tree_with(base, changes))
        expected = {"d/x", "d/y", "f", "e/g/h"} - set(changes) | {
            path for path, value in changes.items() if value is not None
        }
        assert set(listed.split()) == expected
