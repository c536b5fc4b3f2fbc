"""`patchpack demo`: the loop on a throw-away repository, each step shown as a user types it."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# An agent's change: five new modules, about 300 lines in all.
_MODULES = {
    f"shop/{name}.py": "\n".join(
        [f'"""The {name} part of the shop."""', ""]
        + [line for i in range(12) for line in (
            f"def {name}_step_{i}(value):",
            f"    # step {i} of {name}",
            f"    return value * {i + 1} + {len(name)}",
            "",
        )]
    ) + "\n"
    for name in ("cart", "prices", "stock", "orders", "invoices")
}


def run(directory: str | None, *, echo: Callable[[str], None]) -> None:
    if directory is None:
        with tempfile.TemporaryDirectory(prefix="patchpack-demo-") as tmp:
            _walk(Path(tmp), echo)
    else:
        Path(directory).mkdir(parents=True, exist_ok=True)
        _walk(Path(directory), echo)


def _walk(root: Path, echo: Callable[[str], None]) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Demo Agent", "GIT_AUTHOR_EMAIL": "agent@example.com",
        "GIT_COMMITTER_NAME": "Demo Agent", "GIT_COMMITTER_EMAIL": "agent@example.com",
    }
    # The hooks call `patchpack`; make sure they find this very installation.
    shim = root / ".demo-bin"
    shim.mkdir(exist_ok=True)
    (shim / "patchpack").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m patchpack "$@"\n')
    (shim / "patchpack").chmod(0o755)
    env["PATH"] = f"{shim}{os.pathsep}{env.get('PATH', '')}"
    repo = root / "repo"

    def step(title: str, *argv: str, expect_fail: bool = False) -> None:
        echo((f"\n## {title}\n" if title else "") + f"$ {shlex.join(argv)}")
        cmd = [sys.executable, "-m", "patchpack", *argv[1:]] if argv[0] == "patchpack" else argv
        proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
        for line in (proc.stdout + proc.stderr).rstrip().splitlines():
            echo(f"  {line}")
        if (proc.returncode != 0) != expect_fail:
            raise RuntimeError(f"demo step failed unexpectedly: {shlex.join(argv)}")

    echo(f"patchpack demo in {repo}")
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, env=env)
    (repo / "README.md").write_text("# shop\n")
    step("a repository with one commit", "git", "add", "README.md")
    step("", "git", "commit", "-q", "-m", "Start the shop")
    step("install patchpack's hooks", "patchpack", "init")
    for path, text in _MODULES.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    step("an agent writes 5 files at once and stages them", "git", "add", "shop")
    step("the change is over the micro-patch limits", "patchpack", "check", expect_fail=True)
    step("so the pre-commit hook rejects it", "git", "commit", "-q", "-m", "Add the shop",
         expect_fail=True)
    step("stage one file only", "git", "reset", "-q")
    step("", "git", "add", "shop/cart.py")
    step("one small file is within the limits", "patchpack", "check")
    step("and commits through the hook", "git", "commit", "-q", "-m", "Add the cart")
    step("history", "git", "log", "--oneline")
