"""Kept run logs: the full output of each `patchpack run`, numbered, the newest K kept.

Inside a repository the logs live in the git dir of the current worktree
(``.git/patchpack/runs/``, or ``.git/worktrees/NAME/patchpack/runs/``), so they are never
committed and each worktree has its own; outside a repository, in a private temporary directory.
A log holds the bytes of stdout and stderr in the order their lines arrived, nothing else.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from patchpack.errors import BadInput
from patchpack.tokens import Counter, count_text

SUFFIX = ".log"
_NAME = re.compile(r"([1-9][0-9]*)\.log")


def log_dir(git_dir: Path | None) -> Path:
    """Where run logs are kept: the worktree's git dir, or a per-user temporary directory."""
    if git_dir is not None:
        return git_dir / "patchpack" / "runs"
    return Path(tempfile.gettempdir()) / f"patchpack-{os.getuid()}" / "runs"


def _ids(directory: Path) -> list[int]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for name in names if (m := _NAME.fullmatch(name)))


def create(directory: Path) -> tuple[str, Path, BinaryIO]:
    """A new, empty log numbered one above the newest; exclusive even with concurrent runs."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ids = _ids(directory)
    number = ids[-1] + 1 if ids else 1
    while True:
        path = directory / f"{number}{SUFFIX}"
        try:
            return str(number), path, path.open("xb")
        except FileExistsError:
            number += 1


def prune(directory: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` logs."""
    for number in _ids(directory)[:-keep] if keep > 0 else _ids(directory):
        (directory / f"{number}{SUFFIX}").unlink(missing_ok=True)


def find(directory: Path, run_id: str) -> Path:
    """The kept log ``run_id`` (a number, or ``last``); BadInput when it is not kept."""
    ids = _ids(directory)
    if run_id == "last" and ids:
        run_id = str(ids[-1])
    if run_id.isdigit() and int(run_id) in ids:
        return directory / f"{int(run_id)}{SUFFIX}"
    kept = f"kept: {ids[0]}..{ids[-1]}" if ids else "no runs are kept here"
    raise BadInput(f"no kept run log {run_id!r} in {directory} ({kept})",
                   hint="run `patchpack run -- CMD` first, or give one of the kept ids")


def parse_range(text: str) -> tuple[int, int | None]:
    """``START-END`` (1-based, inclusive) or ``START-`` (to the end) as (start, end)."""
    m = re.fullmatch(r"\s*([0-9]+)\s*-\s*([0-9]*)\s*", text)
    start, end = (int(m.group(1)), int(m.group(2)) if m.group(2) else None) if m else (0, None)
    if start < 1 or (end is not None and end < start):
        raise BadInput(f"bad line range {text!r}: expected START-END with 1 <= START <= END",
                       hint="e.g. `--at 120-180`, or `--at 120-` for the rest of the log")
    return start, end


def iter_lines(f: BinaryIO, *, cap: int, chunk: int = 1 << 20) -> Iterator[tuple[bytes, int, bool]]:
    """Each line of ``f`` as (its first ``cap`` bytes, its length, whether a newline ended it).

    Memory stays bounded by ``chunk + cap`` whatever the length of a line.
    """
    prefix, length = bytearray(), 0
    while data := f.read(chunk):
        start = 0
        while (nl := data.find(b"\n", start)) >= 0:
            if len(prefix) < cap:
                prefix += data[start:min(nl, start + cap - len(prefix))]
            yield bytes(prefix), length + nl - start, True
            prefix, length, start = bytearray(), 0, nl + 1
        if len(prefix) < cap:
            prefix += data[start:start + cap - len(prefix)]
        length += len(data) - start
    if length:
        yield bytes(prefix), length, False


# -- tokens of a log too long to count whole ----------------------------------------------------

SAMPLE_WINDOWS = 64
SAMPLE_WINDOW = 4096


def tokens_per_byte(counter: Counter, path: Path, start: int, end: int, *,
                    windows: int = SAMPLE_WINDOWS, window: int = SAMPLE_WINDOW) -> float:
    """Tokens per byte of bytes ``start``..``end`` of a log, measured on a stride sample.

    ``windows`` windows of ``window`` bytes, evenly spaced over the range, each trimmed to
    whole lines (tiktoken's encodings do not merge across a newline followed by a printable
    character, so lines count about the same alone as in the whole). A window inside one long
    line is taken as it is. At most ``windows * window`` bytes are read and counted (256 KB,
    ~20 ms with cl100k_base), whatever the size of the log. Deterministic: the same log gives
    the same figure.
    """
    span = max(0, end - start)
    step = max(window, span // windows)
    pieces = []
    with path.open("rb") as f:
        for at in range(start, max(start + 1, end - window + 1), step):
            f.seek(at)
            data = f.read(min(window, end - at))
            first, last = data.find(b"\n") + 1, data.rfind(b"\n") + 1
            pieces.append(data[first:last] if 0 < first < last else data)
    sample = b"".join(pieces)
    return count_text(sample, counter) / len(sample) if sample else 0.0
