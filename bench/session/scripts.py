"""The trajectories: what each scripted agent does on a task, as the endpoint's list of turns.

Both agents see the code they change before they change it (the fairness check holds them to
it), make the commit's real hunks, run the real tests twice and land the change. They differ
in how they look and what comes back:

- *naive*: the client's default agent, doing what such an agent does: search for the symbol,
  read each touched file whole (in the pieces the client lets one read return: Code Puppy
  keeps a tool output over 10,000 characters in a file and shows a preview, so a real agent
  reads a long file a window at a time), run the tests plainly, edit, `git diff`, run the
  tests again, commit;
- *patchpack*: the client set up by `patchpack integrate`, asking `patchpack context` for the
  located hunks (`--grep` the symbol, `--at` each hunk's lines), running `patchpack test`,
  editing, and landing through `patchpack split` and `apply --all`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence

from session.tasks import Edit, Task

from clients.endpoint import ToolCall, Turn, call, say

PUPPY_READ_CHARS = 9_000  # under Code Puppy's 10,000-character tool output limit
CLAUDE_READ_LINES = 2_000  # Claude Code's Read returns up to 2,000 lines a call
AT_MARGIN = 3  # lines of margin around a hunk asked for with --at
SHELL_TIMEOUT = 300  # seconds Code Puppy's shell tool waits for a test run


def grep_pattern(task: Task) -> str:
    """The symbol as a regular expression both ripgrep and `git grep -E` read the same way."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", task.symbol)


def windows(text: str, limit: int) -> list[tuple[int, int]]:
    """(start line, number of lines) pieces of ``text`` of at most ``limit`` characters each."""
    pieces: list[tuple[int, int]] = []
    start, size, count = 1, 0, 0
    for line in text.splitlines(keepends=True):
        if count and size + len(line) > limit:
            pieces.append((start, count))
            start, size, count = start + count, 0, 0
        size += len(line)
        count += 1
    if count:
        pieces.append((start, count))
    return pieces


def at_ranges(edits: Sequence[Edit]) -> list[str]:
    """`--at FILE:START-END` for each hunk's old lines with a margin, overlapping ones joined."""
    ranges: list[tuple[str, int, int]] = []
    for edit in sorted(edits, key=lambda e: (e.path, e.old_start)):
        start = max(1, edit.old_start - AT_MARGIN)
        end = edit.old_start + edit.old_lines - 1 + AT_MARGIN
        if ranges and ranges[-1][0] == edit.path and start <= ranges[-1][2] + 1:
            ranges[-1] = (edit.path, ranges[-1][1], max(end, ranges[-1][2]))
        else:
            ranges.append((edit.path, start, end))
    return [f"--at {shlex.quote(f'{path}:{a}-{b}')}" for path, a, b in ranges]


def _by_file(task: Task) -> list[tuple[str, list[Edit]]]:
    return [(path, [e for e in task.edits if e.path == path]) for path in task.paths]


def _files(task: Task) -> str:
    return " ".join(shlex.quote(p) for p in task.paths)


def _tests(task: Task) -> str:
    return " ".join(shlex.quote(t) for t in task.tests)


def _message(task: Task) -> str:
    return shlex.quote(task.subject)


# -- Code Puppy -------------------------------------------------------------------------------


def puppy_naive(task: Task) -> list[Turn]:
    """Code Puppy's own agent (tools `grep`, `read_file`, `shell`, `replace_in_file`)."""
    turns = [call("grep", search_string=grep_pattern(task))]
    for path, text in zip(task.paths, task.before, strict=True):
        for start, count in windows(text, PUPPY_READ_CHARS):
            turns.append(call("read_file", file_path=path, start_line=start, num_lines=count))
    turns.append(call("shell", command=f"python -m pytest {_tests(task)}", timeout=SHELL_TIMEOUT))
    turns += _puppy_edits(task)
    turns += [
        call("shell", command="git diff", timeout=SHELL_TIMEOUT),
        call("shell", command=f"python -m pytest {_tests(task)}", timeout=SHELL_TIMEOUT),
        call(
            "shell",
            command=f"git add {_files(task)} && git commit -q -m {_message(task)}",
            timeout=SHELL_TIMEOUT,
        ),
    ]
    return turns


def puppy_patchpack(task: Task) -> list[Turn]:
    """The agent `patchpack integrate code-puppy --plugin` writes (its shell tool is
    `agent_run_shell_command`), with the plugin loaded."""
    shell = "agent_run_shell_command"
    turns = [
        call(
            shell,
            command=f"patchpack context --grep {shlex.quote(grep_pattern(task))}",
            timeout=SHELL_TIMEOUT,
        )
    ]
    turns.append(
        call(shell, command="patchpack context " + " ".join(at_ranges(task.edits)), timeout=SHELL_TIMEOUT)
    )
    turns.append(call(shell, command=f"patchpack test {_tests(task)}", timeout=SHELL_TIMEOUT))
    turns += _puppy_edits(task)
    turns += [
        call(shell, command=f"patchpack test {_tests(task)}", timeout=SHELL_TIMEOUT),
        call(
            shell,
            command=f"git add {_files(task)} && patchpack split -m {_message(task)} && patchpack apply --all",
            timeout=SHELL_TIMEOUT,
        ),
    ]
    return turns


def _puppy_edits(task: Task) -> list[Turn]:
    return [
        call(
            "replace_in_file",
            file_path=path,
            replacements=[{"old_str": e.old, "new_str": e.new} for e in edits],
        )
        for path, edits in _by_file(task)
    ]


# -- Claude Code ------------------------------------------------------------------------------


def claude_naive(task: Task, root: str) -> list[Turn]:
    """Claude Code's own tools: Grep, Read (whole), Bash, Edit."""
    turns = [call("Grep", pattern=grep_pattern(task), output_mode="content", **{"-n": True})]
    for path, text in zip(task.paths, task.before, strict=True):
        total = len(text.splitlines())
        for offset in range(1, total + 1, CLAUDE_READ_LINES):
            args = {"file_path": f"{root}/{path}"}
            if total > CLAUDE_READ_LINES:
                args |= {"offset": offset, "limit": CLAUDE_READ_LINES}
            turns.append(call("Read", **args))
    turns.append(_bash(f"python -m pytest {_tests(task)}", "Run the tests"))
    turns += _claude_edits(task, root)
    turns += [
        _bash("git diff", "Show the change"),
        _bash(f"python -m pytest {_tests(task)}", "Run the tests again"),
        _bash(f"git add {_files(task)} && git commit -q -m {_message(task)}", "Commit"),
    ]
    return turns


def claude_patchpack(task: Task, root: str) -> list[Turn]:
    """The same tools after `patchpack integrate claude-code`: context packs through Bash, then
    a Read of each hunk's lines (Claude Code edits only a file it has read; a narrow Read is
    what the guard lets through), `patchpack test`, split and apply."""
    turns = [
        _bash(f"patchpack context --grep {shlex.quote(grep_pattern(task))}", "Locate"),
        _bash("patchpack context " + " ".join(at_ranges(task.edits)), "The hunks"),
    ]
    for path, edits in _by_file(task):
        # The first hunk's lines only: the pack above showed the others, and a Read of the
        # span from the first hunk to the last would be most of the file.
        first = min(edits, key=lambda e: e.old_start)
        start = max(1, first.old_start - AT_MARGIN)
        turns.append(
            call("Read", file_path=f"{root}/{path}", offset=start, limit=first.old_lines + 2 * AT_MARGIN)
        )
    turns.append(_bash(f"patchpack test {_tests(task)}", "Run the tests"))
    turns += _claude_edits(task, root)
    turns += [
        _bash(f"patchpack test {_tests(task)}", "Run the tests again"),
        _bash(
            f"git add {_files(task)} && patchpack split -m {_message(task)} && patchpack apply --all",
            "Land the change",
        ),
    ]
    return turns


def session(tasks: Sequence[Task], trajectory: Callable[[Task], list[Turn]]) -> list[Turn]:
    """One session making ``tasks`` one after another, then saying it is done."""
    turns = [turn for task in tasks for turn in trajectory(task)]
    return [*turns, say(f"Done: {len(tasks)} changes made, tested and committed.")]


def _bash(command: str, description: str) -> Turn:
    return call("Bash", command=command, description=description, timeout=SHELL_TIMEOUT * 1000)


def _claude_edits(task: Task, root: str) -> list[Turn]:
    return [
        call("Edit", file_path=f"{root}/{e.path}", old_string=e.old, new_string=e.new) for e in task.edits
    ]


def edits_in(turn: Turn) -> list[tuple[str, str]]:
    """(path, text replaced) for each edit a turn makes, in either client's tool."""
    found: list[tuple[str, str]] = []
    for c in turn.calls:
        found += _edits_of(c)
    return found


def _edits_of(c: ToolCall) -> list[tuple[str, str]]:
    args = c.arguments
    if c.name == "replace_in_file":
        return [(str(args["file_path"]), str(r["old_str"])) for r in args["replacements"]]
    if c.name in ("Edit", "MultiEdit"):
        edits = args.get("edits") or [args]
        return [(str(args["file_path"]), str(e["old_string"])) for e in edits]
    return []
