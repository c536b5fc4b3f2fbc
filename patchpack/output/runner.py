"""The output limiter: run a command and print a bounded, honest summary of what it printed.

The command runs in its own session (so its whole process group can be signalled) with stdout
and stderr on two pipes, read as they arrive. Each line goes back to the stream it came from:
the first H lines as they come, the last N-H at the end from a ring buffer, one marker line
between them (limiter.py). Everything the command printed is streamed to a kept log (runlog.py);
memory holds at most N lines of at most ``max_line_chars`` characters, whatever it prints.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO

from patchpack.errors import BadInput, PatchpackError
from patchpack.output import runlog
from patchpack.output.limiter import (
    CHUNK,
    ERR,
    EXACT_BYTES,
    NO_NEWLINE,
    OUT,
    Limiter,
    Limits,
    Output,
    RunResult,
    Tokens,
    cut,
)
from patchpack.tokens import Counter, count_text

TIMEOUT_GRACE = 2.0  # seconds between SIGTERM and SIGKILL on timeout
DRAIN = 1.0  # seconds to keep reading after the command exits (a background child may hold a pipe)
EXIT_TIMEOUT, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND = 124, 126, 127
EXIT_PIPE = 128 + signal.SIGPIPE  # 141: what a shell reports for a writer its reader left


class CommandNotFound(PatchpackError):
    exit_code = EXIT_NOT_FOUND


class NotExecutable(PatchpackError):
    exit_code = EXIT_NOT_EXECUTABLE



# -- running a command ------------------------------------------------------------------------


class _Control:
    """The deadline, and the signals patchpack receives, turned into signals for the command."""

    FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, pid: int, timeout: float | None) -> None:
        self.pid = pid
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.kill_at: float | None = None
        self.timed_out = False
        self.stopped = False
        """Stopped because the reader of patchpack's output went away."""
        self.received: int | None = None

    def signal_group(self, sig: int) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def _on_signal(self, sig: int, _frame: Any) -> None:
        # Ctrl-C reaches only patchpack (the command has its own session): pass it on, and kill
        # outright at the second one.
        self.signal_group(signal.SIGKILL if self.received is not None else sig)
        self.received = sig

    @contextmanager
    def forwarding(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = {sig: signal.signal(sig, self._on_signal) for sig in self.FORWARDED}
        try:
            yield
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)

    def wait_time(self) -> float:
        now, wait = time.monotonic(), 0.1
        for at in (self.deadline, self.kill_at):
            if at is not None:
                wait = min(wait, max(0.0, at - now))
        return wait

    def terminate(self) -> None:
        """SIGTERM to the command's group now, SIGKILL TIMEOUT_GRACE seconds later."""
        self.signal_group(signal.SIGTERM)
        self.kill_at = time.monotonic() + TIMEOUT_GRACE

    def tick(self) -> None:
        now = time.monotonic()
        if self.deadline is not None and now >= self.deadline and not self.timed_out:
            self.timed_out = True
            self.terminate()
        elif self.kill_at is not None and now >= self.kill_at:
