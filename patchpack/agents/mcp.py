"""`patchpack mcp`: the workflow as the tools of a stdio Model Context Protocol server.

Each tool is a thin call into the core functions the CLI uses and returns structured JSON
with a short text. No text is longer than the configured output lines; every result carries
the budget line when a budget is over 70%; a PatchpackError comes back as a tool error with
the CLI's message, and the server goes on serving.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from patchpack import __version__
from patchpack.agents import loop as agents
from patchpack.agents import mcp_schemas as schemas
from patchpack.agents import status, workflow
from patchpack.config import Settings
from patchpack.context import parts
from patchpack.errors import BadInput, PatchpackError
from patchpack.git import Repo
from patchpack.ledger import budget as budgeting
from patchpack.ledger import store as ledger
from patchpack.limits import check as checking
from patchpack.limits.diffs import Limits
from patchpack.output import runner
from patchpack.queue import apply as applying
from patchpack.queue import changes, intake
from patchpack.queue import store as queue
from patchpack.tokens import get_counter

Result = tuple[str, dict[str, Any]]
"""What a tool body returns: a short text, and the structured result."""

# The bounds the CLI's options have (click.IntRange), in the tools' input schemas: the SDK
# refuses a call outside them as an error result, before the body runs.
Count = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(ge=1)]

INSTRUCTIONS = (
    "patchpack keeps an agent's changes small and its context cheap. Build context with "
    "`context` (the work diff, --grep hunks, exact ranges) instead of reading whole files; "
    "land changes as micro-patches (`queue_split`/`queue_add`, then `queue_next` and "
    "`queue_apply`); run commands and tests with `run`/`test` for capped output; watch "
    "`budget`/`status`. Spend is captured from the agent's own usage records: never "
    "estimate or report tokens yourself (`record` is for a wrapper that has the billed "
    "usage)."
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
    return "\n".join([*lines[:head], marker, *lines[len(lines) - tail :]])


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
        results = (
            checking.diff_text(diff, "diff", limits) if diff is not None else checking.staged(repo, limits)
        )
        return checking.render_text(results), json.loads(checking.render_json(results))

    def context(
        self,
        base: str | None = None,
        grep: list[str] | None = None,
        at: list[str] | None = None,
        path: list[str] | None = None,
        budget: Count | None = None,
        function_context: bool = False,
        fill: bool | None = None,
        tracked_only: bool = False,
    ) -> Result:
        """Build a context pack: the work diff against BASE (default HEAD; untracked files as
        new files unless tracked_only), the code around each GREP regex match (widened to its
        function), and AT ranges (FILE:START-END or FILE:SYMBOL), fitted to a token budget;
        with fill, what the budget leaves goes to the code around the GREP matches (headers,
        file ends, their classes, call trees, neighbours)."""
        repo, settings = self.open()
        pack = workflow.context(
            repo,
            settings,
            parts.Request(
                base=base,
                side="both",
                function_context=function_context,
                greps=tuple(grep or ()),
                paths=tuple(path or ()),
                ats=tuple(at or ()),
                budget=budget if budget is not None else settings.context_budget,
                max_file_lines=settings.max_file_lines,
                max_hunk_lines=settings.max_hunk_lines,
                related=settings.context_related,
                fill=settings.context_fill if fill is None else fill,
                untracked=not tracked_only,
            ),
            get_counter(settings.tokenizer),
            over_budget=False,
        )
        data = json.loads(pack.as_json())
        text = "\n".join(
            [
                pack.text.rstrip("\n"),
                *pack.notes,
                *pack.warnings(),
                f"context {pack.tokens} tokens ({pack.counter}) of budget {pack.budget}",
            ]
        )
        return text, data

    def queue_add(self, diff: str, title: str | None = None, split: bool = False) -> Result:
        """Put a change (a unified diff or format-patch mails, as text) on the micro-patch
        queue; with split, one over the limits is cut into micro-patches."""
        repo, settings = self.open_queue()
        added = intake.add(
            repo,
            text=diff,
            source="diff",
            title=title,
            split_big=split,
            limits=Limits(settings.max_files, settings.max_lines),
            tokenizer=settings.tokenizer,
        )
        return self._added(added)

    def queue_split(self, title: str | None = None, tracked_only: bool = False) -> Result:
        """Move the uncommitted changes of the work tree into the queue as micro-patches; the
        work tree goes back to HEAD (queue_undo gives it back). Untitled, each is titled by
        its files and lines."""
        repo, settings = self.open_queue()
        added = intake.split_worktree(
            repo,
            title=title,
            untracked=not tracked_only,
            limits=Limits(settings.max_files, settings.max_lines),
            tokenizer=settings.tokenizer,
        )
        return self._added(added)

    def queue_next(self) -> Result:
        """The next queued micro-patch: position, title, files and the diff apply will commit."""
        repo, settings = self.open_queue()
        found = queue.next_patch(repo, queue.load(repo))
        text = queue.render_next(found)
        if agents.cadence(repo, settings).reminder_due:
            text += "\n" + agents.reminder(settings)
        return text, json.loads(queue.next_json(found))

    def queue_apply(self, n: Positive = 1, all: bool = False) -> Result:
        """Commit the next N queued micro-patches (or all), the repository's commit hooks
        run as `git commit` runs them; stops at the first conflict or rejecting hook."""
        if n < 1:
            raise BadInput("n must be at least 1")
        repo, settings = self.open_queue()
        applied = workflow.apply(repo, settings, count=None if all else n, verify=True, over_budget=False)
        result = applied.result
        text = "\n".join(line for line in (applying.render(result), applied.reminder) if line)
        if result.failure is not None:
            raise ToolError(f"{text}\n{result.failure.render()}")
        return text, {
            "applied": [
                {
                    "position": a.position,
                    "title": a.title,
                    "commit": a.commit,
                    "files": list(a.files),
                    "diff_lines": a.lines,
                    "tokens": a.tokens,
                }
                for a in result.applied
            ],
            "remaining": result.remaining,
            "reminder": applied.reminder,
        }

    def queue_list(self) -> Result:
        """The series: position, state (applied/queued), title, files, diff lines, tokens."""
        repo, settings = self.open_queue()
        counter = get_counter(settings.tokenizer)
        rows = queue.listing(repo, queue.load(repo), counter)
        return queue.render_list(rows, counter.name), json.loads(queue.list_json(rows, counter.name))

    def queue_undo(self) -> Result:
        """Go back to the queue state before the last operation (a split gives the work tree
        back; an apply moves HEAD back)."""
        repo, _ = self.open_queue()
        state, op = changes.undo(repo)
        queued = len(state.queued())
        return (
            f"undid {op.kind}: {op.summary}; {queued} queued",
            {"undid": op.kind, "summary": op.summary, "queued": queued},
        )

    def open_queue(self) -> tuple[Repo, Settings]:
        repo, settings = self.open()
        return repo, settings

    def _added(self, added: intake.Added) -> Result:
        patches = [{"title": p.title, "files": list(p.files), "diff_lines": p.lines} for p in added.patches]
        queued = len(added.state.queued())
        text = "\n".join(
            [*(f"queued  {p.lines:>4} lines  {p.title}" for p in added.patches), f"{queued} queued"]
        )
        return text, {"queued": patches, "total_queued": queued}

    def run(self, command: list[str], lines: Positive | None = None) -> Result:
        """Run a command (argv list, no shell) with its output capped to LINES lines: the head
        and the tail, failure lines from the middle kept, the full log kept on disk."""
        if not command:
            raise BadInput("command must name a program")
        repo, _settings = self.open()
        return self._run(command, repo, Settings.load(repo.config_get, output_lines=lines))

    def test(self, args: list[str] | None = None) -> Result:
        """Run the test suite (`pytest -q --tb=short` plus ARGS, or patchpack.testCommand)
        with its output capped."""
        repo, settings = self.open()
        argv = runner.argv_for_tests(settings.test_command or runner.DEFAULT_TEST_COMMAND, args or ())
        return self._run(argv, repo, settings)

    def _run(self, argv: list[str], repo: Repo, settings: Settings) -> Result:
        output = io.BytesIO()  # one buffer for both streams keeps their order
        # stdin is the protocol's own pipe: the command must not read it.
        result = workflow.run(
            argv, repo, settings, head=None, stats=False, out=output, err=output, stdin=subprocess.DEVNULL
        )
        text = output.getvalue().decode("utf-8", "replace")
        return f"{text}exit code {result.exit_code}; full log: {result.log}", {
            "exit_code": result.exit_code,
            "run_id": result.run_id,
            "log": str(result.log),
            "lines": result.lines,
            "printed_lines": result.printed_lines,
            "timed_out": result.timed_out,
            "output": text,
        }

    def status(self, tracked_only: bool = False) -> Result:
        """One screen: branch, queue position, the next patch, the uncommitted change against
        the limits (untracked files included unless tracked_only), pending and today's spend,
        iterations until the truncation reminder."""
        repo, settings = self.open()
        found = status.read(repo, settings, untracked=not tracked_only)
        return status.render_text(found), found.as_dict()

    def record(
        self,
        tokens_in: Count,
        tokens_out: Count,
        model: str | None = None,
        agent: str | None = None,
        session: str | None = None,
        requests: Count = 1,
    ) -> Result:
        """Record an agent's billed usage (tokens in and out) in the ledger's pending spool;
        it joins the note of the next commit."""
        repo, _ = self.open()
        entry = ledger.add_pending(
            repo,
            kind="request",
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            counter="usage",
            model=model,
            agent=agent,
            session=session,
            requests=requests,
        )
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


_READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True)
# Adds to the queue or the ledger, takes nothing away.
_ADDS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
# Moves HEAD, the work tree or the queue; runs a command that may do anything.
_MOVES = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False)

TOOLS: dict[str, tuple[type, ToolAnnotations]] = {
    "check": (schemas.CheckResult, _READ),
    # context's one write is its own size, into the ledger's pending spool: bookkeeping, not
    # a change a client should ask the user about.
    "context": (schemas.ContextResult, _READ),
    "queue_add": (schemas.AddedResult, _ADDS),
    "queue_split": (schemas.AddedResult, _MOVES),  # the work tree goes back to HEAD
    "queue_next": (schemas.NextResult, _READ),
    "queue_apply": (schemas.ApplyResult, _MOVES),
    "queue_list": (schemas.ListResult, _READ),
    "queue_undo": (schemas.UndoResult, _MOVES),
    "run": (schemas.RunResult, _MOVES),
    "test": (schemas.RunResult, _MOVES),
    "record": (schemas.RecordResult, _ADDS),
    "budget": (schemas.BudgetResult, _READ),
    "status": (schemas.StatusResult, _READ),
}


def build_server(root: Path) -> MCPServer:
    """The server with every tool registered."""
    server: MCPServer = MCPServer("patchpack", version=__version__, instructions=INSTRUCTIONS)
    tools = Tools(root)
    for name, (shape, hints) in TOOLS.items():
        server.add_tool(_as_tool(tools, getattr(tools, name), shape), name=name, annotations=hints)
    return server


def _as_tool(tools: Tools, body: Callable[..., Result], shape: type) -> Callable[..., CallToolResult]:
    """Wrap a tool body: capped text, the budget line, errors as tool errors."""

    def call(**arguments: Any) -> CallToolResult:
        try:
            text, data = body(**arguments)
            repo, settings = tools.open()
            line = agents.line_for(repo, settings)
        except PatchpackError as e:
            raise ToolError(e.render()) from None
        if line:
            text, data = f"{text}\n{line}", {**data, "budget_line": line}
        text = cap_lines(text, settings.output_lines)
        data = _cap_strings(data, settings.output_lines)
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)

    # The SDK reads the tool's parameters and description from the signature and docstring
    # (evaluated: the bounds are in the annotations), and its outputSchema from the type after
    # CallToolResult, which it checks each result against.
    call.__signature__ = inspect.signature(body, eval_str=True).replace(  # type: ignore[attr-defined]
        return_annotation=Annotated[CallToolResult, shape]
    )
    call.__doc__ = body.__doc__
    call.__name__ = body.__name__
    return call


def _cap_strings(value: Any, limit: int) -> Any:
    """The structured result with every long string (a diff, a pack) capped like the text."""
    if isinstance(value, str):
        return cap_lines(value, limit)
    if isinstance(value, dict):
        return {k: _cap_strings(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_cap_strings(v, limit) for v in value]
    return value


def serve(repo: str | None) -> None:
    """Serve on stdin/stdout until the client goes away."""
    build_server(Path(repo or os.getcwd()).resolve()).run("stdio")
