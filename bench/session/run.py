"""One session: a task's clone, a client, an agent's script, the endpoint, and what it billed."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from session import fairness, scripts
from session.tasks import Task, clone_at, git

from clients.endpoint import OUTPUT_TOKENS, Endpoint, Request, Turn
from clients.install import CodePuppy, NpmClients
from clients.sessions import Run, puppy_home, run_claude, run_code_puppy

PUPPY_AGENT = "pack-leader-cerebras-efficient"  # what `integrate code-puppy --plugin` writes
SESSION_TIMEOUT = 1800  # seconds: a session of a few tasks runs each one's tests twice


class SessionFailed(RuntimeError):
    """A session did not run its script through, or broke the fairness check."""


@dataclass
class Session:
    """What one agent's session on one task sent and what the ledger made of it."""

    requests: list[int] = field(default_factory=list)  # input tokens of each billed request
    output_tokens: int = 0
    client_input: int | None = None  # the client's own total of what it was billed
    cache_read: int | None = None
    ledger_total: int | None = None


def billed(ep: Endpoint, api: str) -> list[Request]:
    """The requests a provider bills: the API's own calls (not a token count, not a 404)."""
    return [r for r in ep.requests if r.api == api and not r.path.endswith("/count_tokens")]


def _patchpack(*args: str, cwd: Path, home: Path) -> None:
    env = {**os.environ, "HOME": str(home)}
    proc = subprocess.run(["patchpack", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise SessionFailed(f"patchpack {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")


def _check(run: Run, ep: Endpoint, script: list[Turn], what: str) -> None:
    if run.proc.returncode != 0 or len(ep.scripted) != len(script):
        raise SessionFailed(f"{what}: {len(ep.scripted)} of {len(script)} turns taken\n" + run.describe())
    violations = fairness.check(script, ep.scripted)
    if violations:
        raise SessionFailed(f"{what}: unfair trajectory: " + "; ".join(map(str, violations)))


def ledger_total(clone: Path) -> int:
    """Input tokens of the request entries in the clone's ledger: the notes and the spool."""
    notes = git(clone, "log", "--all", "--notes=patchpack", "--format=%N").splitlines()
    spool = clone / ".git" / "patchpack" / "pending.jsonl"
    pending = spool.read_text().splitlines() if spool.exists() else []
    total = 0
    for line in notes + pending:
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("kind") == "request":
                total += int(entry.get("in", 0))
    return total


def _tally(requests: list[Request]) -> Session:
    return Session(requests=[r.tokens for r in requests], output_tokens=OUTPUT_TOKENS * len(requests))


def prompt(tasks: list[Task]) -> str:
    return "Make these changes, one commit each, running each one's tests before and after:\n" + "\n".join(
        f"{i}. {t.subject} (tests: {' '.join(t.tests)})" for i, t in enumerate(tasks, 1)
    )


def code_puppy_session(puppy: CodePuppy, repo: Path, tasks: list[Task], agent: str, *, work: Path) -> Session:
    """``agent`` ("naive" or "patchpack") makes ``tasks`` in one Code Puppy session."""
    clone = clone_at(repo, tasks[0], work / "repo")
    home, usage = work / "home", work / "usage.json"
    home.mkdir()
    if agent == "patchpack":
        _patchpack("integrate", "code-puppy", "--plugin", cwd=clone, home=home)
        script = scripts.session(tasks, scripts.puppy_patchpack)
    else:
        script = scripts.session(tasks, scripts.puppy_naive)
    with Endpoint(script) as ep:
        puppy_home(home, endpoint=ep.url)
        run = run_code_puppy(
            puppy,
            prompt(tasks),
            cwd=clone,
            home=home,
            usage_file=usage,
            agent=PUPPY_AGENT if agent == "patchpack" else None,
            timeout=SESSION_TIMEOUT,
        )
    _check(run, ep, script, f"code-puppy {agent}")
    session = _tally(billed(ep, "openai"))
    reported: dict[str, Any] = json.loads(usage.read_text()) if usage.exists() else {}
    session.client_input = reported.get("input_tokens")
    session.cache_read = reported.get("cache_read_tokens")
    if agent == "patchpack":
        session.ledger_total = ledger_total(clone)
    return session


def claude_session(clients: NpmClients, repo: Path, tasks: list[Task], agent: str, *, work: Path) -> Session:
    """``agent`` makes ``tasks`` in one Claude Code session (`claude -p`)."""
    clone = clone_at(repo, tasks[0], work / "repo")
    home = work / "home"
    home.mkdir()
    root = str(clone.resolve())
    if agent == "patchpack":
        _patchpack("integrate", "claude-code", cwd=clone, home=home)
        script = scripts.session(tasks, lambda t: scripts.claude_patchpack(t, root))
    else:
        script = scripts.session(tasks, lambda t: scripts.claude_naive(t, root))
    with Endpoint(script) as ep:
        run = run_claude(
            clients,
            prompt(tasks),
            cwd=clone,
            home=home,
            endpoint=ep.url,
            allowed=("Bash", "Edit", "Read", "Grep"),
            timeout=SESSION_TIMEOUT,
        )
    _check(run, ep, script, f"claude-code {agent}")
    session = _tally(billed(ep, "anthropic"))
    usage = (run.result or {}).get("usage") or {}
    session.client_input = usage.get("input_tokens")
    session.cache_read = usage.get("cache_read_input_tokens")
    if agent == "patchpack":
        session.ledger_total = ledger_total(clone)
    return session


def run_agents(
    agents: tuple[str, ...], one: Callable[[str, Path], Session], progress: Callable[[str], None]
) -> dict[str, Session]:
    """Each agent's session, each in a scratch directory of its own."""
    done: dict[str, Session] = {}
    for agent in agents:
        with tempfile.TemporaryDirectory(prefix="session-bench-") as scratch:
            progress(f"{agent} agent: session started")
            done[agent] = one(agent, Path(scratch))
            progress(
                f"{agent} agent: {len(done[agent].requests)} requests, "
                f"{sum(done[agent].requests):,} input tokens"
            )
    return done
