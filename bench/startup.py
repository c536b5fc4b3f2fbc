"""Start-up of the commands an agent runs on every step, beside the git command each stands for.

An agent pays a command's start-up on every tool call (`guard`) or every loop (`status`,
`next`, `check`, `apply`), so what counts is the wall time of a fresh process. Each row is
the median of N runs of the installed console script, next to the git command a user would
otherwise run (`guard` next to the bare interpreter its script runs on: `python -c pass`).
The rows are timed round-robin, one run of each per round, so that a busy machine slows them
alike. Targets (issue 16): guard at most 1.7x `python -c pass`; status, next, check under
80 ms. The verdicts are printed, never asserted: a number depends on the machine.

    python bench/startup.py [--runs 15] [--files 100] [--against SCRIPT] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ENV = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}
# (label, argv, baseline label, target: ("ratio", x) to the baseline or ("ms", limit))
ROWS = [
    ("patchpack guard (Read)", ["guard"], "python -c pass", ("ratio", 1.7)),
    ("patchpack status", ["status"], "git status", ("ms", 80.0)),
    ("patchpack next", ["next"], "git log -1", ("ms", 80.0)),
    ("patchpack check --staged", ["check", "--staged"], "git diff --cached --stat", ("ms", 80.0)),
    ("patchpack apply", ["apply"], "git commit", None),
]
# The hook's command (`integrate claude-code` writes it): the guard without pip's script's `re`.
LAUNCHER = "patchpack-guard (Read)"


@dataclass(frozen=True)
class Row:
    command: str
    ms: float
    baseline: str
    baseline_ms: float
    ratio: float
    per_python: float
    """The command's time in interpreter start-ups: an ms target over a busy machine's."""
    target: str | None
    verdict: str | None
    """PASS or MISS against ``target``; None when the row has none."""


class Bench:
    """A repository with a queued patch and a staged change, and the commands to time in it."""

    def __init__(
        self, root: Path, files: int, patchpack: str, python: str, against: str | None = None
    ) -> None:
        self.repo, self.patchpack, self.python = root / "repo", patchpack, python
        self.against = against
        launcher = Path(patchpack).with_name("patchpack-guard")
        self.launcher = str(launcher) if launcher.exists() else None
        self.env = {**os.environ, **ENV, "HOME": str(root / "home")}
        for name in ("GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE"):
            self.env.pop(name, None)
        (root / "home").mkdir()
        self.repo.mkdir()
        self.git("init", "-q", "-b", "main")
        for i in range(files):
            path = self.repo / f"src/m{i % 10}/f{i:04d}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(f"def f{i}_{k}():\n    return {k}\n\n" for k in range(20)))
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "base")
        self.base = self.git("rev-parse", "HEAD").strip()
        first = self.repo / "src/m0/f0000.py"
        first.write_text(first.read_text().replace("return 3\n", "return 3 + 1\n"))
        self.patch = root / "one.diff"
        self.patch.write_text(self.git("diff"))
        self.message = root / "MSG"
        self.message.write_text("f0000: return 3 + 1\n")
        self.git("checkout", "-q", "--", ".")
        self.read = json.dumps(
            {
                "session_id": "bench",
                "transcript_path": str(root / "t.jsonl"),
                "cwd": str(self.repo),
                "permission_mode": "default",
                "hook_event_name": "PreToolUse",
                "tool_name": "Read",
                "tool_input": {"file_path": str(self.repo / "src/m1/f0001.py")},
                "tool_use_id": "toolu_bench",
            }
        )
        self.staged = self.repo / "src/m2/f0002.py"
        self.ready()

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.repo, env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def ready(self) -> None:
        """HEAD at the base, one patch queued, one small change staged."""
        self.git("reset", "-q", "--hard", self.base)
        self.ours("add", str(self.patch))
        self.staged.write_text(self.staged.read_text() + "\n# staged\n")
        self.git("add", str(self.staged))

    def ours(self, *args: str, stdin: str | None = None) -> float:
        return self.timed([self.patchpack, *args], stdin)

    def timed(self, argv: list[str], stdin: str | None = None) -> float:
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=self.repo, env=self.env, input=stdin, text=True, capture_output=True)
        ms = (time.perf_counter() - start) * 1000
        if done.returncode != 0:  # a failing command is not the command being measured
            sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
        return ms

    def round(self, times: dict[str, list[float]]) -> None:
        """One run of every row and baseline, in the state each needs."""

        def add(label: str, ms: float) -> None:
            times.setdefault(label, []).append(ms)

        def both(label: str, *argv: str, stdin: str | None = None) -> None:
            add(label, self.ours(*argv, stdin=stdin))
            if self.against:  # the other script in the same round: the same load on both
                add(AGAINST + label, self.timed([self.against, *argv], stdin))

        add("python -c pass", self.timed([self.python, "-c", "pass"]))
        both("patchpack guard (Read)", "guard", stdin=self.read)
        if self.launcher:
            add(LAUNCHER, self.timed([self.launcher], self.read))
        for label, argv, base, _ in ROWS[1:4]:
            both(label, *argv)
            add(base, self.timed(["git", *base.split()[1:]]))
        if self.against:
            self.git("reset", "-q", "--hard", self.base)
            add(AGAINST + "patchpack apply", self.timed([self.against, "apply"]))
            self.ready()
        self.git("reset", "-q", "--hard", self.base)
        add("patchpack apply", self.ours("apply"))
        self.git("reset", "-q", "--hard", self.base)
        self.git("apply", "--index", str(self.patch))
        add("git commit", self.timed(["git", "commit", "-q", "-F", str(self.message)]))
        self.ready()


AGAINST = "against: "
"""The label of a row timed with ``--against``'s script."""


def measure(runs: int, files: int, patchpack: str, python: str, against: str | None = None) -> list[Row]:
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="patchpack-startup-") as tmp:
        bench = Bench(Path(tmp), files, patchpack, python, against)
        for _ in range(runs):
            bench.round(times)
    median = {label: statistics.median(ms) for label, ms in times.items()}
    python = median["python -c pass"]
    rows = [Row("python -c pass", python, "python -c pass", python, 1.0, 1.0, None, None)]
    for label, _, base, target in [(AGAINST + label, *rest) for label, *rest in ROWS if against] + ROWS:
        ms, base_ms = median[label], median[base]
        ratio = ms / base_ms
        if target is None:
            rows.append(Row(label, ms, base, base_ms, ratio, ms / python, None, None))
            continue
        kind, limit = target
        met = ratio <= limit if kind == "ratio" else ms < limit
        rows.append(
            Row(
                label,
                ms,
                base,
                base_ms,
                ratio,
                ms / python,
                f"<= {limit:g}x" if kind == "ratio" else f"< {limit:g} ms",
                "PASS" if met else "MISS",
            )
        )
        # Each git command once, as a row of its own too.
        if base != "python -c pass" and not label.startswith(AGAINST):
            rows.append(Row(base, base_ms, base, base_ms, 1.0, base_ms / python, None, None))
    if LAUNCHER in median:
        ratio = median[LAUNCHER] / python
        rows.insert(
            1,
            Row(
                LAUNCHER,
                median[LAUNCHER],
                "python -c pass",
                python,
                ratio,
                ratio,
                "<= 1.7x",
                "PASS" if ratio <= 1.7 else "MISS",
            ),
        )
    return rows


def render(rows: list[Row], runs: int, files: int) -> str:
    out = [
        f"median of {runs} runs, a repository of {files} files; "
        f"ratio = the command / its baseline; x py = the command / python -c pass; "
        f"load average {os.getloadavg()[0]:.1f}",
        f"{'command':<36} {'ms':>7} {'x py':>6}  {'baseline':<26} {'ms':>7} {'ratio':>7}  target",
    ]
    for r in rows:
        if r.command == r.baseline:
            out.append(f"{r.command:<36} {r.ms:7.1f} {r.per_python:5.2f}x")
            continue
        verdict = f"{r.target} {r.verdict}" if r.target else ""
        out.append(
            f"{r.command:<36} {r.ms:7.1f} {r.per_python:5.2f}x  {r.baseline:<26} "
            f"{r.baseline_ms:7.1f} "
            f"{r.ratio:6.2f}x  {verdict}"
        )
    return "\n".join(out)


def interpreter(script: str) -> str:
    """The Python the console script runs on (its #! line): the fair `python -c pass`."""
    with open(script, "rb") as f:
        first = f.readline().decode(errors="replace")
    return first[2:].strip().split()[0] if first.startswith("#!") else sys.executable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (median)")
    parser.add_argument("--files", type=int, default=100, help="files in the repository")
    parser.add_argument(
        "--patchpack",
        default=shutil.which("patchpack"),
        help="the console script to time (default: patchpack on PATH)",
    )
    parser.add_argument(
        "--against",
        metavar="SCRIPT",
        help="another console script (a checkout from before a change) timed "
        "in the same rounds, its rows first",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    if not args.patchpack:
        sys.exit("no patchpack on PATH: `pip install -e .` first, or give --patchpack")
    python = interpreter(args.patchpack)
    rows = measure(args.runs, args.files, args.patchpack, python, args.against)
    if args.json:
        print(
            json.dumps(
                {
                    "runs": args.runs,
                    "files": args.files,
                    "patchpack": args.patchpack,
                    "python": python,
                    "rows": [asdict(r) for r in rows],
                },
                indent=1,
            )
        )
    else:
        print(render(rows, args.runs, args.files))


if __name__ == "__main__":
    main()
