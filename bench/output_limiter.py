"""Wall time and peak memory of `patchpack run`, against `CMD | tail -n 200`.

The command prints 1,000,000 lines of 80 bytes (80 MB): once in big writes (a firehose, the
hardest case for the limiter) and once a line at a time (a program that prints as it goes).
For each, prints the median wall time of `sh -c 'CMD | tail -n 200'` and of
`patchpack run -- CMD` (run in a scratch repository, so the full log is written to its git
dir), their ratio, and the peak resident memory of the patchpack process itself (its own
peak resident set, not the command's), in three modes:

- plain: no ledger, no `--stats`: no tokenizer is loaded;
- `--stats`: tokens of what was printed counted exactly, of the full output estimated from a
  sample of the omitted part (exactly below 2 MB);
- ledger in use (a pending spool exists): the same counting, and an entry in the spool.

    python bench/output_limiter.py [--lines 1000000] [--runs 3] [--modes plain,stats,ledger]

Targets (issue 5): within 1.5 times tail's wall time; peak memory under 64 MB however long
the output. The size of the kept log is printed too: at most patchpack.runLogMax (32 MiB
unless PATCHPACK_RUN_LOG_MAX says otherwise), so 80 MB of output is cut to its head and tail.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MODES = {
    "plain": ("patchpack run", []),
    "stats": ("patchpack run --stats", ["--stats"]),
    "ledger": ("patchpack run (ledger in use)", []),
}

PRODUCERS = {
    "firehose": (
        "import sys\nw = sys.stdout.write\nfor start in range(0, {n}, 10000):\n"
        "    w(''.join(f'{{i:09d}} tests/test_output.py::test_case PASSED '"
        " f'[value={{i * 7 % 1000:03d}}] ok ...............\\n' for i in range(start, start + 10000)))"
    ),
    "line by line": (
        "for i in range({n}):\n"
        "    print(f'{{i:09d}} tests/test_output.py::test_case PASSED '"
        " f'[value={{i * 7 % 1000:03d}}] ok ...............')"
    ),
}

# patchpack's own peak memory, written to fd $BENCH_FD when it exits: VmHWM (kB) of its
# address space. Not ru_maxrss: on Linux that carries over from the parent through fork+exec.
MEASURED = (
    "import atexit, os, re, sys\n"
    "def peak():\n"
    "    status = open('/proc/self/status').read()\n"
    "    os.write(int(os.environ['BENCH_FD']), re.search(r'VmHWM:\\s*(\\d+)', status)[1].encode())\n"
    "atexit.register(peak)\n"
    "from patchpack.cli import main\nmain(sys.argv[1:])\n"
)


def timed(cmd: list[str], cwd: Path) -> tuple[float, int | None]:
    """Wall seconds of ``cmd`` and the maxrss (KB) it reported on fd $BENCH_FD, if any."""
    read, write = os.pipe()
    start = time.perf_counter()
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(write,),
        env={**os.environ, "PYTHONPATH": str(ROOT), "BENCH_FD": str(write)},
    )
    elapsed = time.perf_counter() - start
    os.close(write)
    with os.fdopen(read) as f:
        reported = f.read().strip()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {shlex.join(cmd)}")
    return elapsed, int(reported) if reported else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--modes",
        default="plain,stats,ledger",
        help="comma-separated: plain, stats, ledger (default: all three)",
    )
    args = parser.parse_args()
    modes = args.modes.split(",")
    if unknown := set(modes) - set(MODES):
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="patchpack-bench-") as tmp:
        repo = Path(tmp)
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        for name, template in PRODUCERS.items():
            command = [sys.executable, "-c", template.format(n=args.lines)]
            size = len(subprocess.run(command, capture_output=True, check=True).stdout)
            print(f"{name}: {args.lines:,} lines, {size / 1e6:.1f} MB")
            tail = statistics.median(
                timed(["sh", "-c", f"{shlex.join(command)} | tail -n 200"], repo)[0] for _ in range(args.runs)
            )
            print(f"  {'CMD | tail -n 200':<30} {tail:6.2f} s")
            for mode in modes:
                label, extra = MODES[mode]
                spool = repo / ".git" / "patchpack" / "pending.jsonl"
                if mode == "ledger":
                    spool.parent.mkdir(exist_ok=True)
                    spool.touch()  # `patchpack.ledger.store.in_use`: a pending spool exists
                results = [
                    timed([sys.executable, "-c", MEASURED, "run", *extra, "--", *command], repo)
                    for _ in range(args.runs)
                ]
                wall = statistics.median(r[0] for r in results)
                peak = max(r[1] or 0 for r in results) / 1024
                logs = sorted((repo / ".git" / "patchpack" / "runs").glob("*.log"), key=lambda p: int(p.stem))
                print(
                    f"  {label:<30} {wall:6.2f} s   {wall / tail:4.2f}x tail   "
                    f"peak memory {peak:.0f} MB   log {logs[-1].stat().st_size / 1e6:.1f} MB"
                )
                if mode == "ledger":
                    entry = json.loads(spool.read_text().splitlines()[-1])
                    print(
                        f"  {'':<30} entry: in {entry['in']:,}, saved {entry.get('saved', 0):,}"
                        f"{' (estimated)' if entry.get('estimated') else ''}"
                    )
                spool.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
