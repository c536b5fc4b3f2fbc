"""How much `patchpack guard` adds to each agent tool call.

The guard runs before every Edit/Write/Bash/Read an agent makes, so its cost is paid on every
call. Baseline: `git diff HEAD --stat`, the cheapest look at the uncommitted change a hook could
take. Measured on a generated repository of FILES files with an uncommitted change, for the
decision alone (in-process) and for the installed command (a fresh process, as an agent runs it).

    python bench/guard_latency.py [FILES] [ROUNDS]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from patchpack.agents.guard import answer


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def timed(fn: Callable[[], object], rounds: int) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        git(root, "init", "-q")
        for i in range(files):
            sub = root / f"pkg{i % 50}"
            sub.mkdir(exist_ok=True)
            (sub / f"mod{i}.py").write_text("".join(f"def f{j}():\n    return {j}\n\n" for j in range(40)))
        git(root, "add", ".")
        git(root, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "base")
        target = root / "pkg1" / "mod1.py"
        target.write_text(target.read_text().replace("return 3\n", "return 3 + 0\n"))
        (root / "pkg2" / "new.py").write_text("x = 1\n")  # an untracked file
        edit = json.dumps(
            {
                "hook_event_name": "PreToolUse",
                "cwd": str(root),
                "tool_name": "Edit",
                "tool_input": {
                    "file_path": str(target),
                    "old_string": "return 5\n",
                    "new_string": "return 5 * 1\n",
                },
            }
        )
        bash = json.dumps(
            {
                "hook_event_name": "PreToolUse",
                "cwd": str(root),
                "tool_name": "Bash",
                "tool_input": {"command": "pytest -x"},
            }
        )
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

        def run(*args: str, input: str | None = None) -> None:
            subprocess.run(args, cwd=root, input=input, capture_output=True, text=True, env=env)

        baseline = timed(lambda: run("git", "diff", "HEAD", "--stat"), rounds)
        startup = timed(lambda: run(sys.executable, "-c", "pass"), rounds)
        edit_in = timed(lambda: answer(edit), rounds)
        bash_in = timed(lambda: answer(bash), rounds)
        edit_cmd = timed(lambda: run(sys.executable, "-m", "patchpack", "guard", input=edit), rounds)
        bash_cmd = timed(lambda: run(sys.executable, "-m", "patchpack", "guard", input=bash), rounds)
    print(f"repository: {files} files, median of {rounds} rounds")
    print(f"baseline `git diff HEAD --stat`:        {baseline:7.1f} ms")
    print(f"python startup (`python -c pass`):      {startup:7.1f} ms")
    print(f"guard Edit decision, in process:        {edit_in:7.1f} ms  ({edit_in / baseline:.2f}x baseline)")
    print(f"guard Bash decision, in process:        {bash_in:7.1f} ms  ({bash_in / baseline:.2f}x baseline)")
    print(
        f"`patchpack guard` Edit, fresh process:  {edit_cmd:7.1f} ms  ({edit_cmd / baseline:.2f}x baseline)"
    )
    print(
        f"`patchpack guard` Bash, fresh process:  {bash_cmd:7.1f} ms  ({bash_cmd / baseline:.2f}x baseline)"
    )


if __name__ == "__main__":
    main()
