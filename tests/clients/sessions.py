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

from clients.install import CodePuppy, NpmClients

TIMEOUT = 300  # seconds for one headless session: Code Puppy took 150 on a busy 2-core machine
FAKE_KEY = "sk-patchpack-test-0000"
# Variables of the agents and providers that must not leak in from the developer's shell.
_FOREIGN = (
    "ANTHROPIC_",
    "CLAUDE",
    "CODE_PUPPY",
    "PUPPY_",
    "OPENAI_",
    "CEREBRAS_",
    "AWS_",
    "GOOGLE_",
    "VERTEX",
    "GEMINI_",
    "OTEL_",
)


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
        return (
            f"exit {self.proc.returncode}\n--- stdout\n{self.proc.stdout[-4000:]}\n"
            f"--- stderr\n{self.proc.stderr[-4000:]}"
        )


# -- Claude Code ------------------------------------------------------------------------------


def claude_env(*, home: Path, endpoint: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    return clean_env(
        os.environ if base is None else base,
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        ANTHROPIC_BASE_URL=endpoint,
        ANTHROPIC_API_KEY=FAKE_KEY,
        DISABLE_AUTOUPDATER="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
    )


def run_claude(
    clients: NpmClients,
    prompt: str,
    *,
    cwd: Path,
    home: Path,
    endpoint: str,
    allowed: Sequence[str] = ("Bash", "Write", "Edit", "Read"),
    args: Sequence[str] = (),
    timeout: float = TIMEOUT,
) -> Run:
    """``claude -p PROMPT --output-format json`` in ``cwd``, its tools ``allowed`` without a
    prompt (root may not use --dangerously-skip-permissions), under ``home``."""
    command = [
        str(clients.claude),
        "-p",
        prompt,
        "--output-format",
        "json",
        "--allowedTools",
        ",".join(allowed),
        *args,
    ]
    proc = subprocess.run(
        command,
        cwd=cwd,
        env=claude_env(home=home, endpoint=endpoint),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        result = None
    return Run(proc, result if isinstance(result, dict) else None)


# -- Code Puppy -------------------------------------------------------------------------------

PUPPY_MODEL = "scripted"
"""The model name Code Puppy is given: a ``custom_openai`` entry in extra_models.json. (A
``cerebras`` entry would not do: 0.0.946 reads its ``custom_endpoint`` but never passes the
URL on, so it would call the real Cerebras.)"""


def puppy_env(*, home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    # No XDG variables: Code Puppy then keeps everything in ~/.code_puppy, where its hook
    # trust store is in any case.
    env = clean_env(os.environ if base is None else base, HOME=str(home), NO_VERSION_UPDATE="1")
    return {k: v for k, v in env.items() if not k.startswith("XDG_")}


def puppy_home(home: Path, *, endpoint: str) -> Path:
    """Write Code Puppy's user config under ``home``: names (so it asks nothing), YOLO mode
    (shell commands run without a prompt), and the scripted model at ``endpoint``."""
    config = home / ".code_puppy"
    config.mkdir(parents=True, exist_ok=True)
    (config / "puppy.cfg").write_text(
        f"[puppy]\npuppy_name = Rex\nowner_name = Tester\nmodel = {PUPPY_MODEL}\nyolo_mode = true\n"
    )
    models = {
        PUPPY_MODEL: {
            "type": "custom_openai",
            "name": f"{PUPPY_MODEL}-model",
            "context_length": 128000,
            "custom_endpoint": {"url": f"{endpoint}/v1", "api_key": FAKE_KEY},
        }
    }
    (config / "extra_models.json").write_text(json.dumps(models, indent=2))
    return config


def trust_project_hooks(puppy: CodePuppy, root: Path, *, home: Path) -> None:
    """What `/hooks trust accept` does in Code Puppy started in ``root``: record the hash of
    .claude/settings.json's hooks in the user's trust store, through Code Puppy's own code."""
    code = (
        "import sys; from pathlib import Path\n"
        "from code_puppy_core_plugins.claude_code_hooks.trust import trust_project_hooks\n"
        "sys.exit(0 if trust_project_hooks(Path(sys.argv[1])) else 1)\n"
    )
    proc = subprocess.run(
        [str(puppy.python), "-c", code, str(root)],
        cwd=root,
        env=puppy_env(home=home),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise AssertionError(f"trusting {root}/.claude/settings.json failed:\n{proc.stderr}")


def run_code_puppy(
    puppy: CodePuppy,
    prompt: str,
    *,
    cwd: Path,
    home: Path,
    agent: str | None = None,
    usage_file: Path | None = None,
    timeout: float = TIMEOUT,
) -> Run:
    """``code-puppy -p PROMPT`` in ``cwd`` with the config `puppy_home` wrote under ``home``."""
    command = [str(puppy.program), "-p", prompt]
    if agent:
        command += ["--agent", agent]
    if usage_file:
        command += ["--usage-file", str(usage_file)]
    proc = subprocess.run(
        command,
        cwd=cwd,
        env=puppy_env(home=home),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Run(proc, None)
