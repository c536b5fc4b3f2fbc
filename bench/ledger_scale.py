"""Benchmark: `patchpack budget --by day` on a ledger of 100,000 notes.

Baseline: `git log --notes=patchpack --format=%N` over the same history, git's own way of
reading the ledger. The repository (100,000 commits with a note each, written by
`git fast-import`, which puts notes in fan-out directories as `git notes` does) is built once
and kept under bench/.cache.

    python bench/ledger_scale.py [--commits N]

Prints the times of both (best of 3), cold (no ledger cache) and warm, and the ratios.
Target: patchpack no slower than the baseline, and under 2 seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
START = 1_763_942_400  # 2025-11-24T00:00:00Z; one commit every 20 seconds from there


def build(path: Path, commits: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp)], check=True)
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=tmp, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    out = proc.stdin

    def data(text: str) -> bytes:
        raw = text.encode()
        return b"data %d\n%s\n" % (len(raw), raw)

    for i in range(1, commits + 1):
        out.write(b"commit refs/heads/main\nmark :%d\ncommitter Bench <b@example.com> %d +0000\n"
                  % (i, START + 20 * i))
        out.write(data(f"change {i}") + b"M 644 inline file.txt\n" + data(f"version {i}"))
    out.write(b"commit refs/notes/patchpack\ncommitter Bench <b@example.com> %d +0000\n" % START)
    out.write(data("ledger"))
    for i in range(1, commits + 1):
        ts = datetime.fromtimestamp(START + 20 * i, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        entry = {"v": 1, "id": f"{(START + 20 * i) * 1000:011x}{i:010x}", "ts": ts,
                 "kind": "request", "model": "zai-glm-4.7", "agent": f"agent-{i % 4}",
                 "in": 5000 + i % 997, "out": 800 + i % 97, "requests": 1, "counter": "usage"}
        out.write(b"N inline :%d\n" % i + data(json.dumps(entry, separators=(",", ":"))))
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "gc", "-q"], cwd=tmp, check=True)
    tmp.rename(path)


def best_of(runs: int, argv: list[str], cwd: Path, before: object = None) -> float:
    times = []
    for _ in range(runs):
        if callable(before):
            before()
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=100_000)
    args = parser.parse_args()
    repo = HERE / ".cache" / f"ledger-{args.commits}"
    if not repo.exists():
        print(f"building {args.commits:,} commits with a note each in {repo} ...", flush=True)
        started = time.perf_counter()
        build(repo, args.commits)
        print(f"built in {time.perf_counter() - started:.1f} s")
    env_root = str(HERE.parent)
    os.environ["PYTHONPATH"] = env_root + os.pathsep + os.environ.get("PYTHONPATH", "")
    patchpack = [sys.executable, "-m", "patchpack", "budget", "--by", "day"]
    cache = repo / ".git" / "patchpack" / "ledger-cache"

    def drop_cache() -> None:
        cache.unlink(missing_ok=True)

    baseline = best_of(3, ["git", "log", "--notes=patchpack", "--format=%N"], repo)
    cold = best_of(3, patchpack, repo, before=drop_cache)
    best_of(1, patchpack, repo)  # fill the cache
    warm = best_of(3, patchpack, repo)
    print(f"ledger of {args.commits:,} notes")
    print(f"baseline  git log --notes=patchpack --format=%N   {baseline:6.3f} s")
    print(f"patchpack budget --by day (cold, no cache)      {cold:6.3f} s  "
          f"ratio {cold / baseline:.2f}x of baseline")
    print(f"patchpack budget --by day (warm cache)          {warm:6.3f} s  "
          f"ratio {warm / baseline:.2f}x of baseline")


if __name__ == "__main__":
    main()
