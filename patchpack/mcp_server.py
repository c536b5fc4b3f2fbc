"""`patchpack mcp`: the workflow as the tools of a stdio Model Context Protocol server.

Each tool is a thin call into the core functions the CLI uses and returns structured JSON
with a short text. No text is longer than the configured output lines; every result carries
the budget line when a budget is over 70%; a PatchpackError comes back as a tool error with
the CLI's message, and the server goes on serving.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent

from patchpack import __version__, agents, ledger
from patchpack import budget as budgeting
from patchpack import check as checking
from patchpack import context as packing
from patchpack.config import Settings
from patchpack.diffs import Limits
from patchpack.errors import PatchpackError
from patchpack.git import Repo
from patchpack.tokens import get_counter

Result = tuple[str, dict[str, Any]]
"""What a tool body returns: a short text, and the structured result."""

INSTRUCTIONS = (
    "patchpack keeps an agent's changes small and its context cheap. Build context with "
    "`context` (the work diff, --grep hunks, exact ranges) instead of reading whole files; "
    "land changes as micro-patches (`queue_split`/`queue_add`, then `queue_next` and "
    "`queue_apply`); run commands and tests with `run`/`test` for capped output; report "
    "billed usage with `record` and watch `budget`/`status`."
)


def cap_lines(text: str, limit: int) -> str:
    """At most ``limit`` lines: the head and the tail, with one marker line between."""
    lines = text.splitlines()
    if len(lines) <= limit:
        return text
    if limit < 3:
        return "\n".join(lines[:limit])
    head = (limit - 1) // 4 or 1
    tail = limit - 1 - head
    marker = f"... {len(lines) - head - tail:,} lines omitted ..."
    return "\n".join([*lines[:head], marker, *lines[len(lines) - tail:]])


class Tools:
    """The tool bodies, acting on the repository the server was started for."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def open(self) -> tuple[Repo, Settings]:
        # Opened for every call: the repository and its config change under the server.
        repo = Repo.discover(self.root)
        return repo, Settings.load(repo.config_get)

    def check(self, diff: str | None = None) -> Result:
        """Judge the staged change, or the unified diff given as text, against the
        micro-patch limits (files and diff lines)."""
        repo, settings = self.open()
        limits = Limits(settings.max_files, settings.max_lines)
        results = (checking.diff_text(diff, "diff", limits) if diff is not None
                   else checking.staged(repo, limits))
        return checking.render_text(results), json.loads(checking.render_json(results))

    def context(self, base: str | None = None, grep: list[str] | None = None,
                at: list[str] | None = None, path: list[str] | None = None,
                budget: int | None = None, function_context: bool = False) -> Result:
        """Build a context pack: the work diff against BASE (default HEAD), the code around
        each GREP regex match (widened to its function), and AT ranges (FILE:START-END or
        FILE:SYMBOL), fitted to a token budget."""
        repo, settings = self.open()
        counter = get_counter(settings.tokenizer)
        agents.refuse_when_exhausted(agents.spend(repo, settings), over_budget=False)
        pack = packing.build(repo, packing.Request(
            base=base, side="both", function_context=function_context,
            greps=tuple(grep or ()), paths=tuple(path or ()), ats=tuple(at or ()),
            budget=budget if budget is not None else settings.context_budget,
            max_file_lines=settings.max_file_lines, max_hunk_lines=settings.max_hunk_lines,
        ), counter)
        ledger.add_pending(repo, kind="context", tokens_in=pack.tokens, counter=pack.counter)
        data = json.loads(pack.as_json())
        text = "\n".join([pack.text.rstrip("\n"), *pack.notes, *pack.warnings(),
                          f"context {pack.tokens} tokens ({pack.counter}) of budget "
                          f"{pack.budget}"])
        return text, data

    def record(self, tokens_in: int, tokens_out: int, model: str | None = None,
               agent: str | None = None, session: str | None = None,
               requests: int = 1) -> Result:
        """Record an agent's billed usage (tokens in and out) in the ledger's pending spool;
        it joins the note of the next commit."""
        repo, _ = self.open()
        entry = ledger.add_pending(repo, kind="request", tokens_in=tokens_in,
                                   tokens_out=tokens_out, counter="usage", model=model,
                                   agent=agent, session=session, requests=requests)
        return f"recorded {entry.tokens} tokens ({entry.id})", json.loads(entry.to_json())

    def budget(self, by: str = "day", since: str | None = None) -> Result:
        """Tokens spent per day, commit, agent, model or kind, and today's spend against the
        daily and per-minute limits."""
        if by not in budgeting.GROUPINGS:
            raise ToolError(f"by must be one of {', '.join(budgeting.GROUPINGS)}")
        repo, settings = self.open()
        report = budgeting.for_repo(repo, settings=settings, by=by, since=since)
        text = "\n".join([budgeting.render_text(report), *budgeting.problems(report)])
        return text, json.loads(budgeting.render_json(report))


def build_server(root: Path) -> MCPServer:
    """The server with every tool registered."""
    server: MCPServer = MCPServer("patchpack", version=__version__, instructions=INSTRUCTIONS)
    tools = Tools(root)
    for name in ("check", "context", "record", "budget"):
        server.add_tool(_as_tool(tools, getattr(tools, name)), name=name)
    return server


def _as_tool(tools: Tools, body: Callable[..., Result]) -> Callable[..., CallToolResult]:
    """Wrap a tool body: capped text, the budget line, errors as tool errors."""

    def call(**arguments: Any) -> CallToolResult:
        try:
            text, data = body(**arguments)
            repo, settings = tools.open()
            line = agents.budget_line(agents.spend(repo, settings), counter=settings.tokenizer)
        except PatchpackError as e:
            raise ToolError(e.render()) from None
        if line:
            text, data = f"{text}\n{line}", {**data, "budget_line": line}
        text = cap_lines(text, settings.output_lines)
        return CallToolResult(content=[TextContent(type="text", text=text)],
                              structured_content=data)

    # The SDK reads the tool's parameters and description from the signature and docstring.
    call.__signature__ = inspect.signature(body).replace(  # type: ignore[attr-defined]
        return_annotation=CallToolResult)
    call.__doc__ = body.__doc__
    call.__name__ = body.__name__
    return call


def serve(repo: str | None) -> None:
    """Serve on stdin/stdout until the client goes away."""
    build_server(Path(repo or os.getcwd()).resolve()).run("stdio")
