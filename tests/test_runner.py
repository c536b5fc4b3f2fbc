"""The output limiter: `patchpack run`, `patchpack run --show` and `patchpack test`."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchpack.ledger import store as ledger
from patchpack.output import runlog, runner
from patchpack.output.runner import EXACT_BYTES, Limiter, Limits, Output, argv_for_tests, cut
from patchpack.tokens import count_file, get_counter

from conftest import git, run_patchpack, write

PY = sys.executable


def py(code: str) -> list[str]:
    """A command running ``code`` with this Python."""
    return [PY, "-c", code]


def run(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """`patchpack run ...` as a subprocess, output kept as bytes."""
    return subprocess.run(
        ["patchpack", "run", *args],
        cwd=cwd,
        capture_output=True,
        env=None if env is None else {**os.environ, **env},
    )


def printing(n: int, *, exit: int = 0, prefix: str = "line") -> list[str]:
    return py(f"import sys\nfor i in range(1, {n} + 1): print('{prefix}', i)\nsys.exit({exit})")


def runs_dir(repo: Path) -> Path:
    return repo / ".git" / "patchpack" / "runs"


class MemoryLog(io.BytesIO):
    """A run log in memory that checks the newlines the limiter says each write holds."""

    def __init__(self, *, keep: bool = True) -> None:
        super().__init__()
        self.keep = keep

    def write(self, data: bytes, newlines: int = 0) -> int:  # type: ignore[override]
        assert data.count(b"\n") == newlines
        return super().write(data) if self.keep else len(data)


# -- pass-through and exit codes --------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 1, 3])
def test_short_output_passes_through_byte_for_byte(repo: Path, code: int) -> None:
    script = (
        "import sys\nsys.stdout.write('out 1\\n\\tindented  \\n\\n')\n"
        "sys.stderr.write('err 1\\n')\nsys.stdout.write('no newline at end')\n"
        f"sys.exit({code})"
    )
    direct = subprocess.run(py(script), capture_output=True)
    limited = run("--", *py(script), cwd=repo)
    assert limited.returncode == direct.returncode == code
    assert limited.stdout == direct.stdout
    assert limited.stderr == direct.stderr


def test_100000_lines_become_n_lines_with_head_tail_and_marker(repo: Path) -> None:
    r = run("--", *printing(100_000), cwd=repo)
    assert r.returncode == 0
    out = r.stdout.decode().splitlines()
    assert len(out) == 201
    assert out[:50] == [f"line {i}" for i in range(1, 51)]
    assert out[51:] == [f"line {i}" for i in range(99_851, 100_001)]
    marker = out[50]
    assert marker.startswith("... 99,800 lines omitted (")
    assert "tokens estimated at 4 bytes a token" in marker
    assert "`patchpack run --show 1 --at 51-99850`" in marker
    assert "(log: .git/patchpack/runs/1.log)" in marker


def test_lines_and_head_options_and_settings(repo: Path) -> None:
    r = run("--lines", "5", "--head", "0", "--", *printing(100), cwd=repo)
    out = r.stdout.decode().splitlines()
    assert out[0].startswith("... 95 lines omitted")
    assert out[1:] == [f"line {i}" for i in range(96, 101)]
    r = run("--", *printing(100), cwd=repo, env={"PATCHPACK_OUTPUT_LINES": "8"})
    out = r.stdout.decode().splitlines()
    assert out[:2] == ["line 1", "line 2"] and out[3:] == [f"line {i}" for i in range(95, 101)]


def test_head_larger_than_lines_is_bad_input(repo: Path) -> None:
    r = run("--lines", "5", "--head", "6", "--", "true", cwd=repo)
    assert r.returncode == 2
    assert b"bad output limits" in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), b"give one of COMMAND, --shell SCRIPT and --show ID"),
        (("--shell", "true", "--", "true"), b"give one of"),
        (("--at", "1-2", "--", "true"), b"--at goes with --show ID"),
    ],
)
def test_usage_errors(repo: Path, args: tuple[str, ...], message: bytes) -> None:
    r = run(*args, cwd=repo)
    assert r.returncode == 2
    assert message in r.stderr


def test_killed_by_a_signal_is_128_plus_the_signal(repo: Path) -> None:
    assert (
        run("--", *py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"), cwd=repo).returncode
        == 128 + signal.SIGKILL
    )
    assert run("--shell", "kill -TERM $$", cwd=repo).returncode == 128 + signal.SIGTERM


def test_timeout_kills_the_process_group_and_exits_124(repo: Path, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    started = time.monotonic()
    r = run("--timeout", "0.5", "--shell", f"echo started; sleep 30 & echo $! > {pids}; wait", cwd=repo)
    assert r.returncode == 124
    assert time.monotonic() - started < 10
    assert r.stdout == b"started\n"
    assert b"timed out after 0.5s" in r.stderr
    time.sleep(0.1)
    assert not alive(int(pids.read_text()))


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (dead, not yet reaped by init) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_command_not_found_is_127(repo: Path) -> None:
    r = run("--", "no-such-command-anywhere", "--flag", cwd=repo)
    assert r.returncode == 127
    assert r.stderr.startswith(b"patchpack: command not found: no-such-command-anywhere")
    assert not list(runs_dir(repo).glob("*.log"))


def test_command_not_executable_is_126(repo: Path) -> None:
    write(repo / "script.sh", "echo hi\n")
    r = run("--", "./script.sh", cwd=repo)
    assert r.returncode == 126
    assert b"not executable" in r.stderr


def test_shell_runs_a_script(repo: Path) -> None:
    r = run("--shell", "echo a | tr a b; exit 5", cwd=repo)
    assert (r.returncode, r.stdout) == (5, b"b\n")


def test_a_command_that_exits_leaving_a_background_child_does_not_hang(repo: Path) -> None:
    started = time.monotonic()
    r = run("--shell", "sleep 30 & echo done; printf 'no newline'", cwd=repo)
    assert (r.returncode, r.stdout) == (0, b"done\nno newline")
    assert (runs_dir(repo) / "1.log").read_bytes() == b"done\nno newline"
    assert time.monotonic() - started < 10


# -- streams, long lines, binary --------------------------------------------------------------


def test_stdout_and_stderr_keep_their_streams_and_their_order(repo: Path) -> None:
    script = (
        "import sys, time\nfor i in range(6):\n"
        "    s = sys.stdout if i % 2 == 0 else sys.stderr\n"
        "    s.write(f'{i}\\n'); s.flush(); time.sleep(0.05)"
    )
    r = run("--", *py(script), cwd=repo)
    assert (r.stdout, r.stderr) == (b"0\n2\n4\n", b"1\n3\n5\n")
    merged = subprocess.run(
        ["patchpack", "run", "--", *py(script)], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert merged.stdout == b"0\n1\n2\n3\n4\n5\n"
    assert (runs_dir(repo) / "2.log").read_bytes() == b"0\n1\n2\n3\n4\n5\n"


def test_tail_lines_from_stderr_go_to_stderr(repo: Path) -> None:
    script = (
        "import sys\nfor i in range(1000): print(i)\nsys.stdout.flush()\nprint('the end', file=sys.stderr)"
    )
    r = run("--lines", "4", "--head", "1", "--", *py(script), cwd=repo)
    assert r.stderr == b"the end\n"
    assert r.stdout.decode().splitlines()[2:] == ["998", "999"]


def test_a_single_10_mb_line_is_cut_and_kept_whole_in_the_log(repo: Path) -> None:
    r = run("--", *py("import sys; sys.stdout.write('é' + 'x' * 10_000_000 + '\\nafter\\n')"), cwd=repo)
    assert r.returncode == 0
    first, after = r.stdout.decode().splitlines()
    assert first == "é" + "x" * 399 + " [... line cut at 400 chars, 10,000,002 bytes in all]"
    assert after == "after"
    assert (runs_dir(repo) / "1.log").stat().st_size == 10_000_002 + 1 + 6


def test_a_10_mb_line_is_never_held_in_memory() -> None:
    out = io.BytesIO()
    with MemoryLog(keep=False) as log:
        limiter = Limiter(Limits(200, 50, 400), Output(out, out), log)  # type: ignore[arg-type]
        chunk = b"y" * (1 << 16)
        tracemalloc.start()
        for _ in range(160):  # 10 MB, no newline yet
            limiter.feed(1, chunk)
        limiter.feed(1, b"\n")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 512 * 1024
    assert out.getvalue() == b"y" * 400 + b" [... line cut at 400 chars, 10,485,760 bytes in all]\n"


def test_cut_counts_characters_not_bytes() -> None:
    assert cut("é".encode() * 10, 20, 10) == "é".encode() * 10
    assert cut("é".encode() * 11, 22, 10) == "é".encode() * 10 + (
        b" [... line cut at 10 chars, 22 bytes in all]"
    )
    # a prefix that ends inside a character is cut before it
    assert cut(b"ab\xc3", 4, 2) == b"ab [... line cut at 2 chars, 4 bytes in all]"


def test_binary_output_does_not_crash_it(repo: Path) -> None:
    blob = bytes(range(256)) * 4 + b"\xff\xfe\x00 not utf-8 \xc3\x28\n"
    script = f"import sys; sys.stdout.buffer.write({blob!r})"
    r = run("--stats", "--", *py(script), cwd=repo)
    assert r.returncode == 0
    assert r.stdout == blob
    assert b"tokens (cl100k_base)" in r.stderr
    many = f"import sys\nfor _ in range(3000): sys.stdout.buffer.write({blob!r})"
    r = run("--", *py(many), cwd=repo)
    assert r.returncode == 0
    assert (runs_dir(repo) / "2.log").read_bytes() == blob * 3000


# -- the kept log ------------------------------------------------------------------------------


def test_the_kept_log_is_complete_and_show_reads_a_range(repo: Path) -> None:
    script = (
        "import sys\nfor i in range(1, 5001):\n"
        "    print('line', i, file=sys.stderr if i % 7 == 0 else sys.stdout)"
    )
    assert run("--", *py(script), cwd=repo).returncode == 0
    log = (runs_dir(repo) / "1.log").read_text()
    assert sorted(log.splitlines(), key=lambda s: int(s.split()[1])) == [f"line {i}" for i in range(1, 5001)]
    r = run("--show", "1", "--at", "10-12", cwd=repo)
    assert r.returncode == 0
    assert r.stdout.decode().splitlines() == log.splitlines()[9:12]
    assert (
        run("--show", "last", "--at", "4999-", cwd=repo).stdout.decode().splitlines()
        == (log.splitlines()[4998:])
    )
    shown = run("--show", "1", "--lines", "4", cwd=repo).stdout.decode().splitlines()
    assert shown[0] == log.splitlines()[0]
    assert shown[1].startswith("... 4,996 lines omitted")
    assert "--show 1 --at 2-4997" in shown[1]


def test_show_range_cuts_long_lines(repo: Path) -> None:
    run("--", *py("print('z' * 5000); print('short')"), cwd=repo)
    r = run("--show", "1", "--at", "1-1", "--max-line-chars", "10", cwd=repo)
    assert r.stdout == b"zzzzzzzzzz [... line cut at 10 chars, 5,000 bytes in all]\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--show", "9"), b"no kept run log '9'"),
        (("--show", "1", "--at", "5-2"), b"bad line range '5-2'"),
        (("--show", "1", "--at", "x"), b"bad line range 'x'"),
    ],
)
def test_show_bad_input(repo: Path, args: tuple[str, ...], message: bytes) -> None:
    run("--", "true", cwd=repo)
    r = run(*args, cwd=repo)
    assert r.returncode == 2
    assert message in r.stderr


def test_only_the_newest_logs_are_kept(repo: Path) -> None:
    git(repo, "config", "patchpack.runKeep", "3")
    for i in range(5):
        run("--", "echo", str(i), cwd=repo)
    assert sorted(p.name for p in runs_dir(repo).iterdir()) == ["3.log", "4.log", "5.log"]
    assert run("--show", "last", cwd=repo).stdout == b"4\n"


def test_logs_live_in_the_git_dir_of_the_worktree(committed: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(committed, "worktree", "add", "-q", str(other))
    r = run("--", "echo", "hi", cwd=other / "")
    assert r.returncode == 0
    assert (committed / ".git" / "worktrees" / "other" / "patchpack" / "runs" / "1.log").exists()
    assert not runs_dir(committed).exists()


def test_outside_a_repository_logs_go_to_a_temporary_directory(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    temp = tmp_path / "temp"
    temp.mkdir()
    r = run("--lines", "2", "--", *printing(10), cwd=outside, env={"TMPDIR": str(temp)})
    assert r.returncode == 0
    logs = list(temp.glob("patchpack-*/runs/*.log"))
    assert len(logs) == 1 and logs[0].read_text() == "".join(f"line {i}\n" for i in range(1, 11))
    assert str(logs[0]) in r.stdout.decode()


# -- failure lines -----------------------------------------------------------------------------


def failing_output(exit: int) -> list[str]:
    return py(
        "import sys\n"
        "for i in range(1, 3001):\n"
        "    if i == 1000: print('Traceback (most recent call last):')\n"
        "    elif i == 1001: print('ValueError: boom')\n"
        "    elif i == 2990: print('FAILED test_x.py::test_late')\n"
        "    else: print('ok', i)\n"
        f"sys.exit({exit})"
    )


def test_failure_lines_from_the_middle_are_kept_when_the_command_fails(repo: Path) -> None:
    r = run("--lines", "20", "--", *failing_output(1), cwd=repo)
    assert r.returncode == 1
    out = r.stdout.decode().splitlines()
    assert out[:5] == [f"ok {i}" for i in range(1, 6)]
    assert out[5].startswith("... 2,980 lines omitted")
    assert out[6] == "... 2 failure lines from them, numbered as in the log: ..."
    assert out[7:9] == ["[1000] Traceback (most recent call last):", "[1001] ValueError: boom"]
    assert out[9] == "... the last 13 lines: ..."
    assert out[10:] == [f"ok {i}" for i in range(2988, 2990)] + ["FAILED test_x.py::test_late"] + [
        f"ok {i}" for i in range(2991, 3001)
    ]
    assert len(out) - 3 == 20  # three marker lines


def test_failure_lines_across_read_chunks_and_in_huge_lines(repo: Path) -> None:
    # 100-byte lines: line 10486 straddles the first MB of the log; line 15000 is 3 MB long.
    script = (
        "import sys\nwords = {10486: 'Error', 15000: 'Traceback' + 'x' * 3_000_000}\n"
        "for i in range(1, 20001): print(f'{i:08d} {words.get(i, \"ok\")}'.ljust(99, '.'))\n"
        "sys.exit(1)"
    )
    out = run("--", *py(script), cwd=repo).stdout.decode().splitlines()
    assert out[51] == "... 2 failure lines from them, numbered as in the log: ..."
    assert out[52] == "[10486] " + "00010486 Error".ljust(99, ".")
    assert out[53] == (
        "[15000] 00015000 Traceback" + "x" * 382 + " [... line cut at 400 chars, 3,000,018 bytes in all]"
    )
    assert out[54] == "... the last 148 lines: ..."


def test_failure_lines_are_not_picked_when_the_command_passes(repo: Path) -> None:
    out = run("--lines", "20", "--", *failing_output(0), cwd=repo).stdout.decode()
    assert "ValueError" not in out
    assert len(out.splitlines()) == 21


def test_failure_lines_given_up_by_the_tail_are_candidates_too(repo: Path) -> None:
    script = (
        "import sys\nfor i in range(1, 101): print('error: at', i) if i in (50, 81) "
        "else print('ok', i)\nsys.exit(2)"
    )
    out = run("--lines", "20", "--head", "0", "--", *py(script), cwd=repo).stdout.decode()
    lines = out.splitlines()
    # The tail (81-100) gives up 81 and 82 for two failure lines: 50, and 81 itself.
    assert lines[0].startswith("... 80 lines omitted")
    assert lines[2:4] == ["[50] error: at 50", "[81] error: at 81"]
    assert lines[5:] == [f"ok {i}" for i in range(83, 101)]


# -- Ctrl-C ------------------------------------------------------------------------------------


def test_ctrl_c_is_passed_on_and_the_summary_still_printed(repo: Path) -> None:
    # 'ready' is printed inside the try: a SIGINT that comes right after it is caught.
    script = (
        "import time\nfor i in range(500): print('line', i)\n"
        "try:\n    print('ready', flush=True)\n    time.sleep(30)\n"
        "except KeyboardInterrupt:\n    print('child got SIGINT'); raise SystemExit(7)"
    )
    proc = subprocess.Popen(
        ["patchpack", "run", "--lines", "10", "--", *py(script)],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    head = proc.stdout.readline()  # the head is printed as it comes
    assert head == b"line 0\n"
    deadline = time.monotonic() + 10
    while (
        not list(runs_dir(repo).glob("*.log"))
        or b"ready" not in next(runs_dir(repo).glob("*.log")).read_bytes()
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert out.decode().splitlines()[-2:] == ["ready", "child got SIGINT"]
    assert b"omitted" in out
    assert b"interrupted (SIGINT passed to the command)" in err


# -- tokens ------------------------------------------------------------------------------------


def test_stats_count_the_full_and_the_printed_output_exactly(repo: Path) -> None:
    r = run("--stats", "--", *printing(3000), cwd=repo)
    counter = get_counter("cl100k_base")
    full = counter.count("".join(f"line {i}\n" for i in range(1, 3001)))
    printed = counter.count(r.stdout.decode())
    assert r.stderr.decode() == (
        f"patchpack: run 1: 3,000 lines, printed 200; tokens (cl100k_base): full output "
        f"{full:,}, printed {printed:,}, not printed {full - printed:,}\n"
    )
    assert f"the full output is {full:,} tokens by cl100k_base" in r.stdout.decode()


def test_stats_name_the_configured_counter(repo: Path) -> None:
    r = run("--stats", "--", "echo", "abcdefgh", cwd=repo, env={"PATCHPACK_TOKENIZER": "chars:3"})
    assert b"tokens (chars:3): full output 3, printed 3, not printed 0" in r.stderr


def test_stats_for_a_small_output_equal_patchpack_tokens_of_the_log(repo: Path) -> None:
    r = run("--stats", "--lines", "20", "--", *py(MIXED.format(n=2000)), cwd=repo)
    tokens = run_patchpack("tokens", str(runs_dir(repo) / "1.log"), cwd=repo)
    full = int(tokens.stdout.split()[0].replace(",", ""))
    assert f"full output {full:,}, printed " in r.stderr.decode()
    assert "estimated" not in r.stderr.decode() + r.stdout.decode()


# A generated log whose kinds of text change along it (a stride sample must see them all):
# test lines, traceback lines, JSON, words in several scripts, hex, assertion errors, logs.
MIXED = """\
import json, random, sys
random.seed(5)
words = ["alpha", "beta", "überprüfung", "数据", "naïve", "request_id", "None", "0x7ffe"]
n = {n}
for i in range(n):
    kind = i * 7 // n
    print([
        lambda: f"tests/test_mod_{{i % 97}}.py::test_case_{{i}} PASSED [{{i * 100 // n:3d}}%]",
        lambda: f'  File "/usr/lib/python3/pkg/mod{{i % 13}}.py", line {{i % 900}}, in f{{i % 31}}',
        lambda: json.dumps({{"id": i, "values": [random.random() for _ in range(3)]}}),
        lambda: " ".join(random.choice(words) for _ in range(12)),
        lambda: "".join(random.choice("0123456789abcdef") for _ in range(64)),
        lambda: f"E       AssertionError: assert {{i}} == {{i + 1}}",
        lambda: f"[{{i:08d}}] INFO  server: GET /api/v1/items/{{i % 1000}} in {{i % 50}}ms",
    ][kind]())
"""


def figures(stderr: bytes) -> dict[str, int]:
    """The numbers of the `--stats` line: full output, printed, not printed."""
    text = stderr.decode().split("tokens (cl100k_base): ", 1)[1]
    found = re.findall(r"(full output|printed|not printed) ~?([0-9,]+)", text)
    return {name: int(number.replace(",", "")) for name, number in found}


def test_a_long_output_is_estimated_where_not_printed_and_says_so(repo: Path) -> None:
    r = run("--stats", "--", *py(MIXED.format(n=50_000)), cwd=repo)  # 3.5 MB
    log = runs_dir(repo) / "1.log"
    assert log.stat().st_size > EXACT_BYTES
    exact = count_file(get_counter("cl100k_base"), log)
    stats = figures(r.stderr)
    assert abs(stats["full output"] - exact) / exact < 0.05  # measured: under 0.5%
    assert stats["full output"] - stats["printed"] == stats["not printed"]
    assert stats["printed"] == get_counter("cl100k_base").count(r.stdout.decode())
    assert "full output ~" in r.stderr.decode() and "not printed ~" in r.stderr.decode()
    assert "(estimated: the output not printed, from a sample of it)" in r.stderr.decode()
    marker = r.stdout.decode().splitlines()[50]
    assert (
        f"the full output is ~{stats['full output']:,} tokens by cl100k_base, estimated "
        "from a sample of the omitted lines" in marker
    )


@pytest.mark.parametrize("n", [400, 3000, 20_000])
def test_the_estimate_is_close_to_the_exact_count(n: int, tmp_path: Path) -> None:
    out, err = io.BytesIO(), io.BytesIO()
    result = runner.run(
        py(MIXED.format(n=n)),
        limits=Limits(),
        log_dir=tmp_path,
        keep=5,
        timeout=None,
        counter=lambda: get_counter("cl100k_base"),
        out=out,
        err=err,
        exact_bytes=10_000,
    )
    assert result.tokens is not None and result.tokens.estimated
    exact = count_file(get_counter("cl100k_base"), result.log)
    assert abs(result.tokens.full - exact) / exact < 0.1


def test_tokens_per_byte_of_a_sample_reads_whole_lines_in_range(tmp_path: Path) -> None:
    counter = get_counter("chars:1")  # one token a character: the rate is chars per byte
    log = write(tmp_path / "log", "é" * 3000 + "\n" + "ab\n" * 100_000)
    assert runlog.tokens_per_byte(counter, log, 6001, log.stat().st_size) == 1.0
    assert runlog.tokens_per_byte(counter, log, 0, 6000) == 0.5  # one long line: as it is
    assert runlog.tokens_per_byte(counter, log, 5, 5) == 0.0


def test_the_ledger_entry_of_a_run_says_when_its_saving_is_estimated(committed: Path) -> None:
    run_patchpack("record", "--in", "1", "--out", "1", cwd=committed)
    run("--", *printing(2000), cwd=committed)
    run("--", *py(MIXED.format(n=50_000)), cwd=committed)
    spool = (committed / ".git" / "patchpack" / "pending.jsonl").read_text().splitlines()
    small, large = json.loads(spool[1]), json.loads(spool[2])
    assert "estimated" not in small and small["saved"] > small["in"] > 0
    assert list(large)[-4:] == ["out", "saved", "estimated", "counter"]
    assert large["estimated"] is True and large["saved"] > 500_000
    assert ledger.parse_line(spool[2]).estimated
    with pytest.raises(ValueError, match="'estimated' must be true or false"):
        ledger.parse_line(spool[2].replace('"estimated":true', '"estimated":1'))


def test_printing_more_than_the_output_saves_nothing_rather_than_failing(committed: Path) -> None:
    # A cut line prints its note: the summary can cost more tokens than the output it cuts.
    run_patchpack("record", "--in", "1", "--out", "1", cwd=committed)
    r = run("--stats", "--", *py("print('x' * 401)"), cwd=committed)
    assert r.returncode == 0, r.stderr  # it was 2: a negative saving is bad input to the ledger
    stats = figures(r.stderr)
    assert stats["printed"] > stats["full output"] and stats["not printed"] == 0
    entry = json.loads((committed / ".git/patchpack/pending.jsonl").read_text().splitlines()[1])
    assert entry["kind"] == "run" and "saved" not in entry


def test_a_plain_run_never_loads_the_tokenizer(repo: Path) -> None:
    check = (
        "import sys\nfrom patchpack.cli import main\ntry:\n    main(['run', '--', 'echo', "
        "'hi'])\nexcept SystemExit:\n    pass\nprint('tiktoken' in sys.modules)"
    )
    r = subprocess.run(py(check), cwd=repo, capture_output=True, text=True, check=True)
    assert r.stdout == "hi\nFalse\n"


def test_a_counter_that_cannot_load_costs_the_figures_not_the_output(repo: Path) -> None:
    r = run("--stats", "--", *printing(300, exit=3), cwd=repo, env={"PATCHPACK_TOKENIZER": "nope"})
    assert r.returncode == 3
    assert r.stdout.decode().splitlines()[-1] == "line 300"
    assert b"tokens estimated at 4 bytes a token" in r.stdout
    assert r.stderr.decode().startswith(
        "patchpack: warning: run 1 has no token figures: unknown token counter 'nope'"
    )


def test_count_file_matches_counting_the_whole_text(tmp_path: Path) -> None:
    text = ("def f(x):\n    return x  # é\n\n\n/path/like\n" + "  indented\t\n{json}\n") * 40_000
    path = write(tmp_path / "log", text)
    for name in ("cl100k_base", "chars:2.5"):
        counter = get_counter(name)
        assert count_file(counter, path) == counter.count(text)
        assert count_file(counter, path, piece=4096) == counter.count(text)


# -- the limiter, in-process -------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=60),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
    n=st.integers(min_value=1, max_value=12),
    end=st.booleans(),
)
def test_limiter_prints_head_and_tail_and_logs_everything(
    lines: list[bytes], cuts: list[int], n: int, end: bool
) -> None:
    data = b"\n".join(lines) + (b"\n" if end and lines else b"")
    out, log = io.BytesIO(), MemoryLog()
    limits = Limits.make(lines=n, head=None, max_line_chars=1000)
    limiter = Limiter(limits, Output(out, io.BytesIO()), log)  # type: ignore[arg-type]
    for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(data)]):
        if data[a:b]:
            limiter.feed(1, data[a:b])
    limiter.finish(failed=False, run_id="1", log=Path("1.log"))
    assert log.getvalue() == data
    got = out.getvalue().split(b"\n")
    end = data.endswith(b"\n")
    real = data.split(b"\n")[:-1] if end else data.split(b"\n") if data else []
    if len(real) <= n:
        assert out.getvalue() == data
    else:
        assert got[: limits.head] == real[: limits.head]
        assert got[limits.head].startswith(b"... %d lines omitted" % (len(real) - n))
        tail = b"\n".join(real[len(real) - (n - limits.head) :]) + (b"\n" if end else b"")
        assert b"\n".join(got[limits.head + 1 :]) == tail


# -- patchpack test ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["pytest", "-q", "--tb=short"]),
        (["-x", "tests/"], ["pytest", "-q", "--tb=short", "-x", "tests/"]),
        (["--tb=long"], ["pytest", "-q", "--tb=long"]),
        (["-v"], ["pytest", "--tb=short", "-v"]),
        (["-vv", "--tb", "line"], ["pytest", "-vv", "--tb", "line"]),
        (["-q"], ["pytest", "--tb=short", "-q"]),
        (["--", "-v"], ["pytest", "-q", "--tb=short", "--", "-v"]),
    ],
)
def test_test_argv_lets_user_flags_win(args: list[str], expected: list[str]) -> None:
    assert argv_for_tests("pytest -q --tb=short", args) == expected


def test_test_argv_bad_command() -> None:
    from patchpack.errors import BadInput

    with pytest.raises(BadInput):
        argv_for_tests("pytest 'unclosed", [])
    with pytest.raises(BadInput):
        argv_for_tests("  ", [])


def test_patchpack_test_runs_pytest_through_the_limiter(repo: Path) -> None:
    write(repo / "test_a.py", "".join(f"def test_{i}():\n    assert {i} != 37\n\n" for i in range(300)))
    git(repo, "config", "patchpack.testCommand", f"{shlex.quote(PY)} -m pytest -q --tb=short")
    r = run_patchpack("test", "--lines", "30", "-p", "no:cacheprovider", cwd=repo)
    assert r.returncode == 1
    assert "1 failed, 299 passed" in r.stdout
    assert "assert 37 != 37" in r.stdout
    r = run_patchpack(
        "test", "--lines", "30", "-p", "no:cacheprovider", "test_a.py::test_1", "-v", "--tb=no", cwd=repo
    )
    assert r.returncode == 0
    assert "test_a.py::test_1 PASSED" in r.stdout


def test_patchpack_test_with_another_runner(repo: Path) -> None:
    command = f"{shlex.quote(PY)} -c 'import sys; print(sys.argv[1:])' -q --color=no"
    r = run_patchpack("test", "--color=yes", "x", cwd=repo, env={"PATCHPACK_TEST_COMMAND": command})
    assert (r.returncode, r.stdout) == (0, "['-q', '--color=yes', 'x']\n")


def test_runlog_ids_and_ranges(tmp_path: Path) -> None:
    assert runlog.parse_range("3-7") == (3, 7) and runlog.parse_range("3-") == (3, None)
    ids = [runlog.create(tmp_path)[0] for _ in range(3)]
    assert ids == ["1", "2", "3"]
    assert runlog.find(tmp_path, "last") == tmp_path / "3.log"


# -- the reader going away (`| head`) ---------------------------------------------------------

ENDLESS = (
    "import os, sys\nopen(sys.argv[1], 'w').write(str(os.getpid()))\n"
    "for i in range(10 ** 9): print('line', i)"
)  # bounded: 10**9 lines, never reached


@pytest.mark.parametrize("lines", ["100", "1000000000"])  # silent after its head; always writing
def test_a_reader_that_goes_away_stops_the_command_as_a_pipe_would(
    repo: Path, tmp_path: Path, lines: str
) -> None:
    pid_file = tmp_path / "pid"
    argv = [
        "patchpack",
        "run",
        "--lines",
        lines,
        "--head",
        str(int(lines) // 2),
        "--",
        *py(ENDLESS),
        str(pid_file),
    ]
    proc = subprocess.Popen(
        argv, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert [proc.stdout.readline() for _ in range(2)] == [b"line 0\n", b"line 1\n"]
        proc.stdout.close()  # what `| head -n 2` does after its second line
        code = proc.wait(timeout=30)  # a safety net: it used to run forever
        err = proc.stderr.read()
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None
    assert code == 128 + signal.SIGPIPE  # 141: what a shell reports for a writer a pipe stopped
    assert b"Traceback" not in err and b"internal error" not in err
    pid = int(pid_file.read_text())
    for _ in range(100):  # the command's group is gone (SIGTERM, SIGKILL 2 s later)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the command outlived patchpack")
    shown = run("--show", "last", "--at", "1-2", cwd=repo)
    assert (shown.returncode, shown.stdout) == (0, b"line 0\nline 1\n")
