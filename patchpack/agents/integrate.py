"""Setting agents up: the Code Puppy agent, Claude Code's hooks, MCP registrations, written
into the files each agent reads, and the steps left to the user."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchpack.agents.loop import prompt
from patchpack.config import Settings
from patchpack.errors import BadInput
from patchpack.git import Repo
from patchpack.git.files import write_atomically

CODE_PUPPY_AGENT = "pack-leader-token-efficient"
SET_UP_FILES = frozenset({".claude/settings.json", ".mcp.json",
                          f".code_puppy/agents/{CODE_PUPPY_AGENT}.json"})
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
