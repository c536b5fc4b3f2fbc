"""How `split` and `list` grow with the size of a change to one file (#15).

A repository gets one uncommitted change to one file, N lines long, then `patchpack split`
(which cuts it into micro-patches of at most 120 diff lines) and `patchpack list` run on it.
The baseline is the same run on a change a tenth the size, scaled x10: what linear growth
would take. Two shapes of change: a new file, and a file whose every line is rewritten.
Times are wall clock and CPU (the process and the git processes it ran); on a busy machine
trust the CPU column.

    python bench/split_scale.py              # 20,000 and 200,000 lines (a few minutes)
    python bench/split_scale.py --lines 5000 # 5,000 and 50,000
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True)


def build(root: Path, lines: int, shape: str) -> Path:
    repo = root / f"{shape}-{lines}"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    big = repo / "big.txt"
    if shape == "rewrite":
        big.write_text("".join(f"old line {i} of the big file\n" for i in range(lines)))
    else:
        (repo / "README").write_text("readme\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    big.write_text("".join(f"line {i} of the big file\n" for i in range(lines)))
    return repo


def timed(repo: Path, *args: str) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (with every process it ran), stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "patchpack", *args],
        cwd=repo,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--lines", type=int, default=20000, help="the baseline's lines; the large case has ten times as many"
    )
    args = parser.parse_args()
    sizes = (args.lines, args.lines * 10)
    with tempfile.TemporaryDirectory(prefix="patchpack-bench-") as tmp:
        for shape in ("new", "rewrite"):
            results = {}
            for lines in sizes:
                repo = build(Path(tmp), lines, shape)
                split = timed(repo, "split")
                listed = timed(repo, "list")
                pieces = listed[2].count(" queued ")
                results[lines] = (split, listed)
                print(
                    f"{shape:<7} {lines:>7,} lines, {pieces:>5} patches: "
                    f"split {split[0]:6.1f} s wall {split[1]:6.1f} s CPU, "
                    f"list {listed[0]:5.1f} s wall {listed[1]:5.1f} s CPU"
                )
            small, large = results[sizes[0]], results[sizes[1]]
            for k, what in ((0, "split"), (1, "list")):
                print(
                    f"  {what}: {sizes[1]:,} lines / ({sizes[0]:,} lines x10): "
                    f"{large[k][1] / (10 * small[k][1]):.2f}x CPU, "
                    f"{large[k][0] / (10 * small[k][0]):.2f}x wall (1.00x: linear)"
                )


if __name__ == "__main__":
    main()
