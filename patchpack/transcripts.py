"""Claude Code's transcripts: the usage of each API response, counted once (#17).

A transcript (``<config dir>/projects/<project>/<session>.jsonl``, subagents' in files of
their own) holds one JSON object a line. One API response is written as several assistant
lines, one per content block, each repeating ``message.usage`` as it stood when the line was
written: ``output_tokens`` grows up to the last line, the other figures stay. So each
``(message.id, requestId)`` counts once, across all files, with the largest figures any of
its lines holds. A response with no stop reason and no line after it may still be streaming:
it is left for the next read (and the next read starts no later than its first line).
Sidechain lines belong to a subagent, named by the ``subagent_type`` of the Task call that
started it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from patchpack.usage import MAX_LINE, Problem

_CHUNK = 1 << 20


def _lines(path: Path, start: int, problems: list[Problem]
           ) -> Iterator[tuple[int, int, bytes | None]]:
    """(line number, where it starts, the line or None when too long) of the complete lines
    from ``start``; a last line without its end is being written: not yet."""
    with open(path, "rb") as f:
        if start > os.fstat(f.fileno()).st_size:
            start = 0  # the file was cut or replaced: read it again
        f.seek(start)
        where, number = start, 0
        while True:
            line = f.readline(MAX_LINE + 1)
            if not line.endswith(b"\n"):
                if len(line) <= MAX_LINE:
                    return
                number += 1
                problems.append(Problem(str(path), number, f"longer than {MAX_LINE:,} bytes"))
                length = len(line)
                while not line.endswith(b"\n"):
                    line = f.readline(_CHUNK)
                    if not line:
                        return
                    length += len(line)
                yield number, where, None
                where += length
                continue
            number += 1
            yield number, where, line
            where += len(line)


def project_dirs(root: Path, env: Mapping[str, str], home: Path) -> list[Path]:
    """Where Claude Code keeps the transcripts of sessions started in ``root``:
    ``projects/<root with each character other than a letter or digit as ->`` under
    ``$CLAUDE_CONFIG_DIR`` (several, comma-separated) or ``~/.claude`` and
    ``$XDG_CONFIG_HOME/claude``."""
    configured = env.get("CLAUDE_CONFIG_DIR", "")
    bases = [Path(p) for p in configured.split(",") if p.strip()] or [
        home / ".claude", Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "claude"]
    names = dict.fromkeys(re.sub(r"[^A-Za-z0-9]", "-", str(p)) for p in (root, root.resolve()))
    return [base / "projects" / name for base in bases for name in names]


def project_transcripts(root: Path, env: Mapping[str, str], home: Path) -> list[Path]:
    """Every transcript of the project, subagents' included, oldest name first."""
    return sorted({p for d in project_dirs(root, env, home) if d.is_dir()
                   for p in d.rglob("*.jsonl") if p.is_file()})
