"""`check --staged`, `next` and `status` answered before click loads (#16).

An agent runs these at every step of its loop, and click with the door's libgit2 costs them
several interpreter start-ups. `patchpack/__main__.py` sends here the argument forms an agent
runs; this module reads what it needs through the git program and prints what the click
command prints, byte for byte, with the same exit codes. Where it cannot answer the same
(a case it does not read without libgit2), it says so before printing anything, and click
answers as before.
"""

from __future__ import annotations

import os
import re
import sys

from patchpack.config import Settings
from patchpack.errors import EXIT_FAILED, PatchpackError
from patchpack.git.plain import Moved, Plain

TYPE_CHECKING = False  # typing costs these commands a tenth of their start-up
if TYPE_CHECKING:
    from typing import TextIO

# click.echo takes ANSI escapes out of what it writes to a file or a pipe: so does this.
_ANSI = re.compile(r"\033\[[0-?]*[ -/]*[@-~]")  # click._compat._ansi_re


def echo(text: str, stream: TextIO) -> None:
    """Write ``text`` and a newline as click.echo does (no colour codes unless a terminal)."""
    if not stream.isatty():
        text = _ANSI.sub("", text)
    stream.write(text + "\n")
    stream.flush()


def answer(command: str, options: set[str]) -> int | None:
    """The exit code of ``command`` with ``options`` (flags of it), answered here; None, with
    nothing printed, when the door has to answer it."""
    try:
        if command == "check":
            return check_staged(as_json="--json" in options)
        if command == "next":
            return next_(as_json="--json" in options)
        if command == "status":
            return status(tracked_only="--tracked-only" in options, as_json="--json" in options)
    except Moved:
        return None
    return None


class _Said:
    """What a command has to say, kept until it is known that the door need not say it;
    then said in click's order, an error where click would have stopped."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, bool]] = []

    def add(self, text: str | None, *, err: bool = False) -> None:
        if text:
            self.lines.append((text, err))

    def say(self) -> None:
        for text, err in self.lines:
            echo(text, sys.stderr if err else sys.stdout)


def check_staged(*, as_json: bool) -> int:
    """`patchpack check [--staged] [--json]`: the staged change against the limits."""
    from patchpack.limits import check as checking
    from patchpack.limits.diffs import Limits

    repo = Plain(os.curdir)
    settings = Settings.load(repo.config_get)
    results = checking.staged(repo, Limits(settings.max_files, settings.max_lines))
    echo(checking.render_json(results) if as_json else checking.render_text(results), sys.stdout)
    if not checking.all_ok(results):
        echo(checking.next_step(results, staged_change=True), sys.stderr)
        return EXIT_FAILED
    return 0


def next_(*, as_json: bool) -> int:
    """`patchpack next [--json]`: the next patch, the truncation reminder, the budget line."""
    repo = Plain(os.curdir, objects=True)  # git reads while the modules below load
    from patchpack.agents import loop as agents
    from patchpack.queue import store as queue

    found = queue.next_patch(repo, queue.load(repo))
    said = _Said()
    said.add(queue.next_json(found) if as_json else queue.render_next(found))
    try:
        settings = Settings.load(repo.config_get)
        if agents.cadence(repo, settings).reminder_due:
            said.add(agents.reminder(settings), err=True)
        said.add(agents.line_for(repo, settings), err=True)
    except PatchpackError:
        said.say()  # what click printed before it stopped there
        raise
    said.say()
    return 0


def status(*, tracked_only: bool, as_json: bool) -> int:
    """`patchpack status [--tracked-only] [--json]`: where the agent stands."""
    repo = Plain(os.curdir, objects=True)  # git reads while the modules below load
    from patchpack.agents import status as stating

    found = stating.read(repo, Settings.load(repo.config_get), untracked=not tracked_only)
    echo(stating.render_json(found) if as_json else stating.render_text(found), sys.stdout)
    return 0
