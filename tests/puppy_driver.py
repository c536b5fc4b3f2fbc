"""Run inside the real Code Puppy's interpreter by tests/test_puppy_real.py: load the plugins
through Code Puppy's own loader, fire one scenario's callbacks through Code Puppy's own
callback machinery (code_puppy.callbacks.on_*) with real arguments (its own ShellCommandOutput,
pydantic-ai's messages), and print what came back as JSON on stdout.

Usage: python puppy_driver.py STEPS.json: a list of {"scenario", "args", "cwd"}, run in order
in one process (importing Code Puppy takes 10-30 s: once for all). The directories patchpack and
its dependencies are in come in PATCHPACK_TEST_PATHS (after Code Puppy's own).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

sys.path.extend(p for p in os.environ["PATCHPACK_TEST_PATHS"].split(os.pathsep) if p)

from code_puppy import callbacks
from code_puppy.plugins import load_plugin_callbacks


def owners() -> dict[str, list[str | None]]:
    return {
        phase: [callbacks.get_callback_owner(f) for f in callbacks.get_callbacks(phase)]
        for phase in (
            "run_shell_command",
            "run_shell_command_output",
            "pre_tool_call",
            "transform_model_messages",
            "model_select",
            "agent_run_start",
            "agent_run_context",
            "agent_run_end",
        )
    }


async def shell(args: dict[str, Any]) -> Any:
    from code_puppy.tools.command_runner import ShellCommandOutput

    rewrites = await callbacks.on_run_shell_command(None, args["command"], None, 60)
    out = ShellCommandOutput(
        success=True, command=args["command"], stdout=args["stdout"], stderr="", exit_code=0
    )
    await callbacks.on_run_shell_command_output(out)
    return {"rewrites": rewrites, "stdout": out.stdout}


async def tool(args: dict[str, Any]) -> Any:
    tool_args = args["args"]
    results = await callbacks.on_pre_tool_call(args["tool"], tool_args)
    return {"results": results, "args": tool_args}


async def history(args: dict[str, Any]) -> Any:
    import pydantic_ai.messages as pm

    messages: list[Any] = [
        pm.ModelRequest(parts=[pm.SystemPromptPart("be brief"), pm.UserPromptPart("fix it")])
    ]
    for i in range(args["outputs"]):
        messages.append(
            pm.ModelResponse(
                parts=[pm.ToolCallPart("agent_run_shell_command", {"command": f"cat part{i}"}, f"call{i}")]
            )
        )
        messages.append(
            pm.ModelRequest(
                parts=[pm.ToolReturnPart("agent_run_shell_command", f"output {i}\n" * 3, f"call{i}")]
            )
        )
    sent = []
    for iterations in args["iterations"]:
        os.makedirs(".git/patchpack", exist_ok=True)
        with open(".git/patchpack/iterations", "w") as f:
            f.write(f"{iterations}\n")
        outbound = list(messages)
        await callbacks.on_transform_model_messages("code-puppy", outbound)
        sent.append([[getattr(p, "content", None) for p in m.parts] for m in outbound])
    kept = [[getattr(p, "content", None) for p in m.parts] for m in messages]
    return {"sent": sent, "history": kept}


async def located(args: dict[str, Any]) -> Any:
    """A request whose history holds a prompt and a shell output, then a whole read."""
    import pydantic_ai.messages as pm

    messages: list[Any] = [
        pm.ModelRequest(parts=[pm.UserPromptPart(args["prompt"])]),
        pm.ModelResponse(parts=[pm.ToolCallPart("shell", {"command": "pytest -q"}, "t1")]),
        pm.ModelRequest(parts=[pm.ToolReturnPart("shell", args["output"], "t1")]),
    ]
    await callbacks.on_transform_model_messages("code-puppy", messages)
    return await tool({"tool": "read_file", "args": {"file_path": args["file"]}})


async def run(args: dict[str, Any]) -> Any:
    chosen = callbacks.on_model_select(
        agent_name=args["agent"],
        current_model="zai-glm-4.7",
        prompt=args["prompt"],
        messages=[],
        session_id="run-1",
    )
    agent = type("Agent", (), {"name": args["agent"]})()
    stops = []
    for context in callbacks.on_agent_run_context(agent, None, "run-1", []):
        try:
            async with context:
                pass
        except Exception as e:
            stops.append(f"{type(e).__name__}: {e}")
    await callbacks.on_agent_run_start(args["agent"], chosen, "run-1")
    for _ in range(args["requests"]):
        await callbacks.on_transform_model_messages(args["agent"], [])
    await callbacks.on_agent_run_end(
        args["agent"], chosen or "zai-glm-4.7", "run-1", True, None, "done", args["metadata"]
    )
    return {"model": chosen, "stops": stops}


async def git(args: dict[str, Any]) -> Any:
    return subprocess.run(["git", *args["args"]], check=True, capture_output=True).returncode


SCENARIOS = {"shell": shell, "tool": tool, "history": history, "run": run, "git": git, "located": located}


def main() -> None:
    loaded = load_plugin_callbacks()
    results = []
    with open(sys.argv[1]) as f:
        steps = json.load(f)
    for step in steps:
        os.chdir(step["cwd"])
        results.append(asyncio.run(SCENARIOS[step["scenario"]](step.get("args", {}))))
    print(json.dumps({"loaded": loaded, "owners": owners(), "results": results}, default=str))


if __name__ == "__main__":
    main()
