"""Where Claude Code keeps a project's transcripts, and the marks that let the next read of
a file start where the last one ended: after each turn the `Stop` hook reads only what the
turn wrote (#17)."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

_TAIL = 64
_RACY = 2_000_000_000  # ns


def resume(
    files: Iterable[Path], marks: Mapping[str, object]
) -> tuple[list[Path], dict[str, int], dict[str, os.stat_result]]:
    """The files with bytes not read yet, where to start each, and each one's state before
    this read, from the ``marks`` an earlier read left (`marks`). A file unchanged since
    (size and time) is not opened; one cut, replaced or rewritten (fewer bytes, another
    inode, other bytes before the mark) is read whole. What a mark does not say, it does not
    vouch for: an offset alone (an older patchpack's) is taken as it is."""
    todo, starts, seen = [], {}, {}
    for path in files:
        try:
            seen[str(path)] = stat = path.stat()
        except OSError:
            todo.append(path)  # read() reports it
            continue
        mark = marks.get(str(path))
        if type(mark) is int:
            mark = [mark]
        if not (type(mark) is list and mark and type(mark[0]) is int and mark[0] >= 0):
            todo.append(path)
            continue
        offset, *known = mark
        if known[:3] == [stat.st_size, stat.st_mtime_ns, stat.st_ino]:
            continue  # nothing written since
        if known and (
            len(known) != 4
            or known[2] != stat.st_ino
            or stat.st_size < offset
            or _tail(path, offset) != known[3]
        ):
            offset = 0
        todo.append(path)
        starts[str(path)] = offset
    return todo, starts, seen


def marks(offsets: Mapping[str, int], seen: Mapping[str, os.stat_result]) -> dict[str, list[int | str]]:
    """Where each file's next read starts, with what tells a later read whether the file
    is the one read: its size and time before this read, its inode, the bytes before the
    offset (hashed)."""
    out: dict[str, list[int | str]] = {}
    for name, offset in offsets.items():
        stat = seen.get(name)
        tail = _tail(Path(name), offset) if stat is not None else None
        # A file changed within a tick of the clock after its stat can keep its size and
        # time (git's "racy" entries): those are checked by their bytes next time.
        # (The file system's clock, not the ledger's: PATCHPACK_NOW has no say in it.)
        racy = stat is not None and time.time_ns() - stat.st_mtime_ns < _RACY
        out[name] = (
            [offset]
            if stat is None or tail is None
            else [offset, stat.st_size, -1 if racy else stat.st_mtime_ns, stat.st_ino, tail]
        )
    return out


def _tail(path: Path, offset: int) -> str | None:
    """The first and the last bytes before ``offset``, hashed: what a rewrite changes."""
    try:
        with open(path, "rb") as f:
            head = f.read(min(offset, _TAIL))
            f.seek(max(0, offset - _TAIL))
            return hashlib.sha256(head + f.read(min(offset, _TAIL))).hexdigest()[:16]
    except OSError:
        return None


def project_dirs(root: Path, env: Mapping[str, str], home: Path) -> list[Path]:
    """Where Claude Code keeps the transcripts of sessions started in ``root``:
    ``projects/<root with each character other than a letter or digit as ->`` under
    ``$CLAUDE_CONFIG_DIR`` (several, comma-separated) or ``~/.claude`` and
    ``$XDG_CONFIG_HOME/claude``."""
    configured = env.get("CLAUDE_CONFIG_DIR", "")
    bases = [Path(p) for p in configured.split(",") if p.strip()] or [
        home / ".claude",
        Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "claude",
    ]
    names = dict.fromkeys(re.sub(r"[^A-Za-z0-9]", "-", str(p)) for p in (root, root.resolve()))
    return [base / "projects" / name for base in bases for name in names]


def project_transcripts(root: Path, env: Mapping[str, str], home: Path) -> list[Path]:
    """Every transcript of the project, subagents' included, oldest name first."""
    return sorted(
        {p for d in project_dirs(root, env, home) if d.is_dir() for p in d.rglob("*.jsonl") if p.is_file()}
    )
