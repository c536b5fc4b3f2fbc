"""Benchmark: `patchpack ledger import --claude-code` on 200 MB of Claude Code transcripts.

Baseline: `ccusage daily --json --offline` on the same files: the ccusage the tests install
(tests/clients/install.py, in $PATCHPACK_CLIENTS_CACHE or <repo>/.cache/clients), or
--ccusage PATH. The transcripts, built once under bench/.cache by tests/claude_fixture.py,
hold turns of realistic sizes: a prompt, a response as 3 lines of growing output, a tool's
output of 3 KB; one session in 25 resumed.

    python bench/ledger_import.py [--mb 200] [--repeat 5] [--ccusage PATH] [--before DIR]

Runs the two in turn, --repeat times, and prints the best time of each, MB/s, CPU, peak
memory (all processes of a run together, sampled; and the largest one's max RSS) and the
ratio. Target (#17): as fast as ccusage, under 100 MB. --before DIR also runs the patchpack
of another checkout (`git worktree add DIR main`) in the same turns: before and after, at
the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from claude_fixture import Session, Truth  # noqa: E402

from clients import install  # noqa: E402

ROOT = "/bench/project"
# Where the tests install it; not installed here (npm_clients() would, a minute and 400 MB).
CACHED_CCUSAGE = install.NpmClients(
    install.cache_dir() / f"npm-claude-code-{install.CLAUDE_CODE}-ccusage-{install.CCUSAGE}"
).ccusage


def build(config: Path, megabytes: int) -> Truth:
    """Sessions of 200 turns each until ``megabytes`` are written; the truth of them."""
    truth, written, n = Truth(), 0, 0
    where = config / "projects" / re.sub(r"[^A-Za-z0-9]", "-", ROOT)
    where.mkdir(parents=True)
    filler, previous = "lorem ipsum dolor sit amet " * 120, []  # a tool's output: ~3 KB
    while written < megabytes * 1_000_000:
        n += 1
        s = Session(f"s{n:05d}", ROOT, truth)
        if n % 25 == 0:
            s.lines += previous  # a resumed session repeats the last response
        for turn in range(200):
            s.user(f"turn {turn}: change the thing in module {turn % 17}")
            previous = s.respond(
                turn,
                fresh=3 + turn % 7,
                write=200 + turn,
                out=50 + turn % 300,
                read=10_000 + 40 * turn,
                blocks=3,
            )
            if turn % 10 == 0:  # a subagent's result now and then; else a tool's output
                s.task_result(f"toolu_{n}_{turn}", f"ag{n}_{turn}")
            else:
                s.user("")
                s.lines[-1] = s.lines[-1].replace(
                    '"content":""',
                    f'"content":[{{"type":"tool_result","tool_use_id":"t","content":"{filler}"}}]',
                )
        text = s.text()
        (where / f"{s.session}.jsonl").write_text(text)
        written += len(text.encode())
    return truth


class Run(NamedTuple):
    seconds: float
    cpu: float  # user + system of every process: what a busy machine does not inflate
    peak: int  # bytes: every process of the run at once, at its largest sample
    largest: int  # bytes: the max RSS of its largest process
    out: str


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (shared pages counted in each)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        total += next(
            (int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
        todo += map(int, children)
    return total


def run(argv: list[str], env: dict[str, str], cwd: str | None = None) -> Run:
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
        peak, done = [0], threading.Event()

        def sample() -> None:
            while not done.wait(0.01):
                peak[0] = max(peak[0], _tree_rss(proc.pid))

        sampler = threading.Thread(target=sample)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{argv[0]} exited {os.waitstatus_to_exitcode(status)}")
        out.seek(0)
        return Run(
            seconds,
            usage.ru_utime + usage.ru_stime,
            max(peak[0], usage.ru_maxrss * 1024),
            usage.ru_maxrss * 1024,
            out.read().decode(),
        )


def patchpack(files: list[Path], env: dict[str, str]) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["git", "init", "-q", tmp], check=True)
        return run(
            [sys.executable, "-m", "patchpack", "ledger", "import", "--claude-code", *map(str, files)],
            env,
            cwd=tmp,
        )


def show(name: str, r: Run, size: float) -> str:
    return (
        f"{name:10} {r.seconds:6.2f} s  {size / r.seconds:7.1f} MB/s  cpu {r.cpu:6.2f} s  "
        f"peak {r.peak / 1e6:5.0f} MB (largest process {r.largest / 1e6:4.0f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ccusage", default=str(CACHED_CCUSAGE))
    parser.add_argument("--before", metavar="DIR", help="a checkout whose patchpack to run too")
    args = parser.parse_args()
    cache = HERE / ".cache" / f"transcripts-{args.mb}mb"
    config = cache / "claude"
    if not (cache / "truth.json").exists():
        shutil.rmtree(cache, ignore_errors=True)
        truth = build(config, args.mb)
        (cache / "truth.json").write_text(json.dumps(truth.__dict__))
    truth = Truth(**json.loads((cache / "truth.json").read_text()))
    files = sorted(config.rglob("*.jsonl"))
    size = sum(f.stat().st_size for f in files) / 1e6
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config), "TZ": "UTC"}
    binary = Path(args.ccusage)
    ours: list[Run] = []
    theirs: list[Run] = []
    before: list[Run] = []
    for _ in range(args.repeat):  # interleaved: a busy spell of the machine hits all
        ours.append(patchpack(files, env))
        if args.before:
            before.append(patchpack(files, {**env, "PYTHONPATH": args.before}))
        if binary.exists():
            theirs.append(
                run([str(binary), "daily", "--json", "--offline"], {**env, "HOME": str(cache / "home")})
            )
    mine = min(ours, key=lambda r: r.seconds)
    print(
        f"{size:,.0f} MB in {len(files)} transcripts, {truth.responses:,} responses; "
        f"best of {args.repeat}; load average {os.getloadavg()[0]:.2f}\n"
        f"{show('patchpack:', mine, size)}\n  {mine.out.strip()}"
    )
    if before:
        old = min(before, key=lambda r: r.seconds)
        print(
            f"{show('before:', old, size)}\n"
            f"ratio (before / patchpack): time {old.seconds / mine.seconds:.2f}x, "
            f"cpu {old.cpu / mine.cpu:.2f}x; the same figures imported: "
            f"{'yes' if old.out == mine.out else 'NO'}"
        )
    if not theirs:
        print(f"ccusage not installed at {binary}: no ratio (run the tests once, or --ccusage)")
        return
    best = min(theirs, key=lambda r: r.seconds)
    totals = json.loads(best.out)["totals"]
    print(show("ccusage:", best, size))
    agree = (
        totals["inputTokens"] + totals["cacheReadTokens"] + totals["cacheCreationTokens"],
        totals["outputTokens"],
    ) == (truth.tokens_in, truth.out)
    print(
        f"ratio (ccusage / patchpack): time {best.seconds / mine.seconds:.2f}x, "
        f"cpu {best.cpu / mine.cpu:.2f}x\n"
        f"totals agree with the truth: ccusage {'yes' if agree else 'NO'} ({totals})"
    )


if __name__ == "__main__":
    main()
