"""`check --staged`, `next` and `status` answered before click loads (#16): each runs here
through the console script's entry point and through click on the same repository, and the
two must print the same bytes on stdout and stderr and exit with the same code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git, lines, write

# The console script's entry point, then which of these it loaded (on a last stderr line).
WATCHED = ("click", "pygit2._pygit2", "tiktoken", "patchpack.git.objects")
ENTRY = ("import sys\nfrom patchpack.__main__ import main\nsys.argv[1:] = sys.argv[2:]\n"
         "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
         "sys.stdout.flush()\n"
         f"print(code, *[m for m in {WATCHED!r} if m in sys.modules], file=sys.stderr)")
# The click command alone, as every command ran before #16's quick path.
CLICK = ("import sys\nfrom patchpack.cli import main\nsys.argv[1:] = sys.argv[2:]\n"
         "try:\n    main()\nexcept SystemExit as e:\n    print(e.code, file=sys.stderr)")


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


@pytest.mark.parametrize("argv", [("check",), ("check", "--staged"),
                                  ("check", "--staged", "--json"), ("check", "--json")])
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
        b"latin-1 name\n")
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


def test_other_forms_of_check_still_go_to_click(committed: Path) -> None:
    for argv in (("check", "--help"), ("check", "HEAD"), ("check", "--max-files", "3")):
        code, out, _, loaded = _run(ENTRY, committed, argv)
        assert code == "0" and "click" in loaded, argv
        assert out.startswith(b"Usage: patchpack check") == (argv[1] == "--help")
