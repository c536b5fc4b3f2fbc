"""The headline number: an agent's session spend with and without patchpack, through the real
clients (#19).

    python bench/session_tokens.py REPO [N] [--clients code-puppy,claude-code] [--json]
                                   [--png FILE]

Replays N tasks (real commits of REPO: bench/session/tasks.py) in Code Puppy and Claude Code,
each by a naive agent and a patchpack agent (bench/session/scripts.py), against a scripted
model endpoint on 127.0.0.1 that counts the cl100k tokens of every request it receives
(tests/clients/endpoint.py). The clients are the real ones, installed into the cache
tests/clients/install.py keeps when missing. A trajectory that edits code it was not shown
fails the bench (bench/session/fairness.py). docs/session-bench.md has the measured numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

from session import report, run  # noqa: E402
from session.tasks import find_tasks, tests_finish  # noqa: E402

from clients import install  # noqa: E402

CLIENTS = ("code-puppy", "claude-code")
AGENTS = ("naive", "patchpack")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("n", type=int, nargs="?", default=4)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument(
        "--max-test-seconds",
        type=float,
        default=60,
        help="leave out a commit whose tests take longer (default 60)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--png", type=Path, default=Path("session_tokens.png"))
    args = parser.parse_args(argv)
    chosen = [c for c in args.clients.split(",") if c]
    if not (args.repo / ".git").exists() and not args.repo.joinpath("HEAD").exists():
        print(f"session_tokens: {args.repo} is not a git repository", file=sys.stderr)
        return 2
    if any(c not in CLIENTS for c in chosen) or args.n < 1:
        parser.error(f"--clients takes {', '.join(CLIENTS)}; N is 1 or more")

    def say(text: str) -> None:
        print(f"session_tokens: {text}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="session-bench-") as scratch:
        say(f"choosing {args.n} consecutive commits whose tests run in {args.max_test_seconds:g} s")
        tasks = find_tasks(
            args.repo, args.n, accept=tests_finish(args.repo, Path(scratch), args.max_test_seconds)
        )
    if not tasks:
        say(f"no commit of {args.repo} makes a task (bench/session/tasks.py says which do)")
        return 1
    for task in tasks:
        say(f"task {task.commit[:10]} {task.paths} tests {task.tests}: {task.subject[:60]}")
    results = {}
    try:
        if "code-puppy" in chosen:
            puppy = install.code_puppy()
            done = run.run_agents(
                AGENTS, lambda a, w: run.code_puppy_session(puppy, args.repo, tasks, a, work=w), say
            )
            results["code-puppy"] = report.client_result(done["naive"], done["patchpack"], len(tasks))
        if "claude-code" in chosen:
            npm = install.npm_clients()
            done = run.run_agents(
                AGENTS, lambda a, w: run.claude_session(npm, args.repo, tasks, a, work=w), say
            )
            results["claude-code"] = report.client_result(done["naive"], done["patchpack"], len(tasks))
    except run.SessionFailed as e:
        say(f"a session failed, no figures: {e}")
        return 1
    figures = {
        "repo": str(args.repo),
        "tasks": [t.commit for t in tasks],
        "load_average": os.getloadavg()[0],
        "clients": results,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(report.table(results))
    say(report.png(results, args.png))
    # A missed target is a figure to report, not a failure of the bench: it prints MISS.
    return 0


if __name__ == "__main__":
    sys.exit(main())
