"""Tasks for the session bench: real commits of a repository, each to be made again by an agent.

A session replays N consecutive commits of the first-parent history, oldest first, in one
clone: each task starts where the one before it ended, at its commit's parent, so that the
agent's history grows over the session as a working day's does. The newest run of N
consecutive commits that all make tasks is taken, so the choice is the same every run.

A task is a commit C (not a merge) that modifies 1 or 2 text files in place, within the
micro-patch limits (so that either agent may land it as one commit), and whose change has a
Python test file to run: one C touches, else the smallest test file at C^ that names a touched
module. Commits are taken newest first, so the choice is the same every run. The agent starts
from a clone at C^; its edits are C's own hunks, each an exact replacement of old text by new.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_FILES = 2  # the micro-patch rule's: a task either agent can land as one commit
MAX_DIFF_LINES = 120
MAX_HUNKS = 6  # a session of a few edits, as an agent's one step is
TEST_FILE = re.compile(r"(^|/)(test_[^/]*|[^/]*_test)\.py$")


class TaskError(RuntimeError):
    """The repository cannot give a task (not a repository, no commit fits)."""


@dataclass(frozen=True)
class Edit:
    """One replacement in a file: ``old`` occurs exactly once in the file before the edit."""

    path: str
    old: str
    new: str
    old_start: int  # 1-based line of ``old`` in the file at C^
    old_lines: int
    symbol: str  # the function the hunk sits in, as git's hunk header names it, or ""


@dataclass(frozen=True)
class Task:
    commit: str
    subject: str
    paths: tuple[str, ...]
    edits: tuple[Edit, ...]
    tests: tuple[str, ...]
    before: tuple[str, ...]  # the text of each of ``paths`` at C^

    @property
    def symbol(self) -> str:
        """What an agent would search for first: the first hunk's function, else a word of it."""
        for edit in self.edits:
            if edit.symbol:
                return edit.symbol
        words = re.findall(r"[A-Za-z_][A-Za-z_0-9]{3,}", self.edits[0].old or self.edits[0].new)
        return words[0] if words else PurePosixPath(self.paths[0]).stem


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        raise TaskError(f"git {' '.join(args)} failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@ ?(.*)$")
_SYMBOL = re.compile(r"\b(?:def|class)\s+[A-Za-z_][A-Za-z_0-9]*")


def edits_of(path: str, before: str, diff: str) -> list[Edit] | None:
    """The hunks of a one-file ``diff`` as replacements; None when one is not unique in
    ``before`` (an agent could not make it with an exact replacement)."""
    edits: list[Edit] = []
    hunk: tuple[int, int, str] | None = None
    old: list[str] = []
    new: list[str] = []

    def close() -> bool:
        if hunk is None:
            return True
        text = "".join(old)
        if not text.strip() or before.count(text) != 1:
            return False
        edits.append(Edit(path, text, "".join(new), hunk[0], hunk[1], hunk[2]))
        return True

    for line in diff.splitlines(keepends=True):
        match = _HUNK.match(line)
        if match:
            if not close():
                return None
            symbol = _SYMBOL.search(match[3])
            hunk = (int(match[1]), int(match[2] or 1), symbol[0] if symbol else "")
            old, new = [], []
        elif hunk is not None and line.startswith("\\"):
            return None  # no newline at the end of a file: leave such commits out
        elif hunk is not None and line[:1] in (" ", "-", "+"):
            # The function the change is in: a def the hunk's context opens before its first
            # changed line is nearer than the one git's header names.
            opened = _SYMBOL.match(line[1:].strip())
            if opened and not any(o != n for o, n in zip(old, new, strict=False)) and len(old) == len(new):
                hunk = (hunk[0], hunk[1], opened[0])
            if line[0] != "+":
                old.append(line[1:])
            if line[0] != "-":
                new.append(line[1:])
    return edits if close() else None


def apply_edits(text: str, edits: list[Edit]) -> str:
    for edit in edits:
        text = text.replace(edit.old, edit.new, 1)
    return text


def tests_for(repo: Path, rev: str, paths: tuple[str, ...]) -> tuple[str, ...]:
    """The Python test files a change to ``paths`` runs: those it touches, else the smallest
    test file at ``rev`` that names a touched module."""
    touched = tuple(p for p in paths if TEST_FILE.search(p))
    if touched:
        return touched
    stems = {PurePosixPath(p).stem for p in paths if p.endswith(".py")}
    stems.discard("__init__")
    if not stems:
        return ()
    files = [f for f in git(repo, "ls-tree", "-r", "--name-only", rev).splitlines() if TEST_FILE.search(f)]
    # Best first: a test file named for the module, then one naming its dotted path (a.b.stem),
    # then one naming the module's word; the smallest within a rank.
    dotted = {".".join(PurePosixPath(p).with_suffix("").parts[-2:]) for p in paths if p.endswith(".py")}
    ranked: list[tuple[int, int, str]] = []
    for name in files:
        text = git(repo, "show", f"{rev}:{name}")
        if any(f"test_{stem}" in name or f"{stem}_test" in name for stem in stems):
            ranked.append((0, len(text), name))
        elif any(d in text for d in dotted):
            ranked.append((1, len(text), name))
        elif any(re.search(rf"\b{re.escape(stem)}\b", text) for stem in stems):
            ranked.append((2, len(text), name))
    return (min(ranked)[2],) if ranked else ()


def task_of(repo: Path, commit: str) -> Task | None:
    """The task commit ``commit`` makes, or None when it does not make one."""
    parents = git(repo, "rev-list", "--parents", "-n", "1", commit).split()[1:]
    if len(parents) != 1:
        return None
    status = git(
        repo, "diff-tree", "-r", "--no-commit-id", "--name-status", "-M", parents[0], commit
    ).splitlines()
    if not 1 <= len(status) <= MAX_FILES or any(not s.startswith("M\t") for s in status):
        return None
    paths = tuple(s.split("\t", 1)[1] for s in status)
    numstat = git(repo, "diff", "--numstat", parents[0], commit).splitlines()
    if any(line.startswith("-\t") for line in numstat):  # binary
        return None
    diff = git(repo, "diff", "-M", parents[0], commit)
    if len(diff.splitlines()) > MAX_DIFF_LINES:
        return None
    edits: list[Edit] = []
    texts: list[str] = []
    for path in paths:
        before = git(repo, "show", f"{parents[0]}:{path}")
        texts.append(before)
        after = git(repo, "show", f"{commit}:{path}")
        file_edits = edits_of(path, before, git(repo, "diff", parents[0], commit, "--", path))
        if file_edits is None or apply_edits(before, file_edits) != after:
            return None
        edits += file_edits
    if not 1 <= len(edits) <= MAX_HUNKS:
        return None
    tests = tests_for(repo, parents[0], paths)
    if not tests:
        return None
    subject = git(repo, "log", "-1", "--format=%s", commit).strip()
    return Task(commit, subject, paths, tuple(edits), tests, tuple(texts))


def find_tasks(
    repo: Path, count: int, *, scan: int = 400, accept: Callable[[Task], bool] = lambda task: True
) -> list[Task]:
    """The newest ``count`` consecutive first-parent commits among the last ``scan`` that all
    make tasks ``accept`` takes, oldest first; fewer when no run is that long (the longest,
    newest first)."""
    best: list[Task] = []
    run: list[Task] = []
    for commit in git(repo, "rev-list", "--first-parent", f"--max-count={scan}", "HEAD").split():
        task = task_of(repo, commit)
        run = [*run, task] if task is not None and accept(task) else []
        if len(run) > len(best):
            best = run
        if len(best) == count:
            break
    return best[::-1]


def clone_at(repo: Path, task: Task, into: Path) -> Path:
    """A clone of ``repo`` with its work tree at C^ on a branch of its own (no notes: a fresh
    ledger)."""
    git(Path("/"), "clone", "-q", "--no-checkout", str(repo.resolve()), str(into))
    git(into, "checkout", "-q", "-b", "task", f"{task.commit}^")
    return into


def tests_finish(repo: Path, scratch: Path, seconds: float) -> Callable[[Task], bool]:
    """Whether a task's tests finish within ``seconds`` at C^ (pass or fail): a session runs
    them four times, so a suite that starts real agents of its own makes no task."""
    clone: list[Path] = []

    def accept(task: Task) -> bool:
        if not clone:
            clone.append(clone_at(repo, task, scratch / "probe"))
        git(clone[0], "checkout", "-q", "-f", f"{task.commit}^")
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", *task.tests],
                cwd=clone[0],
                capture_output=True,
                timeout=seconds,
            )
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode in (0, 1)  # 1: a test failed; anything else did not run

    return accept
