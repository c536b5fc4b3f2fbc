"""`patchpack mcp` end to end: the real server as a subprocess, driven by the SDK's client."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT, git, lines, write

mcp = pytest.importorskip("mcp", reason="the `mcp` extra is not installed")
anyio = pytest.importorskip("anyio")

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402


def serve_params(repo: Path) -> StdioServerParameters:
    env = {name: value for name, value in os.environ.items()
           if name.startswith(("GIT_", "HOME", "PATH", "XDG_"))}
    env["PYTHONPATH"] = str(ROOT)
    return StdioServerParameters(command=sys.executable, args=["-m", "patchpack", "mcp"],
                                 cwd=str(repo), env=env)


def drive(repo: Path, calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[Any]]:
    """List the tools, then make ``calls`` in order on one server; return names and results."""
    async def session() -> tuple[list[str], list[Any]]:
        async with stdio_client(serve_params(repo)) as (read, write_), \
                ClientSession(read, write_) as client:
            await client.initialize()
            names = [t.name for t in (await client.list_tools()).tools]
            results = [await client.call_tool(name, args) for name, args in calls]
            return names, results

    return anyio.run(session)


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content)


def test_tools_listed_and_check_context_budget(committed):
    write(committed / "app.py", "def add(a, b):\n    return a + b\n")
    git(committed, "add", "app.py")
    git(committed, "commit", "-qm", "app")
    write(committed / "app.py", "def add(a, b):\n    return b + a\n")
    git(committed, "add", "app.py")
    names, (check, context, record, budget) = drive(committed, [
        ("check", {}),
        ("context", {"grep": ["def add"]}),
        ("record", {"tokens_in": 1200, "tokens_out": 300, "agent": "pack-leader"}),
        ("budget", {"by": "kind"}),
    ])
    assert {"check", "context", "record", "budget"} <= set(names)
    assert not check.is_error and check.structured_content["ok"] is True
    assert "files: 1 / 2  ok" in text(check)
    assert not context.is_error and "return b + a" in text(context)
    assert context.structured_content["tokens"] > 0
    assert record.structured_content["in"] == 1200
    kinds = {g["key"]: g for g in budget.structured_content["groups"]}
    assert budget.structured_content["pending"]["tokens"] >= 1500
    assert not kinds  # nothing is attached to a commit yet


def test_errors_are_tool_errors_and_the_server_keeps_serving(committed):
    _, (bad, good, unknown_by) = drive(committed, [
        ("check", {"diff": "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n-one\n"}),
        ("check", {}),
        ("budget", {"by": "planet"}),
    ])
    assert bad.is_error and "malformed diff" in text(bad)
    assert not good.is_error
    assert unknown_by.is_error


def test_output_is_capped_to_the_output_lines(committed):
    git(committed, "config", "patchpack.outputLines", "20")
    write(committed / "big.txt", lines(300))
    git(committed, "add", "big.txt")
    _, (context,) = drive(committed, [("context", {})])
    shown = text(context).splitlines()
    assert len(shown) <= 20 and any("lines omitted" in line for line in shown)
