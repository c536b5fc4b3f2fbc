"""The agent profile for Code Puppy with the plugin: ``pack-leader-cerebras-efficient``, the name
users of the original pack-leader proposal know.

Its prompt describes only the workflow. What the plugin enforces in code (capped output, the
micro-patch limits, narrowed reads, the truncation cadence, usage recording, budgets and pacing)
is not asked of the model: a rule the model cannot break costs no prompt tokens to state.
"""

from __future__ import annotations

from typing import Any

from patchpack.config import Settings
from patchpack.text import counted

NAME = "pack-leader-cerebras-efficient"
# Code Puppy's own tool names; its default shell tool name, `shell`, is not in the registry
# an agent file may name (agent_run_shell_command is).
TOOLS = (
    "list_files",
    "read_file",
    "grep",
    "create_file",
    "replace_in_file",
    "delete_snippet",
    "delete_file",
    "agent_run_shell_command",
    "agent_share_your_reasoning",
)

_PROMPT = """\
You work in a git repository managed by patchpack; its Code Puppy plugin enforces the limits.
Work in small steps and keep your answers short.

1. `patchpack status`: where you are.
2. Read only what the step needs: `patchpack context` (the diff of your work),
   `patchpack context --grep PATTERN`, `patchpack context --at FILE:START-END`.
3. Make one small edit ({max_files}, {max_lines} diff lines at most uncommitted; a bigger
   one is refused with the command to run).
4. Run the tests: `pytest ...` (the plugin runs them through `patchpack test` and caps the
   output; `patchpack run --show ID` shows more of a log).
5. Land the step: commit it, or `patchpack split && patchpack apply --all`.
6. Repeat. Old tool outputs are replaced by one-line stubs as you go: ask again for what you
   still need rather than relying on them.

When a run is stopped over budget, land what you have and report.
"""


def agent(settings: Settings, *, model: str | None = None) -> dict[str, Any]:
    """The Code Puppy JSON agent: name, display_name, description, system_prompt, tools."""
    out: dict[str, Any] = {
        "name": NAME,
        "display_name": "Pack Leader (Cerebras, token-efficient)",
        "description": "Micro-patch workflow; patchpack's plugin caps output, refuses big edits, "
        "masks old outputs, routes models and keeps the token ledger.",
        "system_prompt": _PROMPT.format(
            max_files=counted(settings.max_files, "file"), max_lines=settings.max_lines
        ).splitlines(),
        "tools": list(TOOLS),
        "user_prompt": "What should we change? I will work in micro-patches.",
    }
    if model:
        out["model"] = model
    return out
