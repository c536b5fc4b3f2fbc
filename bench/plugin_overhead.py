"""The Code Puppy plugin's added time per tool call, against Code Puppy without it (#18).

In the real Code Puppy (tests/clients/install.py's cached install), in a repository with a
small uncommitted change, fires each kind of tool call through Code Puppy's own callback
dispatch (code_puppy.callbacks.on_*) many times, once with patchpack importable (its plugin
loaded through the entry point, among Code Puppy's own plugins) and once without, and prints
the median time per call of each and their difference. For comparison: one run of
`patchpack guard`, the process Code Puppy's JSON hook engine spawns per call instead.

    python bench/plugin_overhead.py [--calls 200]

Target (issue 18): under 20 ms a call. A rewritten command runs through `patchpack run`, one
more process: its start-up is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from clients.install import code_puppy  # noqa: E402

INSIDE = r"""
import asyncio, json, statistics, sys, time; sys.path.extend(p for p in sys.argv[2].split(":") if p)
from code_puppy import callbacks
from code_puppy.plugins import load_plugin_callbacks
from code_puppy.tools.command_runner import ShellCommandOutput
from pydantic_ai.messages import ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart
loaded = load_plugin_callbacks()
calls = int(sys.argv[1])
history = [m for i in range(20) for m in (
    ModelResponse(parts=[ToolCallPart("shell", {"command": f"ls {i}"}, f"c{i}")]),
    ModelRequest(parts=[ToolReturnPart("shell", "x\n" * 50, f"c{i}")]))]
async def main():
    makers = {
        "create_file": lambda: callbacks.on_pre_tool_call(
            "create_file", {"file_path": "app.py", "content": "a = 1\nb = 2\n"}),
        "read_file": lambda: callbacks.on_pre_tool_call("read_file", {"file_path": "app.py"}),
        "shell": lambda: callbacks.on_run_shell_command(None, "ls -la", None, 60),
        "shell_output": lambda: callbacks.on_run_shell_command_output(ShellCommandOutput(
            success=True, command="ls", stdout="x\n" * 300, stderr="", exit_code=0)),
        "request": lambda: callbacks.on_transform_model_messages("code-puppy", list(history)),
    }
    result = {}
    for name, make in makers.items():
        spent = []
        for _ in range(calls):
            start = time.perf_counter(); await make(); spent.append(time.perf_counter() - start)
        result[name] = statistics.median(spent) * 1000
    return result
print(json.dumps({"patchpack": "patchpack" in loaded["builtin"], "ms": asyncio.run(main())}))
"""


def inside(python: Path, repo: Path, calls: int, *, beside: bool) -> dict[str, float]:
    paths = ":".join([str(ROOT), sysconfig.get_paths()["purelib"]]) if beside else ""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(python), "-c", INSIDE, str(calls), paths],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["patchpack"] is beside, out  # the plugin loaded, or not, as asked
    return dict(out["ms"])


def median_ms(command: list[str], cwd: Path, runs: int, stdin: str = "") -> float:
    spent = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, input=stdin, capture_output=True, text=True)
        spent.append(time.perf_counter() - start)
    return statistics.median(spent) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    python = code_puppy().python
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        # The calls are a run that never ends: with the provider's 50 requests a minute, pacing
        # would (rightly) hold the 51st request for the window. Time the work, not the wait.
        subprocess.run(
            ["git", "config", "patchpack.minuteRequests", str(10 * args.calls)], cwd=repo, check=True
        )
        (repo / "app.py").write_text("a = 1\n")
        without = inside(python, repo, args.calls, beside=False)
        with_plugin = inside(python, repo, args.calls, beside=True)
        event = json.dumps(
            {
                "hook_event_name": "PreToolUse",
                "tool_name": "create_file",
                "cwd": str(repo),
                "tool_input": {"file_path": "app.py", "content": "a = 1\nb = 2\n"},
            }
        )
        hook = median_ms([sys.executable, "-m", "patchpack", "guard"], repo, 15, event)
        run = median_ms([sys.executable, "-m", "patchpack", "run", "--", "true"], repo, 15)
        run -= median_ms(["true"], repo, 15)
    print(
        f"Code Puppy {python.parent.parent.name}, median of {args.calls} calls each (ms)\n"
        f"{'call':<14}{'without':>10}{'with':>10}{'added':>10}"
    )
    for name in without:
        added = with_plugin[name] - without[name]
        print(f"{name:<14}{without[name]:>10.2f}{with_plugin[name]:>10.2f}{added:>10.2f}")
    print(
        f"worst added per call: {max(with_plugin[n] - without[n] for n in without):.2f} ms "
        f"(target: under 20 ms)"
    )
    print(
        f"the JSON hook instead (`patchpack guard`, one process a call): {hook:.0f} ms\n"
        f"patchpack run start-up (a rewritten command, once): {run:.0f} ms"
    )


if __name__ == "__main__":
    main()
