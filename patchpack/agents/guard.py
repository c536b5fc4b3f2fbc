"""`patchpack guard`: enforce the workflow on an agent's tool calls, through its PreToolUse hook.

The agent runs ``patchpack guard`` before each tool call with the event as JSON on stdin, in the
format of Claude Code's hooks (``hook_event_name``, ``tool_name``, ``tool_input``, ``cwd``,
``permission_mode``). Code Puppy's hook engine reads the same ``.claude/settings.json`` and
sends the same shape, with its own tool names and its own exit codes.

Answers, Claude Code (https://code.claude.com/docs/en/hooks, "PreToolUse decision control"):
exit 0 and, on stdout, ``{"hookSpecificOutput": {"hookEventName": "PreToolUse",
"permissionDecision": "deny" | "allow" | "ask", "permissionDecisionReason": ...,
"updatedInput": {...}}}``; a deny reason is shown to the model. Code Puppy
(code_puppy/hook_engine/executor.py): exit 1 blocks and stderr is the reason; it cannot rewrite
a call, so a rewrite becomes a refusal naming the command to run instead.

Nothing to say (an allowed call, an unknown event or tool): exit 0, no output. Anything that
goes wrong in here, malformed input included, lets the call through with a note on stderr:
a bug in patchpack must never stop the agent.
"""

from __future__ import annotations

import os

from patchpack.config import Settings
from patchpack.errors import NotARepository
from patchpack.git.where import config_getter, decode, encode, find
from patchpack.safejson import Refused, loads
from patchpack.text import counted

# What the guard imports is what every tool call of the agent waits for (#16): no typing, no
# dataclasses (they load inspect), no pathlib; json, re and shlex only where they are used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from patchpack.git import Repo
    from patchpack.limits import diffs

CLAUDE_EDITS = {"Edit", "MultiEdit", "Write"}
# Code Puppy expands edit_file into the next three (code_puppy/tools/__init__.py).
PUPPY_EDITS = {"edit_file", "create_file", "replace_in_file", "delete_snippet", "delete_file"}
# Code Puppy 0.0.946 names its own agent's shell tool `shell`; JSON agents still list the old name.
SHELLS = {"Bash": "claude", "agent_run_shell_command": "puppy", "shell": "puppy"}
READS = {"Read": "claude", "read_file": "puppy"}
_KNOWN = CLAUDE_EDITS | PUPPY_EDITS | SHELLS.keys() | READS.keys()
# Read shows these as images or pages, not as lines of text.
_NOT_TEXT = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".pdf", ".ipynb"}
# Hook payloads nest a few levels (MultiEdit: 4); deeper is refused before json.loads would
# recurse into it (a payload of 100,000 "[" raised RecursionError past `answer`, issue 15).
MAX_DEPTH = 100


class Answer:
    """What `patchpack guard` prints and how it exits."""

    __slots__ = ("exit_code", "stderr", "stdout")

    def __init__(self, stdout: str = "", stderr: str = "", exit_code: int = 0) -> None:
        self.stdout, self.stderr, self.exit_code = stdout, stderr, exit_code

    def _values(self) -> tuple[str, str, int]:
        return (self.stdout, self.stderr, self.exit_code)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Answer) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return "Answer({!r}, {!r}, {!r})".format(*self._values())


class Deny:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class Rewrite:
    __slots__ = ("approve", "command", "reason")

    def __init__(self, command: str, reason: str, *, approve: bool) -> None:
        self.command, self.reason = command, reason
        self.approve = approve  # Claude Code: "allow" (run it without asking), not "ask"


Decision = Deny | Rewrite | None


def answer(raw: str, *, limit_all: bool = False) -> Answer:
    """Decide on one hook event given as JSON text; never raises."""
    try:
        event = loads(raw, max_depth=MAX_DEPTH)
    except ValueError as e:
        return Answer(stderr=f"patchpack guard: malformed hook input ({e}); letting it through")
    if not isinstance(event, dict):
        return Answer(stderr="patchpack guard: hook input is not a JSON object; letting it through")
    try:
        return _answer(event, limit_all=limit_all)
    except Exception as e:  # fail open: see the module docstring
        return Answer(stderr=f"patchpack guard: {type(e).__name__}: {e}; letting it through")


def _answer(event: Mapping[str, Any], *, limit_all: bool) -> Answer:
    tool, args = event.get("tool_name"), event.get("tool_input")
    if event.get("hook_event_name") != "PreToolUse" or not isinstance(args, dict):
        return Answer()
    if not isinstance(tool, str) or tool not in _KNOWN:
        return Answer()
    decision = decide(
        tool,
        args,
        str(event.get("cwd") or os.getcwd()),
        limit_all=limit_all,
        bypass=event.get("permission_mode") == "bypassPermissions",
    )
    puppy = tool in PUPPY_EDITS or SHELLS.get(str(tool)) == "puppy" or READS.get(str(tool)) == "puppy"
    return _render(decision, args, puppy=puppy)


def decide(
    tool: str,
    args: Mapping[str, Any],
    cwd: str | os.PathLike[str],
    *,
    limit_all: bool = False,
    bypass: bool = False,
) -> Decision:
    """The guard's decision on one tool call: the hook and the Code Puppy plugin both ask here.

    May raise on a broken repository or hostile arguments: callers fail open.
    """
    cwd = os.fspath(cwd)
    if tool in CLAUDE_EDITS or tool in PUPPY_EDITS:
        return _edit(tool, args, cwd)
    if tool in SHELLS:
        return _shell(args, cwd, limit_all=limit_all, bypass=bypass)
    if tool in READS:
        return _read(tool, args, cwd)
    return None


def _render(decision: Decision, args: Mapping[str, Any], *, puppy: bool) -> Answer:
    if decision is None:
        return Answer()
    if puppy:  # exit 1 blocks in Code Puppy, and it has no way to take a rewritten call
        if isinstance(decision, Rewrite):
            return Answer(
                stderr=f"patchpack: run this instead: {decision.command}\n({decision.reason})", exit_code=1
            )
        return Answer(stderr=f"patchpack: {decision.reason}", exit_code=1)
    out: dict[str, Any] = {"hookEventName": "PreToolUse"}
    if isinstance(decision, Deny):
        out |= {"permissionDecision": "deny", "permissionDecisionReason": decision.reason}
    else:
        out |= {
            "permissionDecision": "allow" if decision.approve else "ask",
            "permissionDecisionReason": decision.reason,
            # the whole input, so it is right whether the agent merges or replaces it
            "updatedInput": {**args, "command": decision.command},
        }
    import json  # only to say something: an allowed call goes without it

    return Answer(stdout=json.dumps({"hookSpecificOutput": out}))


# -- where a path is --------------------------------------------------------------------------


class _Located:
    __slots__ = ("git_dir", "path", "rel", "top")

    def __init__(self, git_dir: str, top: str, path: str, rel: str) -> None:
        self.git_dir, self.top, self.path = git_dir, top, path
        self.rel = rel  # relative to the work tree, with / separators

    def repo(self) -> Repo:  # the whole door, libgit2 and all: only an edit needs it
        from pathlib import Path

        from patchpack.git import Repo

        return Repo(Path(self.git_dir), Path(self.top), bare=False)


def _locate(file_path: object, cwd: str) -> _Located | None:
    """The repository and work-tree path of a tool's file; None outside any work tree."""
    if not isinstance(file_path, str) or not file_path:
        return None
    # As pathlib spells it (no empty or "." parts), without loading pathlib.
    path = os.path.join(cwd, file_path)
    path = (
        "/" * path.startswith("/") + "/".join(part for part in path.split("/") if part not in ("", "."))
        or "."
    )
    # Resolve the directory, not the file: the file may not exist yet, or be a symlink.
    parent = _parent(path)
    while not os.path.exists(parent) and parent != _parent(parent):
        parent = _parent(parent)
    try:
        git_dir, top, _ = find(parent)
    except NotARepository:
        return None
    if top is None:
        return None
    real = os.path.join(os.path.realpath(_parent(path)), os.path.basename(path))
    under = os.path.join(os.path.realpath(top), "")
    if not real.startswith(under) or real == under:
        return None
    rel = real[len(under) :]
    if rel.split("/")[0] == ".git":
        return None
    return _Located(git_dir, top, real, rel)


def _parent(path: str) -> str:
    return os.path.dirname(path) or "."


def _settings(at: str | None) -> Settings:
    """The settings as seen from ``at`` (a work tree or git dir; None: no repository)."""
    return Settings.load(config_getter(at))


# -- edits: keep the uncommitted change a micro-patch -----------------------------------------


def _edit(tool: str, args: Mapping[str, Any], cwd: str) -> Decision:
    # Imported here: unidiff is only needed for edits, and the guard runs on every tool call.
    from patchpack.agents.integrate import SET_UP_FILES
    from patchpack.git import diff_against_head, uncommitted_diff
    from patchpack.limits import diffs
    from patchpack.limits.diffs import Limits, Measure, Verdict

    if tool == "edit_file" and "file_path" not in args:
        args = _puppy_payload(args.get("payload"))
    where = _locate(args.get("file_path"), cwd)
    if where is None:
        return None
    try:
        with open(where.path, "rb") as f:
            current: str | None = decode(f.read())
    except FileNotFoundError:
        current = None
    if tool == "delete_file":
        new = None
        if current is None:
            return None
    else:
        new = _edited(tool, args, current)
        if new is None or new == current:
            return None  # the tool itself will refuse, or nothing changes
    settings = _settings(where.top)
    repo = where.repo()
    limits = Limits(settings.max_files, settings.max_lines)
    # patchpack's own set-up files, waiting to be landed, are not the agent's change.
    now = Measure(tuple(f for f in diffs.measure(uncommitted_diff(repo)).files if f.path not in SET_UP_FILES))
    mine = diffs.measure(diff_against_head(repo, where.rel, None if new is None else encode(new)))
    after = Measure(tuple(f for f in now.files if where.rel not in (f.path, f.old_path)) + mine.files)
    grows = after.lines > now.lines or after.file_count > now.file_count
    if Verdict(after, limits).ok or not grows:
        return None
    return Deny(_too_big(where.rel, after, mine, limits, alone_fits=Verdict(mine, limits).ok))


def _too_big(
    rel: str, after: diffs.Measure, mine: diffs.Measure, limits: diffs.Limits, *, alone_fits: bool
) -> str:
    text = (
        f"this edit of {rel} would make the uncommitted change "
        f"{counted(after.file_count, 'file')} and {after.lines} diff lines, over the "
        f"micro-patch limits ({counted(limits.max_files, 'file')}, "
        f"{limits.max_lines} diff lines). "
    )
    if not alone_fits:
        return text + (
            f"The edit alone is {mine.lines} diff lines: make it in smaller "
            f"steps, landing each one (commit, or `patchpack split && patchpack "
            f"apply --all`) before the next."
        )
    return text + (
        "Land what you have first: `patchpack split && patchpack apply --all` "
        "(or commit it), then make this edit."
    )


def _puppy_payload(payload: object) -> Mapping[str, Any]:
    if isinstance(payload, str):
        try:
            payload = loads(payload, max_depth=MAX_DEPTH)
        except Refused:
            raise  # `answer` lets the call through, with a note
        except ValueError:
            return {}
    return payload if isinstance(payload, dict) else {}


def _edited(tool: str, args: Mapping[str, Any], current: str | None) -> str | None:
    """The file's text after the edit, or None when it cannot be told (the tool will fail)."""
    if "content" in args and tool in ("Write", "create_file", "edit_file"):
        content = args["content"]
        return content if isinstance(content, str) else None
    if tool == "Edit":
        edits: list[Any] = [args]
    elif tool == "MultiEdit":
        edits = args["edits"] if isinstance(args.get("edits"), list) else []
    elif "replacements" in args:
        edits = [
            {"old_string": r.get("old_str"), "new_string": r.get("new_str")}
            for r in args["replacements"]
            if isinstance(r, dict)
        ]
    elif "delete_snippet" in args:  # edit_file's payload
        edits = [{"old_string": args["delete_snippet"], "new_string": ""}]
    elif tool == "delete_snippet":  # removes the first occurrence, as Edit does
        edits = [{"old_string": args.get("snippet"), "new_string": ""}]
    else:
        return None
    text = current
    for edit in edits:
        text = _replace(text, edit) if isinstance(edit, dict) else None
        if text is None:
            return None
    return text


def _replace(text: str | None, edit: Mapping[str, Any]) -> str | None:
    old, new = edit.get("old_string"), edit.get("new_string")
    if not isinstance(old, str) or not isinstance(new, str):
        return None
    if text is None:
        return new if old == "" else None  # Edit with an empty old_string creates the file
    if old == "" or old not in text:
        return None
    return text.replace(old, new) if edit.get("replace_all") else text.replace(old, new, 1)


# -- shell commands: tests through `patchpack test`, the rest through `patchpack run` ---------

# Patterns, compiled (and `re` loaded) by the first call that needs one: a shell command
# that names neither patchpack nor its test runner is let through without (#16).
_ENV = r"(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*"
_LEAD = rf"^\s*{_ENV}"
_PYTEST = r"(?:pytest|py\.test|python(?:3(?:\.\d+)?)?\s+-m\s+pytest)"
_THROUGH_US = (
    rf"^\s*{_ENV}(?:patchpack|python(?:3(?:\.\d+)?)?\s+-m\s+patchpack)"
    rf"(?:\s|$)"
)
# What `patchpack test` does anyway: cap the output. Dropped from the end of a test command.
_CAP = r"(?:\s+2>&1)?\s*\|\s*(?:tail|head)(?:\s+-n)?\s+-?\d+\s*$"
_CONTROL = r"[|&;<>()`\n]|\$\("
# Builtins that change the shell the agent keeps between calls: wrapping them would lose that.
_STATEFUL = {
    "cd",
    "pushd",
    "popd",
    "export",
    "unset",
    "set",
    "source",
    ".",
    "alias",
    "unalias",
    "shopt",
    "umask",
    "ulimit",
    "trap",
    "exec",
    "exit",
}


def _shell(args: Mapping[str, Any], cwd: str, *, limit_all: bool, bypass: bool) -> Decision:
    command = args.get("command")
    if not isinstance(command, str) or not command.strip():
        return None
    if "patchpack" in command:
        import re

        if re.match(_THROUGH_US, command):
            return None
    if isinstance(args.get("cwd"), str):  # Code Puppy's shell tool takes its own cwd
        cwd = os.path.join(cwd, args["cwd"])
    try:
        git_dir, top, _ = find(cwd)
        at: str | None = top or git_dir
    except NotARepository:
        at = None
    rewritten = via_patchpack_test(command, _settings(at).test_command)
    if rewritten is not None:
        return Rewrite(
            rewritten,
            "patchpack: the test run goes through `patchpack test`, which caps its output",
            approve=True,
        )
    if limit_all:
        rewritten = via_patchpack_run(command)
        if rewritten is not None:
            # Not auto-approved: the user's permission prompt still sees the command. Headless
            # (`claude -p`) no one can answer "ask" and the call is refused with this reason, so
            # it names the command that runs.
            return Rewrite(
                rewritten,
                f"patchpack: output capped by `patchpack run`; if this call is refused, run `{rewritten}`",
                approve=bypass,
            )
    return None


def via_patchpack_test(command: str, test_command: str = "") -> str | None:
    """``command`` with its test run going through `patchpack test`, or None if it is not one.

    Recognised: ``pytest``, ``py.test``, ``python -m pytest`` (``python3``, ``python3.12``), or
    the configured test command, with the user's arguments kept as typed. It may follow
    ``cd DIR &&`` (or any ``A &&``/``A ;``) and may end in ``| tail -n N``, which is dropped.
    With a runner other than pytest configured, only that runner is recognised: `patchpack
    test` would not run pytest.
    """
    if not any(word in command for word in ("pytest", "py.test", *test_command.split()[:1])):
        return None  # what the patterns below would say, without loading `re`
    import re

    runner = _PYTEST
    if test_command.strip() and not re.fullmatch(_PYTEST + r"(?:\s.*)?", test_command.strip()):
        runner = r"\s+".join(re.escape(word) for word in test_command.split())
    pattern = re.compile(rf"^(?P<lead>\s*{_ENV}){runner}(?P<args>(?:\s.*)?)$", re.S)
    splits = [0] + [m.end() for m in re.finditer(r"&&|;", command)]
    for at in reversed(splits):
        head, tail = command[:at], re.sub(_CAP, "", command[at:])
        found = pattern.match(tail)
        if found is None or re.search(_CONTROL, found["args"]) or not _parses(head, tail):
            continue
        return f"{head}{found['lead']}patchpack test{found['args']}"
    return None


def via_patchpack_run(command: str) -> str | None:
    """``command`` run through `patchpack run --`, quoted so the shell does what it did."""
    import re

    lead = re.match(_LEAD, command)
    env = lead.group(0) if lead else ""
    rest = command[len(env) :]
    words = rest.split()
    if not words or (words[0] in _STATEFUL and not re.search(_CONTROL, rest)):
        return None
    if re.search(_CONTROL, rest) or not _parses("", rest):
        import shlex

        return f"patchpack run -- bash -c {shlex.quote(command.strip())}"
    return f"{env.lstrip()}patchpack run -- {rest.strip()}"


def _parses(*texts: str) -> bool:
    """Whether each text splits into words on its own (no quote left open across a split)."""
    import shlex

    try:
        for text in texts:
            shlex.split(text.rstrip("&;"))
    except ValueError:
        return False
    return True


# -- reads: no whole large files --------------------------------------------------------------


def _read(tool: str, args: Mapping[str, Any], cwd: str) -> Decision:
    ranged = ("offset", "limit") if tool == "Read" else ("start_line", "num_lines")
    if any(args.get(key) is not None for key in ranged):
        return None
    where = _locate(args.get("file_path"), cwd)
    if where is None or _suffix(where.path).lower() in _NOT_TEXT or not os.path.isfile(where.path):
        return None
    count = _text_lines(where.path)
    limit = _settings(where.top).max_file_lines
    if count is None or count <= limit:
        return None
    hint = "Read with offset and limit" if tool == "Read" else "read_file with start_line and num_lines"
    return Deny(
        f"{where.rel} has {count} lines, over the {limit} a whole-file read may have. "
        f"Read the part you need: `patchpack context --at {where.rel}:START-END`, or "
        f"find it with `patchpack context --grep PATTERN --path {where.rel}` "
        f"(or {hint})."
    )


def _suffix(path: str) -> str:
    """The file's suffix as pathlib has it: ``.png``, not for ``.bashrc``."""
    name = os.path.basename(path)
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _text_lines(path: str) -> int | None:
    """The number of lines of a text file; None for a binary file."""
    count, last = 0, b"\n"
    with open(path, "rb") as f:
        for i, block in enumerate(iter(lambda: f.read(1 << 16), b"")):
            if i == 0 and b"\0" in block[:8000]:
                return None
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")
