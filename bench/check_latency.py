"""Latency of `patchpack check` on a large repository, against git's own diff.

Builds (once, cached in bench/.cache) a repository of about 20,000 files, stages a 2-file
change, and prints the median wall time of `patchpack check` next to
`git diff --cached --numstat`, their difference and ratio, and where the time goes
(interpreter start, imports, the diff itself).

    python bench/check_latency.py [--files 20000] [--runs 15]

Target (issue 2): the check adds no more than 150 ms over git's own diff.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

IMPORTS = "import patchpack.cli"
CACHE = Path(__file__).resolve().parent / ".cache"


def build(files: int) -> Path:
    repo = CACHE / f"check-latency-{files}"
    if (repo / ".git").exists():
        return repo
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    for i in range(files):
        path = repo / f"pkg{i % 200:03d}" / f"mod{i:05d}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text("".join(f"def f{j}():\n    return {i} + {j}\n" for j in range(10)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "many files")
    return repo


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    subprocess.run(["git", *args], cwd=repo, check=True, env=env)


def median_ms(cmd: list[str], cwd: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    repo = build(args.files)
    for name in ("pkg000/mod00000.py", "pkg001/mod00001.py"):
        with open(repo / name, "a") as f:
            f.write("# a change\n")
    git(repo, "add", "pkg000/mod00000.py", "pkg001/mod00001.py")
    git(repo, "status", "--short")  # refresh the index stat cache once, as a user's would be
    py = sys.executable
    rows = {
        "git diff --cached --numstat": ["git", "diff", "--cached", "--numstat"],
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import patchpack.cli'": [py, "-c", IMPORTS],
        "patchpack check": [py, "-m", "patchpack", "check"],
    }
    times = {label: median_ms(cmd, repo, args.runs) for label, cmd in rows.items()}
    print(f"repository: {args.files} files; median of {args.runs} runs")
    for label, ms in times.items():
        print(f"  {label:<36} {ms:8.1f} ms")
    baseline, ours = times["git diff --cached --numstat"], times["patchpack check"]
    print(f"patchpack check / git diff: {ours / baseline:.2f}x, "
          f"adds {ours - baseline:.1f} ms (target: at most 150 ms)")
    start = times["python -c pass"]
    imports = times["python -c 'import patchpack.cli'"] - start
    print(f"  of which interpreter start {start:.1f} ms, imports {imports:.1f} ms")
    git(repo, "reset", "-q", "--hard")


if __name__ == "__main__":
    main()
