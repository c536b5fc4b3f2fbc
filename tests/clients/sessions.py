"""Run the real agents headless, hermetically, against a scripted endpoint.

Each run gets the HOME (and XDG directories) it is given, the endpoint's URL and a fake key,
and nothing of the caller's agent settings: variables that configure Claude Code, Code Puppy or
a model provider are dropped from the environment first, so a developer's own keys, models or
hooks never reach a test. Every run has a timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clients.install import NpmClients

TIMEOUT = 180  # seconds for one headless session; a scripted one takes a few
FAKE_KEY = "sk-patchpack-test-0000"
# Variables of the agents and providers that must not leak in from the developer's shell.
_FOREIGN = ("ANTHROPIC_", "CLAUDE", "CODE_PUPPY", "PUPPY_", "OPENAI_", "CEREBRAS_",
            "AWS_", "GOOGLE_", "VERTEX", "GEMINI_", "OTEL_")


def clean_env(base: Mapping[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.upper().startswith(_FOREIGN)}
    return {**env, **extra}


@dataclass(frozen=True)
class Run:
    """A finished headless session."""

    proc: subprocess.CompletedProcess[str]
    result: dict[str, Any] | None
    """Claude Code's ``--output-format json`` result; None for Code Puppy or unparsable."""

    def describe(self) -> str:
        return (f"exit {self.proc.returncode}\n--- stdout\n{self.proc.stdout[-4000:]}\n"
                f"--- stderr\n{self.proc.stderr[-4000:]}")


# -- Claude Code ------------------------------------------------------------------------------


def claude_env(*, home: Path, endpoint: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    return clean_env(
        os.environ if base is None else base,
        HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"), XDG_CACHE_HOME=str(home / ".cache"),
        ANTHROPIC_BASE_URL=endpoint, ANTHROPIC_API_KEY=FAKE_KEY,
        DISABLE_AUTOUPDATER="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_TELEMETRY="1", DISABLE_ERROR_REPORTING="1",
    )


def run_claude(clients: NpmClients, prompt: str, *, cwd: Path, home: Path, endpoint: str,
               allowed: Sequence[str] = ("Bash", "Write", "Edit", "Read"),
               args: Sequence[str] = (), timeout: float = TIMEOUT) -> Run:
    """``claude -p PROMPT --output-format json`` in ``cwd``, its tools ``allowed`` without a
    prompt (root may not use --dangerously-skip-permissions), under ``home``."""
    command = [str(clients.claude), "-p", prompt, "--output-format", "json",
               "--allowedTools", ",".join(allowed), *args]
    proc = subprocess.run(command, cwd=cwd, env=claude_env(home=home, endpoint=endpoint),
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        result = None
    return Run(proc, result if isinstance(result, dict) else None)


# -- Code Puppy -------------------------------------------------------------------------------
