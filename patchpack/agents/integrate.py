"""Setting agents up: the Code Puppy agent, Claude Code's hooks, MCP registrations, written
into the files each agent reads, and the steps left to the user."""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchpack.agents.loop import prompt
from patchpack.config import Settings
from patchpack.errors import BadInput
from patchpack.git import Repo
from patchpack.git.files import write_atomically

CODE_PUPPY_AGENT = "pack-leader-token-efficient"
SET_UP_FILES = frozenset(
    {
        ".claude/settings.json",
        ".mcp.json",
        f".code_puppy/agents/{CODE_PUPPY_AGENT}.json",
        ".code_puppy/agents/pack-leader-cerebras-efficient.json",
    }
)
"""What `integrate` writes into a project: the guard leaves them out of the uncommitted change
it measures, so that setting up does not use up the agent's first micro-patch."""
# Code Puppy's own tool names (code_puppy/tools/__init__.py TOOL_REGISTRY): enough to read,
# search, edit and run commands; no browser or sub-agents, which only add tokens.
CODE_PUPPY_TOOLS = (
    "list_files",
    "read_file",
    "grep",
    "edit_file",
    "delete_file",
    "agent_run_shell_command",
    "agent_share_your_reasoning",
)
GUARD_COMMAND = "patchpack guard"
GUARD_SCRIPT = "patchpack-guard"
"""The guard's own launcher (bin/patchpack-guard): `patchpack guard` without the `import re`
of pip's console script, 8-9 ms of each tool call (#16). An install puts it beside
`patchpack`; the hook names it when it is on PATH, else `patchpack guard`."""
# Claude Code's tool names, then Code Puppy's (its hook engine reads .claude/settings.json
# too and matches a `|` list against its own names). No "timeout": Claude Code reads it in
# seconds and Code Puppy in milliseconds, so any value is wrong for one of them. `shell` is
# Code Puppy's own agent's tool: its aliases (Bash = shell) do not apply inside a `|` list.
GUARD_MATCHER = (
    "Edit|Write|MultiEdit|Bash|Read|"
    "edit_file|create_file|replace_in_file|delete_snippet|agent_run_shell_command|"
    "shell|read_file"
)


@dataclass(frozen=True)
class Integration:
    path: Path
    text: str
    changed: bool
    """False when the file already held exactly this."""


def code_puppy_agent(settings: Settings, *, model: str | None = None, mcp: bool = False) -> dict[str, Any]:
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


def code_puppy_path(*, root: Path, home: Path, global_: bool, env: Mapping[str, str]) -> Path:
    """Where Code Puppy finds the agent: the project's or the user's agents directory (in
    its data directory)."""
    base = code_puppy_dir("DATA", home=home, env=env) if global_ else root / ".code_puppy"
    return base / "agents" / f"{CODE_PUPPY_AGENT}.json"


def code_puppy_mcp_path(*, home: Path, env: Mapping[str, str]) -> Path:
    """The user's mcp_servers.json (in Code Puppy's config directory)."""
    return code_puppy_dir("CONFIG", home=home, env=env) / "mcp_servers.json"


def integrate_code_puppy(
    path: Path, settings: Settings, *, model: str | None, dry_run: bool, mcp: bool = False
) -> Integration:
    """Write (or with ``dry_run`` only render) the Code Puppy agent file."""
    return write_json(path, code_puppy_agent(settings, model=model, mcp=mcp), dry_run=dry_run)


def guard_command(*, limit_all: bool, which: Callable[[str], str | None] = shutil.which) -> str:
    base = GUARD_SCRIPT if which(GUARD_SCRIPT) else GUARD_COMMAND
    return base + (" --limit-all" if limit_all else "")


def merge_claude_settings(existing: dict[str, Any], *, command: str) -> dict[str, Any]:
    """``existing`` with a PreToolUse hook running ``command``; every other key kept as is.

    A hook that already runs `patchpack guard` is updated in place, so running this twice
    changes nothing the second time.
    """
    merged = json.loads(json.dumps(existing))  # a deep copy; the input stays untouched
    hooks = merged.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise BadInput(
            '"hooks" in .claude/settings.json is not an object',
            hint="fix the file by hand, then run this again",
        )
    entries = hooks.setdefault("PreToolUse", [])
    if not isinstance(entries, list):
        raise BadInput(
            '"hooks.PreToolUse" in .claude/settings.json is not a list',
            hint="fix the file by hand, then run this again",
        )
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
    words = command.split() if isinstance(command, str) else []
    return words[:2] == GUARD_COMMAND.split() or words[:1] == [GUARD_SCRIPT]


CAPTURE_COMMAND = "patchpack ledger import --hook"
CAPTURE_EVENTS = ("Stop", "SubagentStop")


def merge_capture_hooks(existing: dict[str, Any]) -> dict[str, Any]:
    """``existing`` with a Stop and a SubagentStop hook that import what the session spent,
    as the provider billed it, from its transcript (#17); added once, every other hook kept."""
    merged = json.loads(json.dumps(existing))
    for event in CAPTURE_EVENTS:
        entries = merged.setdefault("hooks", {}).setdefault(event, [])
        if not isinstance(entries, list):
            raise BadInput(
                f'"hooks.{event}" in .claude/settings.json is not a list',
                hint="fix the file by hand, then run this again",
            )
        if not any(
            isinstance(hook, dict) and hook.get("command") == CAPTURE_COMMAND
            for entry in entries
            if isinstance(entry, dict)
            for hook in entry.get("hooks", [])
            if isinstance(entry.get("hooks"), list)
        ):
            entries.append({"hooks": [{"type": "command", "command": CAPTURE_COMMAND}]})
    return dict(merged)


def integrate_claude_code(path: Path, *, limit_all: bool, dry_run: bool) -> Integration:
    """Merge the guard hook and the capture hooks into ``path`` (.claude/settings.json),
    keeping what is there."""
    merged = merge_claude_settings(_load_object(path), command=guard_command(limit_all=limit_all))
    return write_json(path, merge_capture_hooks(merged), dry_run=dry_run)


# -- what the user does next: both agents gate what integrate writes ------------------------

_TRUST_HOOKS = (
    "Code Puppy runs the hooks of .claude/settings.json only once trusted: "
    "`/hooks trust accept` in Code Puppy started in {root}, again after each change "
    "of .claude/settings.json"
)


def to_land(repo: Repo | None, written: Sequence[Integration]) -> list[str]:
    """The project files among ``written`` that are not committed as they are."""
    if repo is None or repo.workdir is None:
        return []
    root = repo.workdir.resolve()
    rels = [
        i.path.resolve().relative_to(root).as_posix()
        for i in written
        if i.path.resolve().is_relative_to(root)
    ]
    return repo.dirty(rels)


def _land(paths: Sequence[str], agent: str) -> str:
    # At most 2 files a run, so one commit that passes patchpack's own hook; landing all
    # the set-up at once (3 files) would not.
    return (
        f"land the set-up as a micro-patch: git add {' '.join(shlex.quote(p) for p in paths)}"
        f" && git commit -m 'Set up patchpack for {agent}'"
    )


def claude_code_steps(root: Path, *, land: Sequence[str], mcp: bool) -> list[str]:
    """What to do after `integrate claude-code`."""
    steps = [_land(land, "Claude Code")] if land else []
    steps.append(
        f"Claude Code takes the hook in the sessions it starts from now on: start `claude` in {root}"
    )
    if mcp:
        steps.append(
            f"Claude Code starts the project's MCP server only once approved: accept "
            f"its prompt when you start `claude` in {root}, or add "
            f'"enabledMcpjsonServers": ["{MCP_NAME}"] to .claude/settings.local.json'
        )
    return [*steps, _TRUST_HOOKS.format(root=root)]


def code_puppy_steps(
    root: Path, *, land: Sequence[str], global_: bool, agent: str = CODE_PUPPY_AGENT, plugin: bool = False
) -> list[str]:
    """What to do after `integrate code-puppy`: with the plugin, no hook is needed, since
    the plugin makes the guard's decisions inside Code Puppy's loop."""
    steps = [_land(land, "Code Puppy")] if land else []
    where = "" if global_ else f" started in {root}"
    steps.append(f"switch to the agent in Code Puppy{where}: `/agent {agent}`")
    if plugin:
        steps.append("Code Puppy loads the plugin when it starts; `patchpack status` shows what it did")
    else:
        steps.append(
            "the guard is a hook: `patchpack integrate claude-code` writes it. "
            + _TRUST_HOOKS.format(root=root)
        )
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
        raise BadInput(
            f'"{key}" in {path} is not an object', hint="fix the file by hand, then run this again"
        )
    merged = {**existing, key: {**servers, MCP_NAME: {**servers.get(MCP_NAME, {}), **MCP_SERVER}}}
    return write_json(path, merged, dry_run=dry_run)


def _load_object(path: Path) -> dict[str, Any]:
    """A JSON object file's content; {} when there is no file; BadInput when it is no object."""
    if not path.exists():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise BadInput(
            f"{path}: not valid JSON ({e})", hint="fix the file, or move it aside and run this again"
        ) from None
    if not isinstance(loaded, dict):
        raise BadInput(f"{path}: expected a JSON object")
    return loaded


def write_json(path: Path, data: dict[str, Any], *, dry_run: bool) -> Integration:
    """Write (or with ``dry_run`` only render) ``data`` as the JSON file an agent reads."""
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", dry_run=dry_run)


def write_text(path: Path, text: str, *, dry_run: bool) -> Integration:
    """Write ``text`` to ``path`` whole, unless ``dry_run`` or it holds exactly that already."""
    try:
        changed = path.read_text(encoding="utf-8") != text
    except (FileNotFoundError, UnicodeDecodeError):
        changed = True
    if changed and not dry_run:
        write_atomically(path, text.encode())
    return Integration(path, text, changed)
