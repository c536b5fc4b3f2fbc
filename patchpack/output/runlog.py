"""Kept run logs: the output of each `patchpack run`, numbered, the newest K kept.

Inside a repository the logs live in the git dir of the current worktree
(``.git/patchpack/runs/``, or ``.git/worktrees/NAME/patchpack/runs/``), so they are never
committed and each worktree has its own; outside a repository, in a private temporary directory.
A log holds the bytes of stdout and stderr in the order their lines arrived, nothing else,
unless it outgrew its cap (patchpack.runLogMax): then its head and its tail are kept, with a
note line between them saying what was cut. The directory is kept within patchpack.runDirMax.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
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


MIN_CAP = 4096
NOTE_ROOM = 256  # bytes a cut log keeps for its note, more than any note takes
_PIECE = 1 << 20  # bytes moved at a time when a cut log is put in order
_HELD = 1 << 16  # most bytes a log holds before it writes them


@dataclass(frozen=True)
class Cut:
    """Where a log was cut: its first ``head_lines`` lines are the output's first lines, the
    note is the next line, and output line ``first_tail`` on follows the note."""

    head_lines: int
    lines: int
    bytes: int
    first_tail: int

    def line(self, number: int) -> int:
        """The log line that holds output line ``number`` (the note, for a line cut)."""
        if number <= self.head_lines:
            return number
        return self.head_lines + 1 + max(0, number - self.first_tail + 1)


def caps(log_max: int, dir_max: int) -> int:
    """The cap of one log (0: none): patchpack.runLogMax, and never more than the directory's
    cap patchpack.runDirMax; BadInput for a cap too small to hold a head, a note and a tail."""
    for name, cap, default in (("runLogMax", log_max, 32 << 20), ("runDirMax", dir_max, 256 << 20)):
        if 0 < cap < MIN_CAP:
            raise BadInput(
                f"patchpack.{name} is {cap:,} bytes: it must be at least {MIN_CAP} bytes, or 0 for no cap",
                hint=f"git config patchpack.{name} {default} (the default)",
            )
    return min(cap for cap in (log_max, dir_max) if cap) if log_max or dir_max else 0


class Log:
    """A run's log, written as the command prints, at most ``limit`` bytes (0: no limit).

    Up to the limit the file is the output as it came. Beyond it the first half stays (the
    head) and the rest of the file is a ring that keeps the last bytes; ``close`` puts the
    ring in order after a note saying how many lines and bytes were cut, each end trimmed to
    whole lines. Only a log file, never the output, sits in memory. The file is locked
    (flock) until closed, so that `prune` in another run leaves it alone.
    """

    def __init__(self, path: Path, fd: int, limit: int) -> None:
        self.path = path
        self._fd = fd
        self._limit = limit
        self._head = (limit - NOTE_ROOM) // 2 if limit else 0
        self._ring = limit - self._head
        self._pending = bytearray()
        self._newlines = self._head_newlines = 0
        self.bytes = 0
        self.cut: Cut | None = None
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def write(self, data: bytes | bytearray, newlines: int = 0) -> None:
        """Add ``data`` of the output, which holds ``newlines`` newlines (the caller counted
        them already; counting again would cost ~40% of `tail`'s time on a fast command)."""
        if self._limit and self.bytes + len(self._pending) < self._head:
            self._head_newlines += data[: self._head - self.bytes - len(self._pending)].count(b"\n")
        self._pending += data
        self._newlines += newlines
        if len(self._pending) >= _HELD:  # a long line comes in many writes before a flush
            self.flush()

    def flush(self) -> None:
        data, at = memoryview(self._pending), self.bytes
        if self._limit and at + len(data) > self._limit:
            if at < self._head:
                _pwrite(self._fd, data[: self._head - at], at)
                data, at = data[self._head - at :], self._head
            if len(data) > self._ring:  # only its last bytes would stay
                data, at = data[len(data) - self._ring :], at + len(data) - self._ring
            pos = (at - self._head) % self._ring
            _pwrite(self._fd, data[: self._ring - pos], self._head + pos)
            _pwrite(self._fd, data[self._ring - pos :], self._head)
        else:
            _pwrite(self._fd, data, at)
        self.bytes += len(self._pending)
        self._pending = bytearray()  # not clear(): a slice of `data` may still be alive

    def seal(self) -> None:
        """The output ended: flush, and put a cut log in order; it stays locked."""
        self.flush()
        if self._limit and self.bytes > self._limit and self.cut is None:
            self._put_in_order()

    def close(self) -> None:
        """Seal and unlock (once the log has been read back: prune may then remove it)."""
        if self._fd < 0:
            return
        try:
            self.seal()
        finally:
            os.close(self._fd)
            self._fd = -1

    def _put_in_order(self) -> None:
        fd, head, ring = self._fd, self._head, self._ring
        # The ring's newest bytes (at its start) go after its oldest (at its end): the last
        # `ring` bytes of the output are then at head+w..limit+w, in order.
        w = (self.bytes - head) % ring
        _copy(fd, head, self._limit, w)
        at = head + w - (self.bytes - ring)  # file position of an output offset in the ring
        start = self.bytes - ring + NOTE_ROOM + 1  # the tail: what fits, from a line's start
        if os.pread(fd, 1, at + start - 1) != b"\n":
            start = _after_newline(fd, at + start, at + self.bytes) - at
        tail_newlines = _count(fd, at + start, at + self.bytes)
        head_end = _after_last_newline(fd, head)
        partial = head_end == 0  # one line longer than the head: keep its start anyway
        kept = head if partial else head_end
        cut_newlines = self._newlines - self._head_newlines - tail_newlines
        self.cut = Cut(
            head_lines=self._head_newlines + partial,
            lines=cut_newlines,
            bytes=self.bytes - kept - (self.bytes - start),
            first_tail=self._newlines - tail_newlines + 1,
        )
        lines = "line" if cut_newlines == 1 else "lines"
        note = (b"\n" if partial else b"") + (
            f"[patchpack: {cut_newlines:,} {lines} ({self.cut.bytes:,} bytes) cut here to keep "
            f"this log within {self._limit:,} bytes (patchpack.runLogMax)]\n"
        ).encode()
        _pwrite(fd, note, kept)
        _copy(fd, at + start, kept + len(note), self.bytes - start)
        os.ftruncate(fd, kept + len(note) + self.bytes - start)


def _pwrite(fd: int, data: bytes | memoryview, at: int) -> None:
    while data:
        n = os.pwrite(fd, data, at)
        data, at = data[n:], at + n


def _copy(fd: int, src: int, dst: int, size: int) -> None:
    """Copy ``size`` bytes within the file, front to back (safe when ``dst`` < ``src``)."""
    for done in range(0, size, _PIECE):
        _pwrite(fd, os.pread(fd, min(_PIECE, size - done), src + done), dst + done)


def _count(fd: int, start: int, end: int) -> int:
    return sum(os.pread(fd, min(_PIECE, end - at), at).count(b"\n") for at in range(start, end, _PIECE))


def _after_newline(fd: int, start: int, end: int) -> int:
    """The position after the first newline in start..end, or ``start`` when there is none."""
    for at in range(start, end, _PIECE):
        found = os.pread(fd, min(_PIECE, end - at), at).find(b"\n")
        if found >= 0:
            return at + found + 1
    return start


def _after_last_newline(fd: int, end: int) -> int:
    """The position after the last newline before ``end``, or 0 when there is none."""
    for at in range(end, 0, -_PIECE):
        found = os.pread(fd, min(_PIECE, at), max(0, at - _PIECE)).rfind(b"\n")
        if found >= 0:
            return max(0, at - _PIECE) + found + 1
    return 0


def create(directory: Path, *, limit: int = 0) -> tuple[str, Path, Log]:
    """A new, empty log numbered one above the newest; exclusive even with concurrent runs."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ids = _ids(directory)
    number = ids[-1] + 1 if ids else 1
    while True:
        path = directory / f"{number}{SUFFIX}"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            number += 1
            continue
        return str(number), path, Log(path, fd, limit)


def prune(directory: Path, keep: int, max_bytes: int = 0) -> None:
    """Delete the oldest logs until the newest ``keep`` are left and, with ``max_bytes``, the
    logs take at most that many bytes. A log still being written (locked) is left alone."""
    sizes = []
    for number in _ids(directory):
        try:
            sizes.append((number, (directory / f"{number}{SUFFIX}").stat().st_size))
        except FileNotFoundError:
            continue
    total = sum(size for _, size in sizes)
    for i, (number, size) in enumerate(sizes):
        if len(sizes) - i <= keep and (not max_bytes or total <= max_bytes):
            break
        if _remove_unless_in_use(directory / f"{number}{SUFFIX}"):
            total -= size


def _remove_unless_in_use(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # a run still writes it
    else:
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


def find(directory: Path, run_id: str) -> Path:
    """The kept log ``run_id`` (a number, or ``last``); BadInput when it is not kept."""
    ids = _ids(directory)
    if run_id == "last" and ids:
        run_id = str(ids[-1])
    if run_id.isdigit() and int(run_id) in ids:
        return directory / f"{int(run_id)}{SUFFIX}"
    kept = f"kept: {ids[0]}..{ids[-1]}" if ids else "no runs are kept here"
    raise BadInput(
        f"no kept run log {run_id!r} in {directory} ({kept})",
        hint="run `patchpack run -- CMD` first, or give one of the kept ids",
    )


def parse_range(text: str) -> tuple[int, int | None]:
    """``START-END`` (1-based, inclusive) or ``START-`` (to the end) as (start, end)."""
    m = re.fullmatch(r"\s*([0-9]+)\s*-\s*([0-9]*)\s*", text)
    start, end = (int(m.group(1)), int(m.group(2)) if m.group(2) else None) if m else (0, None)
    if start < 1 or (end is not None and end < start):
        raise BadInput(
            f"bad line range {text!r}: expected START-END with 1 <= START <= END",
            hint="e.g. `--at 120-180`, or `--at 120-` for the rest of the log",
        )
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
                prefix += data[start : min(nl, start + cap - len(prefix))]
            yield bytes(prefix), length + nl - start, True
            prefix, length, start = bytearray(), 0, nl + 1
        if len(prefix) < cap:
            prefix += data[start : start + cap - len(prefix)]
        length += len(data) - start
    if length:
        yield bytes(prefix), length, False


# -- tokens of a log too long to count whole ----------------------------------------------------

SAMPLE_WINDOWS = 64
SAMPLE_WINDOW = 4096


def tokens_per_byte(
    counter: Counter,
    path: Path,
    start: int,
    end: int,
    *,
    windows: int = SAMPLE_WINDOWS,
    window: int = SAMPLE_WINDOW,
) -> float:
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
