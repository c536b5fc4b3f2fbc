"""The agent workflow: the truncation cadence, the budget line, the prompt, agent profiles.

**Iteration.** One successful `patchpack apply`: a command that committed at least one
micro-patch, however many (`apply --all` is one iteration). The cadence is about the length of
the agent's conversation, which grows by one tool call per command it runs, not by the number
of commits that command made. The counter lives in the git dir of the current worktree
(``<git dir>/patchpack/iterations``), so each worktree, and each agent working in one, keeps
its own count.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchpack.config import Settings, git_key
from patchpack.errors import BadInput, Failed
from patchpack.files import write_atomically
from patchpack.git import QueueGit, Repo
from patchpack.text import counted

ITERATIONS = Path("patchpack", "iterations")

# -- cadence ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cadence:
    """How many iterations this worktree has seen, and when the next reminder comes."""

    iterations: int
    every: int
    """A reminder every this many iterations; 0 means never."""

    @property
    def until_reminder(self) -> int | None:
        """Iterations left until the next reminder (None when reminders are off)."""
        return self.every - self.iterations % self.every if self.every else None

    @property
    def reminder_due(self) -> bool:
        """The last iteration was a reminder's: `next` repeats it until the next `apply`."""
        return bool(self.every and self.iterations and self.iterations % self.every == 0)

    def as_dict(self) -> dict[str, int | bool | None]:
        return {"iterations": self.iterations, "every": self.every,
                "until_reminder": self.until_reminder, "reminder_due": self.reminder_due}


def reminder(settings: Settings) -> str:
    """The reminder line, e.g. ``reminder: run /truncate 6 to keep the history short``."""
    try:
        command = settings.truncate_command.format(keep=settings.truncate_keep)
    except (KeyError, IndexError, ValueError) as e:
        raise BadInput(
            f"{git_key('truncate_command')}: cannot fill in {settings.truncate_command!r} ({e})",
            hint=f"use {{keep}} for the number, e.g. "
                 f"`git config {git_key('truncate_command')} '/truncate {{keep}}'`",
        ) from None
    return f"reminder: run {command} to keep the history short"


def cadence(repo: Repo, settings: Settings) -> Cadence:
    """The cadence state of this worktree, for `patchpack status`."""
    return Cadence(_read_count(repo.git_dir / ITERATIONS), settings.truncate_every)


def count_iteration(repo: Repo, settings: Settings) -> str | None:
    """Record one iteration; return the reminder line when one is due, else None.

    Call it once per `apply` that committed something (see the module docstring).
    """
    line = reminder(settings)  # a bad truncateCommand fails before anything is written
    path = repo.git_dir / ITERATIONS
    count = _read_count(path) + 1
    write_atomically(path, f"{count}\n".encode())
    every = settings.truncate_every
    return line if every and count % every == 0 else None


def _read_count(path: Path) -> int:
    try:
        return max(0, int(path.read_text().strip() or 0))
    except FileNotFoundError:
        return 0
    except ValueError:
        return 0  # a damaged counter restarts; it paces reminders, it is not a record


# -- budget guard -----------------------------------------------------------------------------

WARN_AT = 0.70


@dataclass(frozen=True)
class Budget:
    """One budget and how much of it is used."""

    kind: str
    """``context``, ``daily``, ``minute`` or ``agent``."""
    name: str
    """How the line names it: ``context``, ``daily``, ``per-minute requests``, ``agent X``."""
    used: int
    limit: int
    unit: str = "tokens"
    reset_in: int | None = None
    """Seconds until the per-minute window has room again."""

    @property
    def share(self) -> float:
        return self.used / self.limit if self.limit > 0 else 0.0

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exhausted(self) -> bool:
        return self.limit > 0 and self.used >= self.limit


def budgets(settings: Settings, *, context_tokens: int | None = None,
            day_tokens: int | None = None, minute_tokens: int | None = None,
            minute_requests: int | None = None, minute_reset_in: int | None = None,
            agents: Mapping[str, tuple[int, int]] | None = None) -> list[Budget]:
    """The budgets of ``settings`` with the figures given (a figure left None is skipped).

    ``agents`` maps an agent's name to (tokens it used today, its daily budget).
    """
    out = []
    if context_tokens is not None:
        out.append(Budget("context", "context", context_tokens, settings.context_budget))
    if day_tokens is not None:
        out.append(Budget("daily", "daily", day_tokens, settings.daily_budget))
    if minute_tokens is not None:
        out.append(Budget("minute", "per-minute", minute_tokens, settings.minute_tokens,
                          reset_in=minute_reset_in))
    if minute_requests is not None:
        out.append(Budget("minute", "per-minute requests", minute_requests,
                          settings.minute_requests, unit="requests", reset_in=minute_reset_in))
    for name, (used, limit) in sorted((agents or {}).items()):
        out.append(Budget("agent", f"agent {name}", used, limit))
    return out


def spend(repo: Repo, settings: Settings, *, context_tokens: int | None = None) -> list[Budget]:
    """Every budget with what the ledger (notes and pending spool) says is spent on it."""
    from patchpack import budget

    report = budget.for_repo(repo, settings=settings)
    return budgets(settings, context_tokens=context_tokens, **budget.figures(report))


def budget_line(budgets: Iterable[Budget], *, counter: str) -> str | None:
    """One line of budget state and what to do, when any budget is over 70%; else None.

    ``counter`` is the name of the token counter that made the figures.
    """
    hot = sorted((b for b in budgets if b.limit > 0 and b.share > WARN_AT),
                 key=lambda b: b.share, reverse=True)
    if not hot:
        return None
    parts = [f"{b.name} {b.used:,}/{b.limit:,} {b.unit} ({b.share:.0%}, {b.left:,} left)"
             for b in hot]
    return f"budget: {'; '.join(parts)} [{counter}]; next: {_action(hot[0])}"


def _action(worst: Budget) -> str:
    if worst.kind == "minute":
        return f"wait {worst.reset_in if worst.reset_in is not None else 60} s " \
               f"for the per-minute window"
    if worst.kind == "context":
        return "narrow the request (`patchpack context --grep`/`--at`, a smaller --budget) " \
               "or /compact"
    if worst.exhausted:
        return "stop: land what you have (`patchpack apply --all`) and report; " \
               "`--over-budget` overrides"
    return "/compact, keep requests small, and land what you have before starting more"


def exhausted(budgets: Iterable[Budget]) -> list[Budget]:
    """The daily and per-agent budgets that are used up (the ones that make commands refuse)."""
    return [b for b in budgets if b.kind in ("daily", "agent") and b.exhausted]


def refuse_when_exhausted(budgets: Iterable[Budget], *, over_budget: bool) -> None:
    """Raise Failed (exit 1) when a daily or per-agent budget is used up, unless overridden."""
    spent = exhausted(budgets)
    if spent and not over_budget:
        what = ", ".join(f"{b.name} {b.used:,}/{b.limit:,} {b.unit}" for b in spent)
        raise Failed(f"over budget: {what}",
                     hint="see `patchpack budget`; pass --over-budget to go on anyway")


# -- prompt -----------------------------------------------------------------------------------

_PROMPT = """\
You work in a git repository managed by patchpack. Every token you read or write is paid for:
follow this workflow exactly and keep your answers short.

Context (read diffs and located code, never whole files)
- `patchpack status`: where you are (queue position, uncommitted size, spend, cadence).
- `patchpack context`: the diff of your work, fitted to {context_budget:,} tokens.
- `patchpack context --grep PATTERN`: the matching code with its enclosing function.
- `patchpack context --at FILE:START-END` (or `--at FILE:SYMBOL`): exact lines.
- Never read a whole file over {max_file_lines} lines; ask for the part you need.

Output (at most {output_lines} lines)
- Run the tests with `patchpack test [ARGS]` ({test_runner}, capped at {output_lines} lines).
- Run any other noisy command as `patchpack run -- CMD ARGS`; never print more than
  {output_lines} lines. The full log is kept: `patchpack run --show ID --at START-END`.

Micro-patches (at most {max_files} and {max_lines} diff lines each)
- Keep your uncommitted change within {max_files} and {max_lines} diff lines, and commit
  each small step. An edit that would go past that is refused.
- When the change has grown bigger: `patchpack split` queues it as micro-patches,
  `patchpack next` shows the next one, `patchpack apply` commits it through the hooks
  (`patchpack apply --all` commits the whole queue).

Cadence
{cadence}

Budget (daily {daily_budget:,} tokens; {minute_tokens:,} tokens and {minute_requests} requests per minute)
- Report your spend after each request: `patchpack record --in N --out M --model MODEL --agent NAME`.
- `patchpack budget` shows spend against these limits.
- When a command prints a `budget:` line, do what it says: narrow the request, /compact, or
  wait for the per-minute window. Over the daily budget `context` and `apply` refuse: stop,
  land what you have, and report.

The loop
1. `patchpack status`
2. `patchpack context --grep ...` or `--at ...`
3. make one small edit
4. `patchpack test ...`
5. commit, or `patchpack split && patchpack apply --all`
6. repeat
"""


def prompt(settings: Settings) -> str:
    """The token-economy instructions for an agent, with the configured numbers filled in."""
    return _PROMPT.format(
        context_budget=settings.context_budget,
        max_file_lines=settings.max_file_lines,
        output_lines=settings.output_lines,
        test_runner=settings.test_command or "pytest -q --tb=short",
        max_files=counted(settings.max_files, "file"),
        max_lines=settings.max_lines,
        cadence=_cadence_text(settings),
        daily_budget=settings.daily_budget,
        minute_tokens=settings.minute_tokens,
        minute_requests=settings.minute_requests,
    )


def _cadence_text(settings: Settings) -> str:
    if not settings.truncate_every:
        return "- An iteration is one `patchpack apply`. No truncation reminders are configured."
    return (f"- An iteration is one `patchpack apply`. Every {settings.truncate_every} "
            f"iterations `next` and `apply` print:\n  {reminder(settings)}\n"
            f"  When you see it, stop and say so in one line, so that the history is cut "
            f"before you go on.")


# -- agent profiles ---------------------------------------------------------------------------

CODE_PUPPY_AGENT = "pack-leader-token-efficient"
SET_UP_FILES = frozenset({".claude/settings.json", ".mcp.json",
                          f".code_puppy/agents/{CODE_PUPPY_AGENT}.json",
                          ".code_puppy/agents/pack-leader-cerebras-efficient.json"})
"""What `integrate` writes into a project: the guard leaves them out of the uncommitted change
it measures, so that setting up does not use up the agent's first micro-patch."""
# Code Puppy's own tool names (code_puppy/tools/__init__.py TOOL_REGISTRY): enough to read,
# search, edit and run commands; no browser or sub-agents, which only add tokens.
CODE_PUPPY_TOOLS = ("list_files", "read_file", "grep", "edit_file", "delete_file",
                    "agent_run_shell_command", "agent_share_your_reasoning")
GUARD_COMMAND = "patchpack guard"
# Claude Code's tool names, then Code Puppy's (its hook engine reads .claude/settings.json
# too and matches a `|` list against its own names). No "timeout": Claude Code reads it in
# seconds and Code Puppy in milliseconds, so any value is wrong for one of them.
GUARD_MATCHER = ("Edit|Write|MultiEdit|Bash|Read|"
                 "edit_file|create_file|replace_in_file|delete_snippet|agent_run_shell_command|"
                 "read_file")


@dataclass(frozen=True)
class Integration:
    path: Path
    text: str
    changed: bool
    """False when the file already held exactly this."""


def code_puppy_agent(settings: Settings, *, model: str | None = None,
                     mcp: bool = False) -> dict[str, Any]:
    """The Code Puppy JSON agent: name, display_name, description, system_prompt, tools."""
    agent: dict[str, Any] = {
        "name": CODE_PUPPY_AGENT,
        "display_name": "Pack Leader (token-efficient)",
        "description": "Diff-driven, budget-aware coding agent: micro-patches, capped output "
                       "and a token ledger kept by patchpack.",
        "system_prompt": prompt(settings).splitlines(),
        "tools": list(CODE_PUPPY_TOOLS),
        "user_prompt": "What should we change? I will work in micro-patches.",
    }
    if model:
        agent["model"] = model
    if mcp:
        agent["mcp_servers"] = [MCP_NAME]
    return agent


def code_puppy_dir(kind: str, *, home: Path, env: Mapping[str, str]) -> Path:
    """Code Puppy's user directory for ``kind`` (``CONFIG`` or ``DATA``), as its config.py
    finds it: ``$XDG_<KIND>_HOME/code_puppy`` when that is set and not empty, else
    ``~/.code_puppy`` (plugins and hook trust stay there in any case)."""
    base = env.get(f"XDG_{kind}_HOME")
    return Path(base) / "code_puppy" if base else home / ".code_puppy"


def code_puppy_path(*, root: Path, home: Path, global_: bool,
                    env: Mapping[str, str]) -> Path:
    """Where Code Puppy finds the agent: the project's or the user's agents directory (in
    its data directory)."""
    base = code_puppy_dir("DATA", home=home, env=env) if global_ else root / ".code_puppy"
    return base / "agents" / f"{CODE_PUPPY_AGENT}.json"


def code_puppy_mcp_path(*, home: Path, env: Mapping[str, str]) -> Path:
    """The user's mcp_servers.json (in Code Puppy's config directory)."""
    return code_puppy_dir("CONFIG", home=home, env=env) / "mcp_servers.json"


def integrate_code_puppy(path: Path, settings: Settings, *, model: str | None,
                         dry_run: bool, mcp: bool = False) -> Integration:
    """Write (or with ``dry_run`` only render) the Code Puppy agent file."""
    return _write_json(path, code_puppy_agent(settings, model=model, mcp=mcp), dry_run=dry_run)


def guard_command(*, limit_all: bool) -> str:
    return GUARD_COMMAND + (" --limit-all" if limit_all else "")


def merge_claude_settings(existing: dict[str, Any], *, command: str) -> dict[str, Any]:
    """``existing`` with a PreToolUse hook running ``command``; every other key kept as is.

    A hook that already runs `patchpack guard` is updated in place, so running this twice
    changes nothing the second time.
    """
    merged = json.loads(json.dumps(existing))  # a deep copy; the input stays untouched
    hooks = merged.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise BadInput("\"hooks\" in .claude/settings.json is not an object",
                       hint="fix the file by hand, then run this again")
    entries = hooks.setdefault("PreToolUse", [])
    if not isinstance(entries, list):
        raise BadInput("\"hooks.PreToolUse\" in .claude/settings.json is not a list",
                       hint="fix the file by hand, then run this again")
    ours = {"type": "command", "command": command}
    for entry in entries:
        for i, hook in enumerate(entry.get("hooks", []) if isinstance(entry, dict) else []):
            if isinstance(hook, dict) and _is_guard(hook.get("command")):
                entry["hooks"][i] = {**hook, **ours}
                entry["matcher"] = GUARD_MATCHER
                return dict(merged)
    entries.append({"matcher": GUARD_MATCHER, "hooks": [ours]})
    return dict(merged)


def _is_guard(command: object) -> bool:
    return isinstance(command, str) and command.split()[:2] == GUARD_COMMAND.split()


def integrate_claude_code(path: Path, *, limit_all: bool, dry_run: bool) -> Integration:
    """Merge the guard hook into ``path`` (.claude/settings.json), keeping what is there."""
    merged = merge_claude_settings(_load_object(path), command=guard_command(limit_all=limit_all))
    return _write_json(path, merged, dry_run=dry_run)


# -- what the user does next: both agents gate what integrate writes ------------------------

_TRUST_HOOKS = ("Code Puppy runs the hooks of .claude/settings.json only once trusted: "
                "`/hooks trust accept` in Code Puppy started in {root}, again after each change "
                "of .claude/settings.json")


def to_land(repo: Repo | None, written: Sequence[Integration]) -> list[str]:
    """The project files among ``written`` that are not committed as they are."""
    if repo is None or repo.workdir is None:
        return []
    root = repo.workdir.resolve()
    rels = [i.path.resolve().relative_to(root).as_posix() for i in written
            if i.path.resolve().is_relative_to(root)]
    return QueueGit(repo).dirty(rels)


def _land(paths: Sequence[str], agent: str) -> str:
    # At most 2 files a run, so one commit that passes patchpack's own hook; landing all
    # the set-up at once (3 files) would not.
    return (f"land the set-up as a micro-patch: git add {' '.join(shlex.quote(p) for p in paths)}"
            f" && git commit -m 'Set up patchpack for {agent}'")


def claude_code_steps(root: Path, *, land: Sequence[str], mcp: bool) -> list[str]:
    """What to do after `integrate claude-code`."""
    steps = [_land(land, "Claude Code")] if land else []
    steps.append(f"Claude Code takes the hook in the sessions it starts from now on: start "
                 f"`claude` in {root}")
    if mcp:
        steps.append(f"Claude Code starts the project's MCP server only once approved: accept "
                     f"its prompt when you start `claude` in {root}, or add "
                     f'"enabledMcpjsonServers": ["{MCP_NAME}"] to .claude/settings.local.json')
    return [*steps, _TRUST_HOOKS.format(root=root)]


def code_puppy_steps(root: Path, *, land: Sequence[str], global_: bool,
                     agent: str = CODE_PUPPY_AGENT) -> list[str]:
    """What to do after `integrate code-puppy`."""
    steps = [_land(land, "Code Puppy")] if land else []
    where = "" if global_ else f" started in {root}"
    steps.append(f"switch to the agent in Code Puppy{where}: `/agent {agent}`")
    steps.append("the guard is a hook: `patchpack integrate claude-code` writes it. "
                 + _TRUST_HOOKS.format(root=root))
    return steps


# -- the MCP server, registered with agents ----------------------------------------------------

MCP_NAME = "patchpack"
# No --repo: the agent starts the server in the project it works on, and it serves that one.
MCP_SERVER = {"type": "stdio", "command": "patchpack", "args": ["mcp"]}


CODE_PUPPY_MCP_KEYS = ("mcp_servers", "mcpServers")
"""Code Puppy reads ``mcpServers`` only when ``mcp_servers`` is absent or null."""
CLAUDE_MCP_KEYS = ("mcpServers",)


def register_mcp(path: Path, *, keys: tuple[str, ...], dry_run: bool) -> Integration:
    """Add the patchpack server under the first of ``keys`` the file has (the first of them
    when it has none), keeping every other server and key: a second key would hide the
    servers of the first from a client that reads only one."""
    existing = _load_object(path)
    key = next((k for k in keys if existing.get(k) is not None), keys[0])
    servers = existing.get(key, {})
    if not isinstance(servers, dict):
        raise BadInput(f"\"{key}\" in {path} is not an object",
                       hint="fix the file by hand, then run this again")
    merged = {**existing, key: {**servers, MCP_NAME: {**servers.get(MCP_NAME, {}), **MCP_SERVER}}}
    return _write_json(path, merged, dry_run=dry_run)


def _load_object(path: Path) -> dict[str, Any]:
    """A JSON object file's content; {} when there is no file; BadInput when it is no object."""
    if not path.exists():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: not valid JSON ({e})",
                       hint="fix the file, or move it aside and run this again") from None
    if not isinstance(loaded, dict):
        raise BadInput(f"{path}: expected a JSON object")
    return loaded


def _write_json(path: Path, data: dict[str, Any], *, dry_run: bool) -> Integration:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    try:
        changed = path.read_text(encoding="utf-8") != text
    except (FileNotFoundError, UnicodeDecodeError):
        changed = True
    if changed and not dry_run:
        write_atomically(path, text.encode())
    return Integration(path, text, changed)
