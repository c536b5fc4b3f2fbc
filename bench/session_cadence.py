"""Which masking cadence the Code Puppy plugin should have: the session bench's patchpack agent
in Code Puppy, once per setting, on the same tasks (#19).

    python bench/session_cadence.py REPO [N] [--first K] [--set NAME=VALUE,...]...

Each `--set` is one session with those settings in the environment (`PATCHPACK_...`, as
docs/settings.md names them); the first is the baseline (default: the defaults). `--first K`
replays only the first K of the N tasks bench/session_tokens.py would choose, so request 10
is the one the full session sends, for a fraction of the time. Prints, per setting, the
requests, input tokens, largest request, request 10 and the ratio to the baseline's total.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

from session import run  # noqa: E402
from session.tasks import find_tasks, tests_finish  # noqa: E402

from clients import install  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("n", type=int, nargs="?", default=4)
    parser.add_argument("--first", type=int, default=0, help="replay only the first K tasks")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="sets",
        help="NAME=VALUE,... environment of one session (repeatable)",
    )
    args = parser.parse_args(argv)
    sets = [dict(kv.split("=", 1) for kv in s.split(",") if kv) for s in args.sets or [""]]
    if any(not k.startswith("PATCHPACK_") for s in sets for k in s):
        parser.error("--set takes PATCHPACK_NAME=VALUE pairs (docs/settings.md)")
    if not (args.repo / ".git").exists():
        print(f"session_cadence: {args.repo} is not a git repository", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="session-cadence-") as scratch:
        tasks = find_tasks(args.repo, args.n, accept=tests_finish(args.repo, Path(scratch), 60))
    tasks = tasks[: args.first or len(tasks)]
    print(f"tasks {' '.join(t.commit[:7] for t in tasks)}, load {os.getloadavg()[0]:.1f}")
    puppy = install.code_puppy()
    base = 0
    for setting in sets:
        saved = dict(os.environ)
        os.environ.update(setting)
        try:
            with tempfile.TemporaryDirectory(prefix="session-cadence-") as scratch:
                s = run.code_puppy_session(puppy, args.repo, tasks, "patchpack", work=Path(scratch))
        except run.SessionFailed as e:
            print(f"session_cadence: {setting or 'defaults'} failed: {e}", file=sys.stderr)
            return 1
        finally:
            os.environ.clear()
            os.environ.update(saved)
        total = sum(s.requests)
        base = base or total
        tenth = s.requests[9] if len(s.requests) >= 10 else 0
        print(
            f"{','.join(f'{k}={v}' for k, v in setting.items()) or 'defaults':45} "
            f"requests {len(s.requests):3}  input {total:9,}  largest {max(s.requests):7,}  "
            f"request 10 {tenth:7,}  x{base / total:.2f}  load {os.getloadavg()[0]:.1f}"
        )
        print("  per request: " + " ".join(str(t) for t in s.requests), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
