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
            self.signal_group(signal.SIGKILL)
            self.kill_at = None


def _spawn(argv: Sequence[str], stdin: int | None) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            list(argv), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
    except FileNotFoundError:
        raise CommandNotFound(
            f"command not found: {argv[0]}", hint="check the name and PATH, or use --shell 'SCRIPT'"
        ) from None
    except PermissionError:
        raise NotExecutable(
            f"command not executable: {argv[0]}",
            hint=f"chmod +x {shlex.quote(argv[0])}, or run it with its interpreter",
        ) from None


def _widen(fd: int) -> None:
    # Bigger pipes mean fewer, larger reads for a command that prints fast.
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, CHUNK)
    except (ImportError, AttributeError, OSError):
        pass


def _pump(proc: subprocess.Popen[bytes], limiter: Limiter, control: _Control, output: Output) -> int:
    """Read both pipes until they close (or the command exited DRAIN seconds ago); the status.

    When the reader of patchpack's output goes away (a write failed, or poll says so while
    nothing is printed), the command is stopped as a shell pipe stops a writer, or `CMD | head`
    would never end: its pipes are closed (its next write gets EPIPE) and its group terminated.
    """
    assert proc.stdout is not None and proc.stderr is not None
    pipes = {p.fileno(): (tag, p) for tag, p in ((OUT, proc.stdout), (ERR, proc.stderr))}
    poll = select.poll()
    for fd in pipes:
        _widen(fd)
        poll.register(fd, select.POLLIN)
    for fd in output.watched():
        poll.register(fd, 0)  # POLLERR, POLLHUP and POLLNVAL only: they are always reported
    exited_at = None
    while True:
        for fd, _ in poll.poll(1000 * control.wait_time() if pipes else 0):
            if fd not in pipes:  # the reader of our stdout is gone
                poll.unregister(fd)
                output.broken = True
            elif data := os.read(fd, CHUNK):
                limiter.feed(pipes[fd][0], data)
            else:
                poll.unregister(fd)
                limiter.close(pipes.pop(fd)[0])
        if output.broken and not control.stopped:
            control.stopped = True
            for fd, (tag, pipe) in pipes.items():
                poll.unregister(fd)
                limiter.close(tag)
                pipe.close()
            pipes.clear()
            if control.kill_at is None:  # not already on its way out (timeout)
                control.terminate()
        if not pipes:
            with suppress(subprocess.TimeoutExpired):
                proc.wait(control.wait_time())
        control.tick()
        if proc.poll() is not None:
            exited_at = exited_at or time.monotonic()
            if not pipes or time.monotonic() - exited_at >= DRAIN:
                break
    proc.stdout.close()
    proc.stderr.close()
    if control.timed_out or control.stopped:
        control.signal_group(signal.SIGKILL)  # what is left of the group
    return proc.returncode


def run(
    argv: Sequence[str],
    *,
    limits: Limits,
    log_dir: Path,
    keep: int,
    timeout: float | None,
    counter: Callable[[], Counter] | None,
    out: BinaryIO,
    err: BinaryIO,
    stdin: int | None = None,
    exact_bytes: int = EXACT_BYTES,
    log_max: int = 0,
    dir_max: int = 0,
) -> RunResult:
    """Run ``argv`` through the limiter; its summary goes to ``out``/``err`` as it was printed.

    ``stdin`` is the command's standard input (None: patchpack's own). The log is kept within
    ``log_max`` bytes, and the logs in ``log_dir`` within ``dir_max`` bytes (0: no cap).

    With ``counter`` (what loads one), tokens of the full output and of what was printed are
    counted once the command has ended, so the tokenizer's memory (~40 MB) is not added to
    what streaming used: the printed text exactly, the full output exactly up to
    ``exact_bytes`` and beyond that with its omitted part estimated (see Limiter._count).
    A counter that cannot load costs the figures, not the summary: ``tokens_error`` says why.
    """
    run_id, log_path, log = runlog.create(log_dir, limit=runlog.caps(log_max, dir_max))
    try:  # the log stays locked until read back below: another run's prune leaves it alone
        try:
            proc = _spawn(argv, stdin)
        except PatchpackError:
            log_path.unlink()
            raise
        output = Output(out, err, remember=counter is not None)
        limiter = Limiter(limits, output, log)
        control = _Control(proc.pid, timeout)
        with control.forwarding():
            status = _pump(proc, limiter, control, output)
        for tag in (OUT, ERR):  # pipes a background child still holds: end their last lines
            limiter.close(tag)
        log.seal()
        runlog.prune(log_dir, keep, dir_max)
        if control.received is not None:
            exit_code = 128 + control.received
        elif output.broken:
            exit_code = EXIT_PIPE
        elif control.timed_out:
            exit_code = EXIT_TIMEOUT
        else:
            exit_code = status if status >= 0 else 128 - status
        loaded, problem = None, None
        if counter is not None:
            try:
                loaded = counter()
            except PatchpackError as e:
                problem = e
        omitted, full = limiter.finish(
            failed=exit_code != 0,
            run_id=run_id,
            log=log_path,
            counter=loaded,
            exact_bytes=exact_bytes,
            cut=log.cut,
        )
    finally:
        log.close()
    tokens = None
    if loaded is not None and full is not None:
        printed = count_text(b"".join(output.printed), loaded)
        tokens = Tokens(full=full.tokens, printed=printed, counter=full.counter, estimated=full.estimated)
    return RunResult(
        run_id=run_id,
        log=log_path,
        exit_code=exit_code,
        lines=limiter.lines,
        bytes=limiter.bytes,
        printed_lines=output.lines,
        omitted_lines=omitted,
        timed_out=control.timed_out,
        interrupted_by=control.received,
        tokens=tokens,
        tokens_error=problem,
        reader_gone=output.broken,
        printed=b"".join(output.printed) if tokens is not None else b"",
    )


# -- showing a kept log -----------------------------------------------------------------------


def show(
    path: Path, run_id: str, *, limits: Limits, at: tuple[int, int | None] | None, out: BinaryIO
) -> None:
    """Print lines ``at`` (START, END or None) of a kept log, or all of it through the limiter."""
    output = Output(out, out, remember=False)
    with path.open("rb") as f:
        if at is None:
            limiter = Limiter(limits, output, None)
            while data := f.read(CHUNK):
                limiter.feed(OUT, data)
            limiter.finish(failed=False, run_id=run_id, log=path)
            return
        start, end = at
        for number, (prefix, length, newline) in enumerate(
            runlog.iter_lines(f, cap=4 * limits.max_line_chars + 4), 1
        ):
            if end is not None and number > end:
                break
            if number >= start:
                line = cut(prefix, length, limits.max_line_chars)
                output.lines_of(OUT if newline else OUT | NO_NEWLINE, [line])
    output.flush()


# -- `patchpack test` -------------------------------------------------------------------------

DEFAULT_TEST_COMMAND = "pytest -q --tb=short"
_VERBOSITY = re.compile(r"-[qv]+|--quiet|--verbose|--verbosity(=.*)?")


def argv_for_tests(command: str, args: Iterable[str]) -> list[str]:
    """``command`` (split like a shell would) plus ``args``, the user's flags winning.

    A default option is dropped when the user gives the same option (``--tb=long`` replaces
    ``--tb=short``), and default verbosity flags (``-q``) when the user gives any (``-v``).
    """
    try:
        base = shlex.split(command)
    except ValueError as e:
        raise BadInput(
            f"bad test command {command!r}: {e}", hint="fix it with `git config patchpack.testCommand '...'`"
        ) from None
    if not base:
        raise BadInput(
            "the test command is empty", hint="set one with `git config patchpack.testCommand 'pytest -q'`"
        )
    args = list(args)
    options = args[: args.index("--")] if "--" in args else args
    names = {a.split("=", 1)[0] for a in options if a.startswith("--")}
    verbosity = any(_VERBOSITY.fullmatch(a) for a in options)

    def overridden(default: str) -> bool:
        if _VERBOSITY.fullmatch(default):
            return verbosity
        return default in options or (default.startswith("--") and default.split("=", 1)[0] in names)

    return [base[0], *(word for word in base[1:] if not overridden(word)), *args]
