"""`patchpack check`: the measures of DESIGN.md, the limits, and every kind of input."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, git, lines, run_patchpack, write


def wc_l_staged(repo: Path) -> int:
    """The reference measure: `git diff --cached -M | wc -l`."""
    out = subprocess.run(["git", "diff", "--cached", "-M"], cwd=repo, capture_output=True, check=True).stdout
    return out.count(b"\n")


def check_json(cli, *args: str) -> dict:
    r = cli("check", "--json", *args)
    return json.loads(r.stdout)


def test_small_change_passes(committed, cli):
    write(committed / "a.py", lines(10))
    git(committed, "add", "a.py")
    r = cli("check")
    assert r.exit_code == 0, r.stderr
    assert "files: 1 / 2  ok" in r.stdout
    assert f"diff lines: {wc_l_staged(committed)} / 120  ok" in r.stdout


def test_three_files_fail_with_next_step(committed, cli):
    for name in "abc":
        write(committed / f"{name}.txt", "x\n")
    git(committed, "add", ".")
    r = cli("check", "--staged")
    assert r.exit_code == 1
    assert "files: 3 / 2  FAIL" in r.stdout
    assert "patchpack split" in r.stderr and "git reset -p" in r.stderr


@pytest.mark.parametrize("body_lines, expected_exit", [(114, 0), (115, 1)])
def test_line_limit_edge(committed, cli, body_lines, expected_exit):
    # A new file of k lines is k + 6 diff lines: diff --git, new file mode, index, ---, +++, @@.
    write(committed / "new.txt", lines(body_lines))
    git(committed, "add", "new.txt")
    total = wc_l_staged(committed)
    assert total == body_lines + 6
    r = cli("check")
    assert r.exit_code == expected_exit
    verdict = "ok" if expected_exit == 0 else "FAIL"
    assert f"diff lines: {total} / 120  {verdict}" in r.stdout


def test_pure_rename_of_long_file_is_one_small_file(committed, cli):
    write(committed / "long.txt", lines(500))
    git(committed, "add", "long.txt")
    git(committed, "commit", "-qm", "long")
    git(committed, "mv", "long.txt", "moved.txt")
    result = check_json(cli)["results"][0]
    assert result["ok"]
    assert result["files"]["count"] == 1
    assert result["diff_lines"]["count"] == wc_l_staged(committed) == 4
    assert result["changes"][0] == {
        "path": "moved.txt",
        "old_path": "long.txt",
        "status": "renamed",
        "binary": False,
        "added": 0,
        "removed": 0,
        "lines": 4,
    }


def test_binary_deletion_and_mode_change_count_as_files(committed, cli):
    write(committed / "tool.sh", "echo hi\n")
    git(committed, "add", "tool.sh")
    git(committed, "commit", "-qm", "tool")
    write(committed / "logo.png", b"\x89PNG\x00\x01\x02" * 50)
    git(committed, "rm", "-q", "README.md")
    (committed / "tool.sh").chmod(0o755)
    git(committed, "add", ".")
    result = check_json(cli)["results"][0]
    by_path = {c["path"]: c for c in result["changes"]}
    assert set(by_path) == {"logo.png", "README.md", "tool.sh"}
    assert by_path["logo.png"]["binary"] and by_path["logo.png"]["status"] == "added"
    assert by_path["README.md"]["status"] == "deleted"
    assert result["files"]["count"] == 3 and not result["ok"]
    assert result["diff_lines"]["count"] == wc_l_staged(committed)


def test_empty_repository(repo, cli):
    r = cli("check")
    assert r.exit_code == 0 and "files: 0 / 2  ok" in r.stdout
    write(repo / "first.txt", lines(3))
    git(repo, "add", "first.txt")
    r = cli("check")
    assert r.exit_code == 0
    assert f"diff lines: {wc_l_staged(repo)} / 120" in r.stdout


def test_detached_head(committed, cli):
    git(committed, "checkout", "-q", "--detach")
    write(committed / "a.txt", "a\n")
    git(committed, "add", "a.txt")
    assert cli("check").exit_code == 0


def test_subdirectory(committed, cli, monkeypatch):
    write(committed / "sub" / "deep" / "a.txt", "a\n")
    git(committed, "add", ".")
    monkeypatch.chdir(committed / "sub" / "deep")
    r = cli("check")
    assert r.exit_code == 0 and "sub/deep/a.txt" in r.stdout


def _random_change(repo: Path, rng: random.Random) -> None:
    """Stage a random change with awkward content and paths."""
    names = ["plain.txt", "with space.txt", "ünïcode.txt", "dir/crlf.txt", "latin1.txt", "nonl.txt"]
    for name in names:
        body = [f"{rng.choice(['a', 'b', 'c'])} {i}" for i in range(rng.randint(0, 60))]
        if name == "dir/crlf.txt":
            data = "".join(line + "\r\n" for line in body).encode()
        elif name == "latin1.txt":
            data = "".join(line + " caf\xe9\n" for line in body).encode("latin-1")
        elif name == "nonl.txt":
            data = "\n".join(body).encode()
        else:
            data = ("".join(line + "\n" for line in body) + "\x0c form feed\n").encode()
        if rng.random() < 0.2:
            path = repo / name
            if path.exists():
                path.unlink()
            continue
        write(repo / name, data)
    if rng.random() < 0.3 and (repo / "plain.txt").exists():
        git(repo, "add", "-A")
        git(repo, "mv", "plain.txt", f"renamed-{rng.randint(0, 9)}.txt")
    git(repo, "add", "-A")


def test_diff_lines_equal_git_diff_wc_l(committed, cli):
    rng = random.Random(20261124)
    for _ in range(15):
        _random_change(committed, rng)
        result = check_json(cli)["results"][0]
        assert result["diff_lines"]["count"] == wc_l_staged(committed)
        names = subprocess.run(
            ["git", "diff", "--cached", "-M", "--name-only", "-z"],
            cwd=committed,
            capture_output=True,
            check=True,
        ).stdout
        assert result["files"]["count"] == len([n for n in names.split(b"\0") if n])
        git(committed, "commit", "-qm", "step", "--allow-empty")


def test_user_diff_config_does_not_change_the_measure(committed, cli):
    write(committed / "a.txt", lines(40))
    git(committed, "add", "a.txt")
    git(committed, "commit", "-qm", "a")
    text = lines(40).replace("line 5\n", "five\n").replace("line 12\n", "twelve\n")
    write(committed / "a.txt", text)
    git(committed, "add", "a.txt")
    expected = wc_l_staged(committed)
    git(committed, "config", "diff.context", "10")
    git(committed, "config", "diff.noprefix", "true")
    git(committed, "config", "color.diff", "always")
    assert check_json(cli)["results"][0]["diff_lines"]["count"] == expected


# -- ranges -----------------------------------------------------------------------------------


def test_range_checks_each_commit(committed, cli):
    write(committed / "a.txt", "a\n")
    git(committed, "add", ".")
    git(committed, "commit", "-qm", "small one")
    for name in "xyz":
        write(committed / f"{name}.txt", "x\n")
    git(committed, "add", ".")
    git(committed, "commit", "-qm", "three files")
    r = cli("check", "HEAD~2..HEAD")
    assert r.exit_code == 1
    assert "small one" in r.stdout and "three files" in r.stdout
    assert r.stdout.count("FAIL") == 1
    assert cli("check", "HEAD~1").exit_code == 0  # one revision: that commit alone
    assert cli("check", "HEAD~2..HEAD~1").exit_code == 0


def test_root_commit_in_range(committed, cli):
    assert cli("check", "HEAD").exit_code == 0


def test_bad_range_is_bad_input(committed, cli):
    r = cli("check", "nope..HEAD")
    assert r.exit_code == 2
    assert "bad revision range" in r.stderr


# -- diff files -------------------------------------------------------------------------------


def _three_file_commit(repo: Path) -> None:
    for name in "abc":
        write(repo / f"{name}.txt", lines(3))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "three")


def test_diff_file_git_style_and_stdin(committed, cli, tmp_path):
    write(committed / "a.txt", lines(5))
    git(committed, "add", ".")
    patch = git(committed, "diff", "--cached")
    path = write(tmp_path / "c.patch", patch)
    r = cli("check", "--diff", str(path))
    assert r.exit_code == 0 and "files: 1 / 2  ok" in r.stdout
    r = cli("check", "--diff", "-", input=patch)
    assert r.exit_code == 0 and f"diff lines: {patch.count(chr(10))} / 120" in r.stdout


def test_diff_file_plain_diff_u(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outside any repository
    write(tmp_path / "old.txt", lines(5))
    write(tmp_path / "new.txt", lines(6))
    out = subprocess.run(
        ["diff", "-u", "old.txt", "new.txt"], cwd=tmp_path, capture_output=True, text=True
    ).stdout
    r = cli("check", "--diff", "-", input=out)
    assert r.exit_code == 0
    assert "files: 1 / 2  ok" in r.stdout


def test_diff_file_format_patch_mails(committed, cli, tmp_path):
    write(committed / "a.txt", "a\n")
    git(committed, "add", ".")
    git(committed, "commit", "-qm", "one file")
    _three_file_commit(committed)
    mbox = git(committed, "format-patch", "--stdout", "HEAD~2..HEAD")
    r = cli("check", "--diff", "-", input=mbox)
    assert r.exit_code == 1
    assert "patch 1/2 one file" in r.stdout and "patch 2/2 three" in r.stdout
    assert r.stdout.count("FAIL") == 1
    # the mail's binary data and signature are not diff lines
    for rev in ("HEAD~1", "HEAD"):
        assert (
            json.loads(cli("check", "--json", rev).stdout)["results"][0]["diff_lines"]
            == json.loads(
                cli(
                    "check",
                    "--json",
                    "--diff",
                    "-",
                    input=git(committed, "format-patch", "--stdout", "--binary", "-1", rev),
                ).stdout
            )["results"][0]["diff_lines"]
        )


def test_malformed_diff_is_bad_input(cli, tmp_path):
    bad = "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n-only one line\n"
    r = cli("check", "--diff", "-", input=bad)
    assert r.exit_code == 2
    assert "malformed diff" in r.stderr


@pytest.mark.parametrize("text", ["", "hello, this is not a diff\n"])
def test_input_without_a_diff_is_bad_input(cli, text):
    r = cli("check", "--diff", "-", input=text)
    assert r.exit_code == 2 and "no diff found" in r.stderr


def test_unreadable_diff_file(cli, tmp_path):
    r = cli("check", "--diff", str(tmp_path / "missing.patch"))
    assert r.exit_code == 2


def test_not_a_repository(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("check")
    assert r.exit_code == 2
    assert r.stderr.startswith("patchpack: not a git repository")


def test_a_sha256_repository_is_refused_by_every_command(tmp_path, cli, monkeypatch):
    """libgit2 cannot open one: every command says so (exit 2) before it reads or writes."""
    repo = tmp_path / "sha256"
    git(tmp_path, "init", "-q", "--object-format=sha256", str(repo))
    write(repo / "a.txt", "a\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "init")
    write(repo / "a.txt", "b\n")
    monkeypatch.chdir(repo)
    before = git(repo, "for-each-ref"), git(repo, "status", "--porcelain")
    diff = git(repo, "diff")
    for args in (
        ["status"],
        ["list"],
        ["add"],
        ["split"],
        ["apply"],
        ["undo"],
        ["check"],
        ["check", "HEAD"],
        ["budget"],
        ["context"],
        ["run", "true"],
        ["init"],
    ):
        r = cli(*args, input=diff)
        assert r.exit_code == 2, (args, r.stderr)
        assert "is a sha256 repository; patchpack works in sha1 repositories only" in r.stderr
        assert r.stderr.rstrip().splitlines()[-1].startswith("hint: "), args
        assert (git(repo, "for-each-ref"), git(repo, "status", "--porcelain")) == before
    assert not (repo / ".git" / "patchpack").exists()


def test_the_repository_is_found_as_git_finds_it(committed, tmp_path, monkeypatch):
    from patchpack.git import Repo

    inside = Repo.discover(committed / ".git")  # from inside the git dir: the work tree too
    assert (inside.git_dir, inside.workdir) == (committed / ".git", committed)
    monkeypatch.setenv("GIT_DIR", str(committed / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(committed))
    found = Repo.discover(tmp_path)  # GIT_DIR wins over the directory, as for git
    assert (found.git_dir, found.workdir, found.is_bare) == (committed / ".git", committed, False)
    assert found.head_oid() == git(committed, "rev-parse", "HEAD").strip()


@pytest.mark.parametrize("argv", [["check"], ["run", "--stats", "--", "true"]])
def test_check_and_run_never_load_libgit2(committed, argv):
    # The pre-commit hook's latency and run's memory (#5) depend on it.
    probe = (
        "import sys\nfrom patchpack.cli import main\ntry:\n    main(sys.argv[1:])\n"
        "except SystemExit:\n    pass\nprint('pygit2._pygit2' in sys.modules)"
    )
    write(committed / "a.txt", "a\n")
    git(committed, "add", "a.txt")
    out = subprocess.run([sys.executable, "-c", probe, *argv], cwd=committed, capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr


def test_options_are_exclusive(committed, cli):
    assert cli("check", "--staged", "HEAD").exit_code == 2


# -- settings ---------------------------------------------------------------------------------


def test_settings_precedence(committed, cli, monkeypatch):
    for name in "abc":
        write(committed / f"{name}.txt", "x\n")
    git(committed, "add", ".")
    assert cli("check").exit_code == 1
    git(committed, "config", "patchpack.maxFiles", "3")
    assert cli("check").exit_code == 0
    monkeypatch.setenv("PATCHPACK_MAX_FILES", "2")
    assert cli("check").exit_code == 1
    assert cli("check", "--max-files", "5").exit_code == 0
    r = cli("check", "--max-lines", "3")
    assert r.exit_code == 1 and "/ 3  FAIL" in r.stdout


def test_global_config_level(committed, cli):
    git(committed, "config", "--global", "patchpack.maxLines", "7")
    write(committed / "a.txt", lines(5))
    git(committed, "add", ".")
    r = cli("check")
    assert "/ 7  FAIL" in r.stdout


def test_bad_setting_is_bad_input(committed, cli):
    git(committed, "config", "patchpack.maxLines", "lots")
    r = cli("check")
    assert r.exit_code == 2
    assert "patchpack.maxLines" in r.stderr and "whole number" in r.stderr


# -- the real entry point ---------------------------------------------------------------------


def test_entry_point_exit_codes(committed, tmp_path):
    assert run_patchpack("--version", cwd=committed).stdout.startswith("patchpack, version")
    for name in "abc":
        write(committed / f"{name}.txt", "x\n")
    git(committed, "add", ".")
    failed = run_patchpack("check", cwd=committed)
    assert failed.returncode == 1 and "FAIL" in failed.stdout
    outside = run_patchpack("check", cwd=tmp_path)
    assert outside.returncode == 2 and "Traceback" not in outside.stderr
    usage = run_patchpack("check", "--max-files", "-1", cwd=committed)
    assert usage.returncode == 2


@pytest.mark.parametrize("how", ["-m", "script"])
@pytest.mark.parametrize(("command", "cut"), [("list", "click"), ("status", "unidiff")])
def test_ctrl_c_while_modules_load_exits_130_with_one_line(committed, tmp_path, how, command, cut):
    """A Ctrl-C during start-up, stood in for by a module whose import is interrupted, is
    exit 130 and one line, through `python -m patchpack` and the console script pip
    writes for the entry point pyproject.toml declares; `status` loads no click (#16)."""
    write(tmp_path / "fake" / cut / "__init__.py", "raise KeyboardInterrupt\n")
    write(committed / "README.md", "# changed\n")  # status parses a change with unidiff
    # The console script's entry, not the Code Puppy plugin's of the same name.
    scripts = (ROOT / "pyproject.toml").read_text().split("[project.scripts]\n")[1]
    [target] = re.findall(r'^patchpack = "(.+)"$', scripts.split("\n[")[0], re.M)
    module, _, function = target.partition(":")
    script = write(
        tmp_path / "patchpack-script",
        f"import sys\nfrom {module} import {function}\nsys.exit({function}())\n",
    )
    argv = ["-m", "patchpack"] if how == "-m" else [str(script)]
    proc = subprocess.run(
        [sys.executable, *argv, command],
        cwd=committed,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{tmp_path / 'fake'}:{ROOT}"},
    )
    assert (proc.returncode, proc.stderr, proc.stdout) == (130, "patchpack: interrupted\n", "")


def test_every_command_has_help(cli):
    from patchpack.cli import COMMANDS

    assert len(COMMANDS) > 20  # commands load lazily: the list is COMMANDS, not group.commands
    for name in COMMANDS:
        r = cli(name, "--help")
        assert r.exit_code == 0 and "Usage:" in r.stdout
