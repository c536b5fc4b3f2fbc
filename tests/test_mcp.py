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
    env = {
        name: value for name, value in os.environ.items() if name.startswith(("GIT_", "HOME", "PATH", "XDG_"))
    }
    env["PYTHONPATH"] = str(ROOT)
    return StdioServerParameters(
        command=sys.executable, args=["-m", "patchpack", "mcp"], cwd=str(repo), env=env
    )


def drive(repo: Path, calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[Any]]:
    """List the tools, then make ``calls`` in order on one server; return names and results."""

    async def session() -> tuple[list[str], list[Any]]:
        async with stdio_client(serve_params(repo)) as (read, write_), ClientSession(read, write_) as client:
            await client.initialize()
            names = [t.name for t in (await client.list_tools()).tools]
            results = [await client.call_tool(name, args) for name, args in calls]
            return names, results

    return anyio.run(session)


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content)


def test_tools_listed_and_check_context_budget(committed):
    sub = "\n\ndef sub(a, b):\n    return a - b\n"
    write(committed / "app.py", "def add(a, b):\n    return a + b\n" + sub)
    git(committed, "add", "app.py")
    git(committed, "commit", "-qm", "app")
    write(committed / "app.py", "def add(a, b):\n    return b + a\n" + sub)
    git(committed, "add", "app.py")
    names, (check, context, filled, record, budget) = drive(
        committed,
        [
            ("check", {}),
            ("context", {"grep": ["def add"]}),
            ("context", {"grep": ["def add"], "fill": True}),
            ("record", {"tokens_in": 1200, "tokens_out": 300, "agent": "pack-leader"}),
            ("budget", {"by": "kind"}),
        ],
    )
    assert {"check", "context", "record", "budget"} <= set(names)
    assert not check.is_error and check.structured_content["ok"] is True
    assert "files: 1 / 2  ok" in text(check)
    assert not context.is_error and "return b + a" in text(context)
    assert context.structured_content["tokens"] > 0
    assert "## widened" not in text(context) and "## widened" in text(filled)
    assert record.structured_content["in"] == 1200
    kinds = {g["key"]: g for g in budget.structured_content["groups"]}
    assert budget.structured_content["pending"]["tokens"] >= 1500
    assert not kinds  # nothing is attached to a commit yet


def test_errors_are_tool_errors_and_the_server_keeps_serving(committed):
    _, (bad, good, unknown_by) = drive(
        committed,
        [
            ("check", {"diff": "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n-one\n"}),
            ("check", {}),
            ("budget", {"by": "planet"}),
        ],
    )
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


def test_queue_flow_and_an_empty_queue_error(committed):
    for i in range(3):
        write(committed / f"mod{i}.py", "".join(f"x{j} = {j}\n" for j in range(60)))
    patch = git(committed, "diff", "--no-index", "/dev/null", "mod0.py", check=False)
    (committed / "mod0.py").unlink()
    names, results = drive(
        committed,
        [
            ("queue_add", {"diff": patch, "title": "Add mod0"}),
            ("queue_split", {"title": "Two modules"}),
            ("queue_list", {}),
            ("queue_next", {}),
            ("queue_apply", {"all": True}),
            ("queue_apply", {}),
            ("queue_undo", {}),
            ("budget", {"by": "kind"}),
            ("status", {}),
        ],
    )
    add, split, listing, nxt, apply_all, empty, undo, budget, state = results
    assert {"queue_add", "queue_split", "queue_next", "queue_apply", "queue_list", "queue_undo"} <= set(names)
    assert not add.is_error, text(add)
    assert add.structured_content["total_queued"] == 1
    assert split.structured_content["total_queued"] == 3
    assert [row["state"] for row in listing.structured_content["patches"]] == ["queued"] * 3
    assert nxt.structured_content["position"] == 1 and "+x0 = 0" in nxt.structured_content["diff"]
    assert not apply_all.is_error and apply_all.structured_content["remaining"] == 0
    assert len(apply_all.structured_content["applied"]) == 3
    assert empty.is_error and "queue" in text(empty)  # nothing left: an error, not a crash
    assert not undo.is_error and undo.structured_content["undid"] == "apply"
    assert not budget.is_error
    assert not state.is_error
    assert (state.structured_content["queue"]["applied"], state.structured_content["queue"]["total"]) == (
        2,
        3,
    )
    # each applied patch is a queue state of its own: undo takes back the last one
    assert git(committed, "log", "--format=%s").splitlines() == [
        "Two modules (1/2): mod1.py",
        "Add mod0",
        "initial",
    ]


def test_integrate_registers_the_server_and_merges(committed, cli):
    import json
    from pathlib import Path

    # Where Code Puppy reads it: conftest sets XDG_CONFIG_HOME.
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "code_puppy"
    servers = write(
        config / "mcp_servers.json", json.dumps({"mcp_servers": {"other": {"type": "stdio", "command": "x"}}})
    )
    r = cli("integrate", "code-puppy", "--mcp")
    assert r.exit_code == 0, r.stderr
    registered = json.loads(servers.read_text())["mcp_servers"]
    assert registered["other"] == {"type": "stdio", "command": "x"}
    assert registered["patchpack"] == {"type": "stdio", "command": "patchpack", "args": ["mcp"]}
    agent = json.loads(
        (committed / ".code_puppy" / "agents" / "pack-leader-token-efficient.json").read_text()
    )
    assert agent["mcp_servers"] == ["patchpack"]

    write(committed / ".mcp.json", json.dumps({"mcpServers": {"db": {"command": "db"}}}))
    assert cli("integrate", "claude-code", "--mcp").exit_code == 0
    project = json.loads((committed / ".mcp.json").read_text())["mcpServers"]
    assert set(project) == {"db", "patchpack"} and project["patchpack"]["args"] == ["mcp"]
    again = cli("integrate", "claude-code", "--mcp")
    assert again.stdout.startswith(f"unchanged {committed / '.mcp.json'}")


def test_run_and_test_are_capped(committed):
    write(committed / "test_one.py", "def test_one():\n    assert 1 + 1 == 2\n")
    _, (run, failing, tests) = drive(
        committed,
        [
            ("run", {"command": [sys.executable, "-c", "for i in range(5000): print(i)"], "lines": 20}),
            ("run", {"command": [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]}),
            ("test", {"args": ["test_one.py"]}),
        ],
    )
    assert not run.is_error and run.structured_content["exit_code"] == 0
    assert run.structured_content["lines"] == 5000
    assert len(text(run).splitlines()) == 22  # 20 lines, the marker between, the exit line
    assert "lines omitted" in text(run) and "4999" in text(run)
    assert failing.structured_content["exit_code"] == 3 and "boom" in text(failing)
    assert tests.structured_content["exit_code"] == 0 and "1 passed" in text(tests)


def test_queue_split_sees_a_same_size_edit_with_stale_stat_data(committed):
    # The edit keeps the size and the mtime the index recorded, and the index is as old as
    # the file (both written within one second): only git's racy-clean check sees it.
    readme, index = committed / "README.md", committed / ".git" / "index"
    stamp = readme.stat().st_mtime_ns
    os.utime(index, ns=(stamp, stamp))
    write(readme, "# TEST\n")
    os.utime(readme, ns=(stamp, stamp))
    _, (split,) = drive(committed, [("queue_split", {})])
    assert not split.is_error, text(split)
    assert split.structured_content["total_queued"] == 1
    assert (committed / "README.md").read_text() == "# test\n"  # moved into the queue


READ_ONLY = {"check", "context", "queue_next", "queue_list", "status", "budget"}
MOVES_HEAD_OR_QUEUE = {"queue_split", "queue_apply", "queue_undo"}


def test_tools_declare_hints_and_results_match_their_output_schema(committed):
    import jsonschema

    write(committed / "app.py", "def add(a, b):\n    return a + b\n")
    write(committed / "test_app.py", "def test_one():\n    assert True\n")
    calls: list[tuple[str, dict[str, Any]]] = [
        ("check", {}),
        ("context", {"grep": ["def add"]}),
        ("status", {}),
        ("record", {"tokens_in": 10, "tokens_out": 2, "model": "m", "agent": "a"}),
        ("budget", {"by": "kind"}),
        ("queue_split", {}),
        ("queue_list", {}),
        ("queue_next", {}),
        ("queue_apply", {}),
        ("budget", {"by": "commit"}),
        ("queue_undo", {}),
        ("run", {"command": ["git", "status", "--short"]}),
        ("test", {"args": ["test_app.py"]}),
        ("queue_add", {"diff": "--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# test\n+# x\n"}),
    ]

    async def session() -> tuple[list[Any], list[Any]]:
        async with (
            stdio_client(serve_params(committed)) as (read, write_),
            ClientSession(read, write_) as client,
        ):
            await client.initialize()
            tools = (await client.list_tools()).tools
            return tools, [await client.call_tool(name, args) for name, args in calls]

    tools, results = anyio.run(session)
    by_name = {t.name: t for t in tools}
    for tool in tools:
        hints = tool.annotations
        assert hints is not None and tool.output_schema is not None, tool.name
        assert hints.read_only_hint is (tool.name in READ_ONLY), tool.name
        if tool.name in READ_ONLY:
            assert hints.idempotent_hint is True, tool.name
        else:
            assert hints.idempotent_hint is False, tool.name
            assert hints.destructive_hint is not None, tool.name
        if tool.name in MOVES_HEAD_OR_QUEUE:
            assert hints.destructive_hint is True, tool.name
    assert by_name["queue_add"].annotations.destructive_hint is False  # it only appends
    assert by_name["record"].annotations.destructive_hint is False
    assert {name for name, _ in calls} == set(by_name)  # every tool is called below
    for (name, _), result in zip(calls, results):
        assert not result.is_error, (name, text(result))
        jsonschema.validate(result.structured_content, by_name[name].output_schema)


@pytest.mark.parametrize(
    "call",
    [
        ("context", {"budget": -1}),
        ("record", {"tokens_in": -5, "tokens_out": 1}),
        ("run", {"command": ["true"], "lines": 0}),
        ("queue_apply", {"n": 0}),
    ],
)
def test_a_negative_budget_or_count_is_an_error_result_and_records_nothing(committed, call):
    pending = committed / ".git" / "patchpack" / "pending.jsonl"
    names, (result,) = drive(committed, [call])
    assert result.is_error and call[0] in names
    assert any(name in text(result) for name in call[1])  # names the argument it refuses
    assert not pending.exists() or "context" not in pending.read_text()
    assert git(committed, "status", "--short") == ""


def test_context_refuses_the_git_directory(committed):
    git(committed, "remote", "add", "origin", "https://user:s3cret@example.com/x.git")
    _, (config, linked, good) = drive(
        committed,
        [
            ("context", {"at": [".git/config"]}),
            ("context", {"at": ["README.md:1-1", "./.git/../.git/config:1-9"]}),
            ("context", {"at": ["README.md"]}),
        ],
    )
    for refused in (config, linked):
        assert refused.is_error and "s3cret" not in text(refused)
        assert "inside the git directory" in text(refused)
    assert not good.is_error and "# test" in text(good)


def test_context_and_status_show_untracked_files_unless_tracked_only(committed):
    write(committed / "new.py", "def fresh():\n    return 1\n")
    _, (pack, tracked, state, tracked_state) = drive(
        committed,
        [
            ("context", {}),
            ("context", {"tracked_only": True}),
            ("status", {}),
            ("status", {"tracked_only": True}),
        ],
    )
    assert not pack.is_error and "new file mode 100644" in text(pack)
    assert "+def fresh():" in text(pack)
    assert not tracked.is_error and "new.py" not in text(tracked)
    assert state.structured_content["uncommitted"]["files"]["count"] == 1
    assert tracked_state.structured_content["uncommitted"]["files"]["count"] == 0
    assert git(committed, "status", "--porcelain") == "?? new.py\n"


def test_the_server_never_asks_the_model_to_report_its_tokens():
    from patchpack.agents.mcp import INSTRUCTIONS

    # A model cannot know its token counts: spend is captured from the agent's usage (#17).
    assert "report billed usage" not in INSTRUCTIONS
    assert "never estimate or report tokens yourself" in INSTRUCTIONS
