from __future__ import annotations

from pathlib import Path

from conftest import git, run_patchpack, write


def test_counts_standard_input(cli, repo: Path) -> None:
    r = cli("tokens", input="hello world")
    assert r.exit_code == 0
    assert r.stdout == "2 tokens (cl100k_base)\n"


def test_counts_files_verbosely_with_a_total(cli, repo: Path) -> None:
    write(repo / "a.txt", "hello world")
    write(repo / "b.txt", "hello")
    r = cli("tokens", "-v", "a.txt", "b.txt")
    assert r.exit_code == 0
    assert r.stdout.splitlines() == ["       2  a.txt", "       1  b.txt",
                                     "       3  total (cl100k_base)"]


def test_declared_estimate_from_flag_and_config(cli, repo: Path) -> None:
    write(repo / "a.txt", "x" * 10)
    assert cli("tokens", "--tokenizer", "chars:4", "a.txt").stdout == "3 tokens (chars:4)\n"
    git(repo, "config", "patchpack.tokenizer", "chars:2.5")
    assert cli("tokens", "a.txt").stdout == "4 tokens (chars:2.5)\n"


def test_non_utf8_bytes_are_counted(cli, repo: Path) -> None:
    write(repo / "latin.txt", b"caf\xe9 \xff\n")
    r = cli("tokens", "latin.txt")
    assert r.exit_code == 0 and r.stdout.endswith("tokens (cl100k_base)\n")


def test_bad_counter_and_missing_file_exit_2(repo: Path) -> None:
    r = run_patchpack("tokens", "--tokenizer", "chars:zero", cwd=repo, input="x")
    assert r.returncode == 2 and "chars:N needs a number" in r.stderr
    r = run_patchpack("tokens", "--tokenizer", "no_such_encoding", cwd=repo, input="x")
    assert r.returncode == 2 and "unknown token counter" in r.stderr
    r = run_patchpack("tokens", "missing.txt", cwd=repo)
    assert r.returncode == 2 and r.stdout == ""


def test_works_outside_a_repository(tmp_path: Path) -> None:
    r = run_patchpack("tokens", "-", cwd=tmp_path, input="hello world")
    assert r.returncode == 0 and r.stdout == "2 tokens (cl100k_base)\n"
