"""Kept run logs stay bounded: each within patchpack.runLogMax, keeping its head and its tail
and saying what was cut; the runs directory within patchpack.runDirMax, oldest logs first."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from patchpack.output import runlog
from patchpack.output.runner import Limiter, Limits, Output

from conftest import git

NOTE = re.compile(rb"\[patchpack: ([0-9,]+) lines? \(([0-9,]+) bytes\) cut here[^\n]*\]\n")


def run(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["patchpack", "run", *args],
        cwd=cwd,
        capture_output=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def printing(code: str) -> list[str]:
    return ["--", sys.executable, "-c", f"import sys\n{code}"]


def logs(repo: Path) -> dict[str, int]:
    runs = repo / ".git" / "patchpack" / "runs"
    return {p.name: p.stat().st_size for p in sorted(runs.iterdir(), key=lambda p: int(p.stem))}


def cut_apart(log: bytes) -> tuple[bytes, int, int, bytes]:
    """The head, lines cut, bytes cut and the tail of a log that was cut."""
    m = NOTE.search(log)
    assert m is not None, log[:200]
    return log[: m.start()], int(m[1].replace(b",", b"")), int(m[2].replace(b",", b"")), log[m.end() :]


LINES = "for i in range(1, 100001): print('line', i)\n"
FULL = b"".join(b"line %d\n" % i for i in range(1, 100_001))  # 688,895 bytes


def test_a_log_over_its_cap_keeps_its_head_and_tail_and_says_what_was_cut(repo: Path) -> None:
    r = run(*printing(LINES), cwd=repo, env={"PATCHPACK_RUN_LOG_MAX": "65536"})
    assert r.returncode == 0
    log = (repo / ".git/patchpack/runs/1.log").read_bytes()
    assert len(log) <= 65536
    head, lines, size, tail = cut_apart(log)
    assert FULL.startswith(head) and head.endswith(b"\n") and len(head) > 30_000
    assert FULL.endswith(tail) and FULL[-len(tail) - 1 :].startswith(b"\n") and len(tail) > 30_000
    assert head.count(b"\n") + lines + tail.count(b"\n") == 100_000
    assert len(head) + size + len(tail) == len(FULL)
    # The marker's range is in the log's own lines: what follows it is the tail printed.
    marker = r.stdout.decode().splitlines()[50]
    end = int(re.search(r"--show 1 --at 51-([0-9]+)`", marker)[1])  # type: ignore[index]
    rest = run("--show", "1", "--at", f"{end + 1}-", "--lines", "1000", cwd=repo)
    assert rest.stdout.decode().splitlines() == r.stdout.decode().splitlines()[51:]


def test_failure_lines_of_a_cut_log_are_numbered_as_in_the_log(repo: Path) -> None:
    git(repo, "config", "patchpack.runLogMax", "65536")
    code = (
        LINES.replace("print('line', i)", "print('Error at', i) if i == 99000 else print('line', i)")
        + "sys.exit(1)"
    )
    r = run(*printing(code), cwd=repo)
    assert r.returncode == 1
    picked = re.search(r"^\[([0-9]+)\] Error at 99000$", r.stdout.decode(), re.MULTILINE)
    assert picked is not None, r.stdout.decode()
    shown = run("--show", "last", "--at", f"{picked[1]}-{picked[1]}", cwd=repo)
    assert shown.stdout == b"Error at 99000\n"


def test_one_line_longer_than_the_cap_is_cut_too(repo: Path) -> None:
    r = run(
        *printing("sys.stdout.write('x' * 1_000_000 + '\\n' + 'y' * 10)"),
        cwd=repo,
        env={"PATCHPACK_RUN_LOG_MAX": "8192"},
    )
    assert r.returncode == 0
    log = (repo / ".git/patchpack/runs/1.log").read_bytes()
    assert len(log) <= 8192
    head, _, size, tail = cut_apart(log)
    assert head.strip(b"\n") == b"x" * len(head.strip(b"\n")) and len(head) > 3000
    assert tail == b"y" * 10  # whole lines: the end of the long line is cut with its middle
    assert len(head.strip(b"\n")) + size + len(tail) == 1_000_011


def test_the_runs_directory_stays_within_its_cap_oldest_logs_removed_first(repo: Path) -> None:
    env = {"PATCHPACK_RUN_DIR_MAX": "150000"}
    sixty_kb = printing("for i in range(6000): print('%9d' % i)")
    for n in range(1, 5):
        assert run(*sixty_kb, cwd=repo, env=env).returncode == 0
        kept = logs(repo)
        assert sum(kept.values()) <= 150_000
        assert list(kept) == [f"{i}.log" for i in range(max(1, n - 1), n + 1)]
    # A log alone larger than the directory's cap is cut to it.
    assert run(*printing(LINES), cwd=repo, env=env).returncode == 0
    assert list(logs(repo)) == ["5.log"] and logs(repo)["5.log"] <= 150_000


@pytest.mark.parametrize(
    ("name", "value"), [("PATCHPACK_RUN_LOG_MAX", "100"), ("PATCHPACK_RUN_DIR_MAX", "4095")]
)
def test_a_cap_too_small_for_a_log_is_bad_input(repo: Path, tmp_path: Path, name: str, value: str) -> None:
    touched = tmp_path / "ran"
    r = run("--", "touch", str(touched), cwd=repo, env={name: value})
    assert r.returncode == 2
    assert b"at least 4096 bytes, or 0 for no cap" in r.stderr
    assert b"hint: git config patchpack.run" in r.stderr and b"(the default)" in r.stderr
    assert not touched.exists() and not (repo / ".git/patchpack").exists()


def test_a_long_line_never_sits_in_memory_on_its_way_to_the_log(tmp_path: Path) -> None:
    _, path, log = runlog.create(tmp_path, limit=1 << 20)
    limiter = Limiter(Limits(200, 50, 400), Output(io.BytesIO(), io.BytesIO()), log)
    chunk = b"y" * (1 << 16)
    tracemalloc.start()
    for _ in range(160):  # 10 MB, no newline yet
        limiter.feed(1, chunk)
    limiter.feed(1, b"\n")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    log.close()
    assert peak < 512 * 1024
    head, lines, _, tail = cut_apart(path.read_bytes())
    assert (head, lines, tail) == (b"y" * (((1 << 20) - runlog.NOTE_ROOM) // 2) + b"\n", 1, b"")
