"""Work done in a forked copy of this process, on the machine's second core.

A cold `patchpack budget` reads 100,000 notes: git takes one core and parsing its output
another, so half of the notes go to a child that runs its own `git grep` and parses it (#6).
The child is a fork, not a fresh interpreter: it starts at once, with every module loaded.
"""

from __future__ import annotations

import marshal
import os
import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from patchpack.errors import EXIT_BAD_INPUT, BadInput, Failed, PatchpackError


def available() -> bool:
    """Whether forking pays: a second core to run on, and no thread that a fork would copy
    in the middle of what it holds (the MCP server may run several)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return hasattr(os, "fork") and cores > 1 and threading.active_count() == 1


class Forked:
    """``work()`` running in a forked child; `result` waits for what it returned.

    What it returns goes back through a pipe in marshal's form (plain values only). An error
    in the child is raised in the parent, the same kind for a PatchpackError, never a
    result with less in it. Leaving the ``with`` block before `result` stops the child.
    """

    def __init__(self, work: Callable[[], Any]) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            os.close(read_end)
            _child(work, write_end)
        os.close(write_end)
        self._pid: int | None = pid
        self._read_end = read_end

    def result(self) -> Any:
        """What ``work()`` returned in the child; its error, raised here, if it failed."""
        with open(self._read_end, "rb", closefd=False) as f:
            data = f.read()
        status = self._reap(stop=False)
        try:
            ok, value = marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            ok, value = False, (1, f"it ended with status {status} and sent nothing", None)
        if ok and status == 0:
            return value
        code, message, hint = value
        kind = BadInput if code == EXIT_BAD_INPUT else Failed
        raise kind(f"the second ledger reader failed: {message}", hint=hint)

    def __enter__(self) -> Forked:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._reap(stop=True)
        os.close(self._read_end)

    def _reap(self, *, stop: bool) -> int:
        if self._pid is None:
            return 0
        if stop:
            os.kill(self._pid, signal.SIGKILL)  # its git sees the pipe close and stops too
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        return os.waitstatus_to_exitcode(status)


def _child(work: Callable[[], Any], write_end: int) -> None:
    code = 1
    try:
        try:
            data = marshal.dumps((True, work()))
        except PatchpackError as e:
            data = marshal.dumps((False, (e.exit_code, e.message, e.hint)))
        except BaseException as e:  # a bug, or Ctrl-C: the parent says so, with what it was
            data = marshal.dumps((False, (1, f"{type(e).__name__}: {e}", None)))
        with open(write_end, "wb") as f:
            f.write(data)
        code = 0
    finally:
        os._exit(code)  # no atexit handlers, no flushing of the parent's buffers
