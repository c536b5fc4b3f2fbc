"""The callbacks, as Code Puppy calls them (code_puppy/callbacks.py); docs/code-puppy.md lists
each contract relied on. Everything here takes plain values, so it is tested without Code Puppy;
register_callbacks.py only hands these to Code Puppy's register_callback.

Each callback fails open: a bug in patchpack, or a repository it cannot read, lets the call
through as if the plugin were not there (a note goes to the log), never stops the agent. The
one deliberate stop is a spent budget.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from patchpack.agents import loop as agents
from patchpack.agents.code_puppy import actions, decide
from patchpack.config import Settings
from patchpack.git import Repo

log = logging.getLogger("patchpack.agents.code_puppy")
T = TypeVar("T")


def repo_at(cwd: Path | None = None) -> Repo | None:
    try:
        return Repo.discover(cwd or Path(os.getcwd()))
    except Exception:
        return None


def note(repo: Repo | None, kind: str, detail: str) -> None:
    if repo is not None:
        try:
            actions.record(repo, kind, detail)
        except OSError as e:
            log.warning("patchpack: could not log the %s action: %s", kind, e)


def fail_open(default: T, what: str, work: Callable[[], T]) -> T:
    try:
        return work()
    except Exception as e:
        log.warning("patchpack plugin: %s failed (%s: %s); letting it through", what, type(e).__name__, e)
        return default


# -- run_shell_command, run_shell_command_output ----------------------------------------------


def shell_command(command: object, cwd: object) -> dict[str, str] | None:
    """``run_shell_command``: ``{"rewrite": ...}`` sends the command through patchpack."""
    if not isinstance(command, str):
        return None
    where = decide.cwd_of(cwd)
    rewritten = fail_open(None, "the shell rewrite", lambda: decide.shell_rewrite(command, where))
    if rewritten is None:
        return None
    note(repo_at(where), "rewrite", f"{command} -> {rewritten}")
    return {"rewrite": rewritten, "rewrite_reason": "patchpack (output capped, full log kept)"}


def shell_output(result: Any) -> None:
    """``run_shell_command_output``: cap, in place, what still comes back too long (its return
    value is ignored; the result object is what the model gets)."""

    def cap() -> None:
        limit = decide.settings_at(Path(os.getcwd())).output_lines
        capped = False
        for stream in ("stdout", "stderr"):
            text = getattr(result, stream, None)
            short = decide.cap(text, limit) if isinstance(text, str) else None
            if short is not None:
                setattr(result, stream, short)
                capped = True
        if capped:
            note(repo_at(), "cap", str(getattr(result, "command", "")))

    fail_open(None, "capping the output", cap)


# -- pre_tool_call ----------------------------------------------------------------------------


def pre_tool_call(tool: object, args: object, recent: Sequence[str] = ()) -> dict[str, Any] | None:
    """``pre_tool_call``: refuse an edit over the limits; narrow a whole read of a large file
    to the part the ``recent`` context names (the arguments are changed in place: Code Puppy
    runs the tool with them)."""
    if not isinstance(tool, str) or not isinstance(args, MutableMapping):
        return None
    where = Path(os.getcwd())
    if tool in decide.EDITS:
        reason = fail_open(None, "the edit check", lambda: decide.edit_refusal(tool, args, where))
        if reason is None:
            return None
        note(repo_at(where), "refuse", reason)
        # Code Puppy shows what follows [BLOCKED] to the model (_block_reason).
        return {"blocked": True, "error_message": f"[BLOCKED] {reason}"}
    if tool == decide.READ:
        narrowed = fail_open(None, "the read check", lambda: decide.narrow_read(args, where, recent))
        if narrowed is None:
            return None
        note(repo_at(where), "narrow", narrowed.note)
        return {"context_message": narrowed.note}
    return None


def settings(repo: Repo) -> Settings:
    return Settings.load(repo.config_get)


def spend(repo: Repo) -> list[agents.Budget]:
    return agents.spend(repo, settings(repo))
