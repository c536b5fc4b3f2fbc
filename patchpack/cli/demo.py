"""`patchpack demo`: the whole loop on a throw-away repository, each step shown as a user types it.

An agent writes a change of five files and about 300 lines at once; `check` rejects it, `split`
queues it as micro-patches, `apply --all` commits them one by one through the installed hooks,
and the agent's recorded spend ends up in the ledger notes that `budget` and `status` read.
Every command is real and runs as a subprocess, so what the demo prints is what a user sees.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import click

from patchpack.errors import BadInput

CAP = 15
"""Most output lines shown per step; the rest is counted, not printed."""

# The agent's change: five new modules of about 60 lines each.
_MODULES = {
    f"shop/{name}.py": "\n".join(
        [f'"""The {name} part of the shop."""', ""]
        + [
            line
            for i in range(15)
            for line in (
                f"def {name}_step_{i}(value):",
                f"    # step {i} of {name}",
                f"    return value * {i + 1} + {len(name)}",
                "",
            )
        ]
    )
    + "\n"
    for name in ("cart", "prices", "stock", "orders", "invoices")
}

# Variables that would point git or patchpack somewhere else than the demo's repository.
_FOREIGN = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_COMMON_DIR",
    "GIT_CEILING_DIRECTORIES",
)


def run(directory: str | None, *, echo: Callable[[str], None]) -> None:
    """Play the demo in a temporary directory, or in ``directory`` (kept afterwards)."""
    if directory is None:
        with tempfile.TemporaryDirectory(prefix="patchpack-demo-") as tmp:
            _walk(Path(tmp), echo)
        return
    root = Path(directory).resolve()
    if (root / "repo").exists():
        raise BadInput(
            f"{root / 'repo'} already exists", hint="give `patchpack demo --dir` a new or empty directory"
        )
    root.mkdir(parents=True, exist_ok=True)
    _walk(root, echo)


def _environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN and not k.startswith("PATCHPACK_")}
    env.update(
        {
            # No global identity is needed, and the user's own git config (signing, hooksPath,
            # patchpack.* limits) stays out of the demo, which shows the defaults.
            "GIT_AUTHOR_NAME": "Demo Agent",
            "GIT_AUTHOR_EMAIL": "agent@example.com",
            "GIT_COMMITTER_NAME": "Demo Agent",
            "GIT_COMMITTER_EMAIL": "agent@example.com",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
        }
    )
    # The hooks call `patchpack`; make sure they find this very installation.
    shim = root / ".demo-bin"
    shim.mkdir(exist_ok=True)
    (shim / "patchpack").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m patchpack "$@"\n')
    (shim / "patchpack").chmod(0o755)
    env["PATH"] = f"{shim}{os.pathsep}{env.get('PATH', '')}"
    return env


def capped(text: str, cap: int = CAP) -> list[str]:
    """The lines of ``text``, at most ``cap`` of them, then a count of what was left out."""
    lines = text.rstrip().splitlines()
    if len(lines) <= cap:
        return lines
    return [*lines[:cap], f"... {len(lines) - cap} more lines"]


def _walk(root: Path, echo: Callable[[str], None]) -> None:
    env = _environment(root)
    repo = root / "repo"

    def step(title: str, *argv: str, expect_fail: bool = False, cap: int = CAP) -> None:
        echo((f"\n## {title}\n" if title else "") + f"$ {shlex.join(argv)}")
        cmd = [sys.executable, "-m", "patchpack", *argv[1:]] if argv[0] == "patchpack" else argv
        proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
        for line in capped(proc.stdout + proc.stderr, cap):
            echo(f"    {line}")
        if (proc.returncode != 0) != expect_fail:
            raise RuntimeError(
                f"demo step failed unexpectedly (exit {proc.returncode}): "
                f"{shlex.join(argv)}\n{proc.stdout}{proc.stderr}"
            )

    echo(f"patchpack demo in {repo}")
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, env=env)
    (repo / "README.md").write_text("# shop\n")
    subprocess.run(["git", "add", "README.md"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "Start the shop"], cwd=repo, check=True, env=env)
    step("a repository with one commit; install patchpack's hooks", "patchpack", "init")

    for path, text in _MODULES.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    lines = sum(text.count("\n") for text in _MODULES.values())
    echo(f"\n## an agent writes {len(_MODULES)} files, {lines} lines, in one go")
    step("", "git", "add", "shop")
    step("the change is far over the micro-patch limits", "patchpack", "check", expect_fail=True)
    step(
        "queue it as micro-patches instead (the work tree goes back to HEAD)",
        "patchpack",
        "split",
        "-m",
        "Add the shop",
    )
    step("the series", "patchpack", "list")
    step("what the next commit will hold", "patchpack", "next")
    step(
        "the agent reports what its requests cost",
        "patchpack",
        "record",
        "--in",
        "5400",
        "--out",
        "820",
        "--model",
        "zai-glm-4.7",
        "--agent",
        "pack-leader",
    )
    step(
        "commit the whole queue, one micro-patch per commit, through the hooks", "patchpack", "apply", "--all"
    )
    # Longer than the other steps: the agent's spend is on the first (the lowest) commit.
    step(
        "every commit carries its ledger note; the agent's spend joined the first",
        "git",
        "log",
        "--notes=patchpack",
        "--oneline",
        cap=30,
    )
    step("spend against the limits", "patchpack", "budget")
    step("where things stand", "patchpack", "status")


# -- demo -------------------------------------------------------------------------------------


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=None,
    help="Build the demo repository here instead of a temporary directory.",
)
def demo(directory: str | None) -> None:
    """Play the whole loop on a throw-away repository: an agent's 5-file change checked, split,
    applied through the hooks, and its spend in the ledger (no network, a few seconds)."""
    run(directory, echo=click.echo)
