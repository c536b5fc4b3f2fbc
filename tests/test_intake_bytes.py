"""Changes enter the queue byte for byte (issue 15): each case is made in a clone, then queued
from its diff, from its `git format-patch` mail and by `split` of a work tree, and each way
the queue, applied, ends at the clone's tree."""

from __future__ import annotations

import base64
import json
import os
import quopri
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import git, write


def _raw(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True).stdout


def _every_way(repo: Path, cli, change: Callable[[Path], object], *, message: str = "The change") -> None:
    other = repo.parent / "other"
    git(repo.parent, "clone", "-q", str(repo), str(other))
    change(other)
    git(other, "add", "-A")
    git(other, "commit", "-q", "-m", message)
    want = git(other, "rev-parse", "HEAD^{tree}")
    ways = {
        "diff": _raw(other, "diff", "HEAD~1", "HEAD"),
        "mail": _raw(other, "format-patch", "--stdout", "HEAD~1"),
        "split": None,
    }
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


def _commit_file(repo: Path, name: str, data: bytes) -> None:
    write(repo / name, data)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"Add {name}")


def test_invalid_utf8_next_to_real_non_ascii(committed: Path, cli) -> None:
    # The email package once decoded such a body and choked on it (exit 3).
    _commit_file(committed, "mixed.txt", b"a\nb\nc\n")
    _every_way(committed, cli, lambda tree: write(tree / "mixed.txt", b"a caf\xc3\xa9 \xff\xfe\nb\nc\n"))


def test_invalid_utf8_in_a_mail_that_declares_utf8(committed: Path, cli) -> None:
    # A non-ASCII title makes format-patch declare charset=UTF-8; the body's bytes once became
    # U+FFFD, so a removed line no longer matched (exit 1) and an added one was corrupted.
    _commit_file(committed, "latin.txt", b"na\xefve\nb\n")
    _every_way(
        committed,
        cli,
        lambda tree: write(tree / "latin.txt", b"na\xeff\nb\n"),
        message="Caf\u00e9: keep the bytes",
    )


def test_mail_authors_are_kept_as_git_am_keeps_them(committed: Path, cli) -> None:
    authors = [
        "dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>",
        "Last, First <lf@example.com>",
        'Say "Hi" <hi@example.com>',
        "John (Jack) Doe <jd@example.com>",
        "O'Brien <ob@example.com>",
        "Al <al@example.com>",
        "J\u00f6rg [m\u00fcller] <jm@example.com>",
    ]
    for n, author in enumerate(authors):
        write(committed / f"f{n}.txt", f"{n}\n")
        git(committed, "add", ".")
        git(committed, "commit", "-q", "-m", f"By {n}", f"--author={author}")
    mbox = _raw(committed, "format-patch", "--stdout", f"HEAD~{len(authors)}")
    git(committed, "reset", "-q", "--hard", f"HEAD~{len(authors)}")
    git(committed, "am", "-q", input=mbox.decode())
    log = ["log", f"-{len(authors)}", "--reverse", "--format=%an <%ae>"]
    by_git_am = git(committed, *log)
    assert "dependabot[bot] <49699333+dependabot[bot]@users" in by_git_am
    git(committed, "reset", "-q", "--hard", f"HEAD~{len(authors)}")
    r = cli("add", input=mbox)
    assert r.exit_code == 0, r.stderr
    assert cli("apply", "--all").exit_code == 0
    assert git(committed, *log) == by_git_am


def test_an_mbox_with_crlf_line_ends_is_read_as_git_am_reads_it(committed: Path, cli) -> None:
    for n in (1, 2):
        write(committed / f"f{n}.txt", f"one\ntwo {n}\n")
        git(committed, "add", ".")
        git(committed, "commit", "-q", "-m", f"Add f{n}", "--author=Mail Author <m@example.com>")
    mbox = _raw(committed, "format-patch", "--stdout", "HEAD~2").replace(b"\n", b"\r\n")
    show = ["log", "-2", "--reverse", "--format=%an <%ae> %s%n%b", "--stat", "-p"]
    git(committed, "reset", "-q", "--hard", "HEAD~2")
    git(committed, "am", "-q", input=mbox.decode())
    by_git_am = git(committed, *show)
    assert "\r" not in by_git_am and "Mail Author <m@example.com> Add f2" in by_git_am
    git(committed, "reset", "-q", "--hard", "HEAD~2")
    r = cli("add", input=mbox)
    assert r.exit_code == 0, r.stderr
    assert cli("apply", "--all").exit_code == 0
    assert git(committed, *show) == by_git_am


def test_a_corrupt_hunk_header_is_bad_input(committed: Path, cli) -> None:
    diff = (
        "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n"
        "@@ -x +y @@\n-# test\n+# best\n"
    )
    mail = (
        "From 0123456789012345678901234567890123456789 Mon Sep 17 00:00:00 2001\n"
        "From: A U Thor <a@example.com>\nSubject: [PATCH] Corrupt\n\n---\n" + diff
    )
    for args in (["add"], ["check", "--diff", "-"]):
        for text in (diff, mail):
            r = cli(*args, input=text)
            assert r.exit_code == 2, (args, text, r.stdout, r.stderr)
            assert "corrupt hunk header" in r.stderr and "@@ -x +y @@" in r.stderr
            assert r.stderr.rstrip().splitlines()[-1].startswith("hint: ")
    assert git(committed, "for-each-ref", "refs/patchpack") == ""


def test_file_names_that_are_not_utf8(committed: Path, cli) -> None:
    old, new = os.fsdecode(b"caf\xe9.txt"), os.fsdecode(b"d\xe9j\xe0/n\xe9.txt")
    _commit_file(committed, old, b"one\ntwo\n")

    def change(tree: Path) -> None:
        write(tree / old, b"one\n2\n")
        write(tree / new, b"new\n")

    _every_way(committed, cli, change)
    change(committed)
    write(committed / os.fsdecode(b"untracked-\xff.txt"), b"x\n")
    r = cli("status")  # measures the work tree's change, untracked files too
    assert r.exit_code == 0, r.stderr
    r = cli("split", "--max-files", "1")  # titles that name the files
    assert r.exit_code == 0, r.stderr
    # Shown as git shows them (core.quotePath's octal escapes), in every listing.
    quoted = ['"caf\\351.txt"', '"d\\351j\\340/n\\351.txt"', '"untracked-\\377.txt"']
    for args, names in ((["list"], quoted), (["next"], [*quoted[:1], '"a/caf\\351.txt"'])):
        r = cli(*args)
        assert r.exit_code == 0, (args, r.stderr)
        assert all(q in r.stdout for q in names), (args, r.stdout)
        assert "\ufffd" not in r.stdout and "\\udc" not in r.stdout, (args, r.stdout)
    r = cli("apply", "--all")
    assert r.exit_code == 0, r.stderr
    assert git(committed, "status", "--porcelain") == ""
    named = write(
        committed.parent / os.fsdecode(b"fix-\xe9.diff"),
        _raw(committed, "diff", "HEAD~1", "HEAD").replace(b"+x\n", b"+y\n"),
    )
    git(committed, "reset", "-q", "--hard", "HEAD~1")
    r = cli("add", str(named))
    assert r.exit_code == 0, r.stderr
    assert '"untracked-\\377.txt": +1 -0' in r.stdout  # its title names it as git does


@pytest.mark.parametrize("form", ["attach", "quoted-printable", "base64"])
def test_mail_bodies_in_other_forms_are_read_as_git_am_reads_them(committed: Path, cli, form: str) -> None:
    _commit_file(committed, "data.txt", b"a = 1\nb\n")
    write(committed / "data.txt", b"a = caf\xc3\xa9 \xff\nb\n")
    git(committed, "commit", "-q", "-a", "-m", "Change data")
    mail = _raw(committed, "format-patch", "--stdout", "-1", *(["--attach"] if form == "attach" else []))
    if form != "attach":
        head, _, body = mail.partition(b"\n\n")
        body = quopri.encodestring(body) if form == "quoted-printable" else (base64.encodebytes(body))
        mail = head.replace(b"Content-Transfer-Encoding: 8bit", b"") + (
            f"\nContent-Transfer-Encoding: {form}\n\n".encode() + body
        )
    assert b"\xff" not in mail or form == "attach"
    want = git(committed, "rev-parse", "HEAD^{tree}")
    git(committed, "reset", "-q", "--hard", "HEAD~1")
    subprocess.run(["git", "am", "-q"], cwd=committed, input=mail, check=True)
    assert git(committed, "rev-parse", "HEAD^{tree}") == want  # git am reads it so
    git(committed, "reset", "-q", "--hard", "HEAD~1")
    r = cli("add", input=mail)
    assert r.exit_code == 0, r.stderr
    assert cli("apply").exit_code == 0
    assert git(committed, "rev-parse", "HEAD^{tree}") == want
    assert git(committed, "log", "-1", "--format=%s") == "Change data\n"


def test_a_base64_body_that_does_not_decode_is_bad_input(committed: Path, cli) -> None:
    mail = (
        "From 0123456789012345678901234567890123456789 Mon Sep 17 00:00:00 2001\n"
        "From: A U Thor <a@example.com>\nSubject: [PATCH] Cut\n"
        "Content-Transfer-Encoding: base64\n\nZGlmZiAtLWdpd\n"
    )
    r = cli("add", input=mail)
    assert r.exit_code == 2, r.stderr
    assert "base64 body does not decode" in r.stderr and "hint: " in r.stderr
    assert git(committed, "for-each-ref", "refs/patchpack") == ""


def test_check_shows_names_as_git_shows_them(committed: Path, cli) -> None:
    write(committed / os.fsdecode(b"caf\xe9.txt"), b"x\n")
    write(committed / "tab\there.txt", b"y\n")
    git(committed, "add", ".")
    staged = cli("check")
    diff = cli("check", "--diff", "-", input=_raw(committed, "diff", "--cached"))
    for r in (staged, diff):
        assert r.exit_code == 0, r.stderr
        assert '"caf\\351.txt" (added)' in r.stdout and '"tab\\there.txt" (added)' in r.stdout


@pytest.mark.parametrize("end", ["", "\n", "\r\n", "\nFrom: A <a@example.com>\n\nNo diff.\n"])
def test_a_mail_without_a_diff_is_bad_input(committed: Path, cli, end: str) -> None:
    mail = "From 0123456789012345678901234567890123456789 Mon Sep 17 00:00:00 2001" + end
    for args in (["add"], ["check", "--diff", "-"]):
        r = cli(*args, input=mail)
        assert r.exit_code == 2, (args, r.stdout, r.stderr)
        assert "hint: " in r.stderr
    assert git(committed, "for-each-ref", "refs/patchpack") == ""


def test_a_title_that_is_not_utf8(committed: Path, cli) -> None:
    title = os.fsdecode(b"Fix caf\xe9")  # as a command line in Latin-1 passes it
    write(committed / "README.md", "# changed\n")
    diff = _raw(committed, "diff")
    for args in (["split", "-m", title], ["add", "-m", title]):
        r = cli(*args, input=diff)
        assert r.exit_code == 0, (args, r.stderr)
        commit = json.loads(cli("list", "--json").stdout)["patches"][-1]["commit"]
        assert _raw(committed, "cat-file", "commit", commit).endswith(b"\n\nFix caf\xe9")
        assert b"Fix caf\xe9" in cli("list").stdout_bytes  # the bytes, as git prints them
    r = cli("apply", "--all")
    assert r.exit_code == 0, r.stderr
    assert _raw(committed, "log", "-1", "--format=%B") == b"Fix caf\xe9\n\n"
