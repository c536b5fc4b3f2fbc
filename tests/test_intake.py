"""`patchpack add` of a series: fitted in process where it can be, written as one pack, mail
headers read as the email package's default policy reads them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import git, lines, write


def _series(repo: Path, count: int) -> tuple[str, str]:
    """An mbox of ``count`` commits on top of HEAD (new files and edits, one rename) and the
    tree they end at, made in a clone: ``repo`` has none of their objects."""
    other = repo.parent / "other"
    git(repo.parent, "clone", "-q", str(repo), str(other))
    for n in range(count):
        if n == count - 2:
            git(other, "mv", "f0.txt", "renamed.txt")  # one only git applies
        else:
            write(other / f"f{n % 5}.txt", lines(n + 3, prefix=f"v{n}"))
            write(other / "grow.txt", lines(n + 1))
        git(other, "add", "-A")
        git(other, "commit", "-q", "-m", f"Patch {n}")
    tree = git(other, "rev-parse", "HEAD^{tree}").strip()
    return git(other, "format-patch", "--stdout", f"HEAD~{count}"), tree


def _packs(repo: Path) -> list[Path]:
    return sorted((repo / ".git" / "objects" / "pack").glob("*.pack"))


def test_a_series_is_queued_as_one_pack_and_applies(committed: Path, cli) -> None:
    mbox, tree = _series(committed, 50)
    assert _packs(committed) == []
    r = cli("add", input=mbox)
    assert r.exit_code == 0, r.stderr
    [pack] = _packs(committed)
    git(committed, "fsck", "--strict", "--no-dangling")
    assert git(committed, "verify-pack", "-v", str(pack)).rstrip().endswith(": ok")
    listed = json.loads(cli("list", "--json").stdout)["patches"]
    assert [p["title"] for p in listed] == [f"Patch {n}" for n in range(50)]
    # Every patch commit reads back through git from the pack (not loose).
    loose = git(committed, "count-objects", "-v")
    for patch in listed:
        assert git(committed, "cat-file", "-t", patch["commit"]).strip() == "commit"
    assert git(committed, "count-objects", "-v") == loose
    git(committed, "gc", "-q", "--prune=now")
    git(committed, "fetch", "-q", str(committed.parent / "other"))  # the tree to compare with
    r = cli("apply", "--all")
    assert r.exit_code == 0, r.stderr
    assert git(committed, "rev-parse", "HEAD^{tree}").strip() == tree


def test_a_failing_mail_in_a_series_queues_nothing(committed: Path, cli) -> None:
    mbox, _ = _series(committed, 30)
    broken = mbox.replace("-v15 1\n", "-v15 X\n", 1)  # in the mail of patch 20
    assert broken != mbox
    r = cli("add", input=broken)
    assert r.exit_code in (1, 2), r.stderr
    assert "patch 21/30" in r.stderr
    assert git(committed, "for-each-ref", "refs/patchpack") == ""


def test_a_short_series_is_written_loose(committed: Path, cli) -> None:
    mbox, _ = _series(committed, 3)
    assert cli("add", input=mbox).exit_code == 0
    assert _packs(committed) == []


def test_mail_titles_and_authors_with_encoded_words_and_folding(committed: Path, cli) -> None:
    title = "Caf\u00e9: " + "a long subject that git folds over lines " * 3
    write(committed / "x.txt", "x\n")
    git(committed, "add", "x.txt")
    git(committed, "commit", "-q", "-m", title, "--author=J\u00f6rg M\u00fcller, Jr. <jorg@example.com>")
    write(committed / "y.txt", "y\n")
    git(committed, "add", "y.txt")
    git(committed, "commit", "-q", "-m", "Plain title", "--author=O'Brien <ob@example.com>")
    mbox = git(committed, "format-patch", "--stdout", "HEAD~2")
    assert "=?UTF-8?" in mbox
    authors = git(committed, "log", "-2", "--reverse", "--format=%an <%ae>").splitlines()
    assert authors[1] == "O'Brien <ob@example.com>" and ", Jr" in authors[0]
    git(committed, "reset", "-q", "--hard", "HEAD~2")
    assert cli("add", input=mbox).exit_code == 0
    listed = json.loads(cli("list", "--json").stdout)["patches"]
    assert [p["title"] for p in listed] == [title.strip(), "Plain title"]
    assert [git(committed, "log", "-1", "--format=%an <%ae>", p["commit"]).strip() for p in listed] == authors


def test_a_series_of_every_kind_of_change_round_trips(committed: Path, cli) -> None:
    """Plain edits fitted in process between changes only git applies (binary data, a mode
    change, a rename, a link): the queue ends at the series' tree."""
    other = committed.parent / "other"
    git(committed.parent, "clone", "-q", str(committed), str(other))
    steps = [
        lambda: write(other / "a.txt", lines(20)),
        lambda: write(other / "img.bin", bytes(range(256)) * 4),
        lambda: write(other / "a.txt", lines(20).replace("line 7\n", "seven\n")),
        lambda: (other / "a.txt").chmod(0o755),
        lambda: write(other / "crlf.txt", "one\r\ntwo\r\n"),
        lambda: git(other, "mv", "crlf.txt", "moved.txt"),
        lambda: write(other / "moved.txt", "one\r\n2\r\n"),
        lambda: (other / "link").symlink_to("a.txt"),
        lambda: write(other / "img.bin", bytes(range(255, -1, -1)) * 4),
        lambda: (other / "README.md").unlink(),
        lambda: write(other / "a.txt", lines(20).replace("line 19\n", "")),
    ]
    for n, step in enumerate(steps):
        step()
        git(other, "add", "-A")
        git(other, "commit", "-q", "-m", f"Step {n}")
    mbox = subprocess.run(
        ["git", "format-patch", "--stdout", f"HEAD~{len(steps)}"], cwd=other, check=True, capture_output=True
    ).stdout  # bytes: CRs kept
    r = cli("add", input=mbox)
    assert r.exit_code == 0, r.stderr
    assert cli("apply", "--all").exit_code == 0
    assert git(committed, "rev-parse", "HEAD^{tree}") == git(other, "rev-parse", "HEAD^{tree}")


def test_split_sees_a_change_made_in_the_second_the_index_was_written(committed: Path, cli) -> None:
    """git's racy-clean rule: a file whose mtime is not older than the index's is compared by
    content. A copy of the index with a new mtime once hid such a change from `split`."""
    import os

    path, index = committed / "same.txt", committed / ".git" / "index"
    write(path, "aaaa\n")
    stamp = index.stat().st_mtime // 1 * 1 + 0.0  # a whole second, as git compares them
    os.utime(path, (stamp, stamp))
    git(committed, "add", "same.txt")
    git(committed, "commit", "-q", "-m", "same")
    os.utime(index, (stamp, stamp))
    write(path, "bbbb\n")  # the same size, in the same second
    os.utime(path, (stamp, stamp))
    assert git(committed, "diff", "--name-only") == "same.txt\n"  # git sees it
    r = cli("split")
    assert r.exit_code == 0, r.stderr
    commit = json.loads(cli("list", "--json").stdout)["patches"][0]["commit"]
    assert git(committed, "show", f"{commit}:same.txt") == "bbbb\n"
