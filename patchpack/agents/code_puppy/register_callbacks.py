"""patchpack's Code Puppy plugin: imported by Code Puppy's plugin loader, it registers its
callbacks (the entry point ``patchpack`` in the group ``code_puppy.plugins`` names this module;
a user plugin written by `patchpack integrate code-puppy --plugin` imports it too).

Importing it anywhere but inside Code Puppy fails: it needs ``code_puppy.callbacks``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from patchpack.agents.code_puppy import gate, plugin
from patchpack.agents.code_puppy.session import Session
from patchpack.git import where

SESSION = Session()
register_callback: Any = importlib.import_module("code_puppy.callbacks").register_callback


def _patchpack_on_path() -> None:
    # The rewritten commands call `patchpack`; when Code Puppy was started without its venv on
    # PATH, the program beside this interpreter is the one that goes with this plugin.
    here = Path(sys.executable).parent
    if shutil.which("patchpack") is None and (here / "patchpack").exists():
        os.environ["PATH"] = f"{here}{os.pathsep}{os.environ.get('PATH', '')}"


async def _run_shell_command(
    context: Any, command: Any, cwd: Any = None, timeout: Any = None
) -> dict[str, str] | None:
    return plugin.shell_command(command, cwd)


async def _run_shell_command_output(result: Any) -> None:
    plugin.shell_output(result)


async def _pre_tool_call(tool_name: Any, tool_args: Any, context: Any = None) -> Any:
    return plugin.pre_tool_call(tool_name, tool_args, SESSION.recent)


async def _transform_model_messages(agent_name: Any, messages: Any) -> None:
    await SESSION.before_request(agent_name if isinstance(agent_name, str) else None, messages)


def _model_select(
    *,
    agent_name: Any = None,
    current_model: Any = None,
    prompt: Any = "",
    messages: Any = None,
    session_id: Any = None,
) -> str | None:
    return plugin.fail_open(
        None,
        "routing",
        lambda: SESSION.select(
            agent_name, current_model, prompt if isinstance(prompt, str) else "", session_id
        ),
    )


async def _agent_run_start(agent_name: Any, model_name: Any, session_id: Any = None) -> None:
    SESSION.start(agent_name if isinstance(agent_name, str) else None)


@contextlib.asynccontextmanager
async def _stop(reason: str) -> AsyncIterator[None]:
    raise gate.BudgetSpent(reason)
    yield  # an async generator, for asynccontextmanager


def _agent_run_context(agent: Any, pydantic_agent: Any, group_id: Any, mcp_servers: Any) -> Any:
    name = getattr(agent, "name", None)
    reason = plugin.fail_open(
        None, "the budget check", lambda: SESSION.stop_reason(name if isinstance(name, str) else None)
    )
    return None if reason is None else _stop(reason)


async def _agent_run_end(
    agent_name: Any,
    model_name: Any,
    session_id: Any = None,
    success: Any = True,
    error: Any = None,
    response_text: Any = None,
    metadata: Any = None,
) -> None:
    SESSION.end(agent_name, model_name, session_id, metadata)


_patchpack_on_path()
# Code Puppy's process lives for the session: find the repository and read its config once,
# again only when they change (where.remember), not two git processes every tool call.
where.remember()
register_callback("run_shell_command", _run_shell_command)
register_callback("run_shell_command_output", _run_shell_command_output)
register_callback("pre_tool_call", _pre_tool_call)
register_callback("transform_model_messages", _transform_model_messages)
register_callback("model_select", _model_select)
register_callback("agent_run_start", _agent_run_start)
register_callback("agent_run_context", _agent_run_context)
register_callback("agent_run_end", _agent_run_end)
