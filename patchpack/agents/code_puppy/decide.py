"""What the plugin does to one tool call, decided without Code Puppy (it only passes values).

Every decision is the guard's (`patchpack.guard.decide`), so the hook and the plugin never
disagree; the plugin only acts on it in place where the hook had to refuse: a shell command is
rewritten rather than refused, a whole-file read is narrowed rather than refused.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchpack.agents import guard
from patchpack.agents.code_puppy import reads
from patchpack.config import Settings
from patchpack.errors import NotARepository
from patchpack.git import Repo, global_config_get

SHELL = "agent_run_shell_command"
# The names Code Puppy registers its edit tools under (code_puppy/tools/__init__.py).
EDITS = frozenset({"create_file", "replace_in_file", "delete_snippet", "delete_file", "edit_file"})
READ = "read_file"
LOCATE_BYTES = 4 << 20
"""Of a large file, what a narrowed read looks through for the part named and the outline."""


@dataclass(frozen=True)
class Narrowed:
    """A whole-file read turned into a read of its first lines."""

    lines: int
    note: str
    """Shown to the model before the tool's result: what was cut and how to read the rest."""


def shell_rewrite(command: str, cwd: Path) -> str | None:
    """The command to run instead: tests through `patchpack test`, the rest through
    `patchpack run`; None to run it as it is (already through patchpack, or a builtin such as
    `cd` that only makes sense unwrapped)."""
    decision = guard.decide(SHELL, {"command": command}, cwd, limit_all=True, bypass=True)
    return decision.command if isinstance(decision, guard.Rewrite) else None


def edit_refusal(tool: str, args: MutableMapping[str, Any], cwd: Path) -> str | None:
    """Why the edit is refused (naming the command to run first), or None to let it through."""
    decision = guard.decide(tool, args, cwd)
    return decision.reason if isinstance(decision, guard.Deny) else None


def narrow_read(args: MutableMapping[str, Any], cwd: Path, recent: Sequence[str] = ()) -> Narrowed | None:
    """Narrow a whole read of a large file in ``args`` (changed in place) to the part the
    ``recent`` context names (reads.py), else to its first ``patchpack.maxFileLines`` lines
    with an outline of the rest; None when the read is left as it is."""
    decision = guard.decide(READ, args, cwd)
    if not isinstance(decision, guard.Deny):
        return None
    limit = settings_at(cwd).max_file_lines
    given = str(args["file_path"])
    path = Path(given) if os.path.isabs(given) else cwd / given
    with path.open("rb") as f:  # a huge file (a log): located and outlined in its start only
        lines = f.read(LOCATE_BYTES).decode("utf-8", "replace").splitlines()
    part = reads.wanted(_rel(path, cwd), lines, recent, cap=limit)
    if part is not None:
        args["start_line"], args["num_lines"] = part.start, part.end - part.start + 1
        return Narrowed(
            part.end - part.start + 1,
            (
                f"patchpack: showing lines {part.start}-{part.end} only: "
                f"{part.why}. The start of the file: {reads.call(given, 1, limit)}"
            ),
        )
    args["start_line"], args["num_lines"] = 1, limit
    shape = reads.outline(lines, limit)
    rest = "Outline of the rest (line: definition):\n" + "\n".join(shape) + "\n" if shape else ""
    return Narrowed(
        limit,
        f"patchpack: showing lines 1-{limit} only. {decision.reason}\n"
        f"{rest}Read on: {reads.call(given, limit + 1, limit)}",
    )


def _rel(path: Path, cwd: Path) -> str:
    """``path`` relative to its work tree's top, with / separators (as a `file:line` names
    it); the path as given when that is not known."""
    try:
        top = Repo.discover(cwd).workdir
        if top is not None:
            return Path(os.path.realpath(path)).relative_to(os.path.realpath(top)).as_posix()
    except (NotARepository, ValueError):
        pass
    return path.as_posix()


def settings_at(cwd: Path) -> Settings:
    """The settings of the repository at ``cwd`` (the global ones outside any)."""
    try:
        return Settings.load(Repo.discover(cwd).config_get)
    except NotARepository:
        return Settings.load(global_config_get)


def cap(text: str, lines: int) -> str | None:
    """``text`` cut to at most ``lines`` lines, its head and tail kept with a marker between;
    None when it fits (a command run through `patchpack run` already does)."""
    parts = text.split("\n")
    if len(parts) <= lines + 1 or lines < 2:
        return None
    head = max(1, lines // 4)
    tail = lines - head
    left_out = len(parts) - head - tail
    marker = (
        f"... {left_out} lines omitted by patchpack; run the command through "
        f"`patchpack run -- CMD` to keep its full output ..."
    )
    return "\n".join([*parts[:head], marker, *parts[-tail:]])


def cwd_of(cwd: object) -> Path:
    """The directory a tool runs in: its own ``cwd`` argument, else the process's."""
    here = Path(os.getcwd())
    return here / cwd if isinstance(cwd, str) and cwd else here
