"""Hermetic tests: a temporary HOME, no system config, fixed identities and dates.

Every test gets a fresh git repository made with the real git program (``repo``), a way to
run the CLI in-process (``cli``) and the installed entry point (``patchpack`` on PATH, a
shim that runs this checkout's code).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from patchpack import clock
from patchpack.cli import cli as cli_group

import clients.install

ROOT = Path(__file__).resolve().parent.parent


def git(cwd: Path, *args: str, input: str | None = None, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def lines(n: int, prefix: str = "line") -> str:
    return "".join(f"{prefix} {i}\n" for i in range(1, n + 1))


@pytest.fixture(autouse=True)
def hermetic_seal(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        # PYTHONUNBUFFERED would hide a missing flush in a patchpack subprocess. PATCHPACK_NOW
        # stays: `PATCHPACK_NOW=+365d pytest` runs the suite a year ahead (.ci/run does).
        if (
            name.startswith(("GIT_", "PATCHPACK_", "PRE_COMMIT")) and name != clock.ENV
        ) or name == "PYTHONUNBUFFERED":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test User")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "test@example.com")
        monkeypatch.setenv(f"GIT_{who}_DATE", "1700000000 +0000")
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    # `patchpack` on PATH runs this checkout, for hooks and end-to-end tests.
    shim_dir = tmp_path_factory.getbasetemp() / "shim-bin"
    shim = shim_dir / "patchpack"
    if not shim.exists():
        shim_dir.mkdir(exist_ok=True)
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m patchpack "$@"\n')
        shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path_factory.getbasetemp() / "pre-commit"))


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], datetime]:
    """Stop patchpack's clock at an instant, in this process and in every patchpack it spawns."""

    def freeze(at: datetime) -> datetime:
        monkeypatch.setenv(clock.ENV, at.isoformat())
        return at

    return freeze


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty repository (no commits) on branch main; the current directory."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    monkeypatch.chdir(path)
    return path


@pytest.fixture
def committed(repo: Path) -> Path:
    """A repository with one commit holding a README."""
    write(repo / "README.md", "# test\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run the CLI in-process in the current directory; stdout and stderr kept apart."""
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None) -> Result:
        return runner.invoke(cli_group, list(args), input=input, catch_exceptions=False)

    return invoke


def run_patchpack(
    *args: str, cwd: Path, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed entry point as a subprocess."""
    return subprocess.run(
        ["patchpack", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        env=None if env is None else {**os.environ, **env},
    )


def run_killed_after_git(
    *args: str, cwd: Path, after: int, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """Run patchpack ``args`` and SIGKILL it as soon as the ``after``-th git process it
    started has ended: a kill at that moment. Returns code 0 when it ran fewer."""
    import shutil

    wrapper = tmp_path / "kill-after-git" / "git"
    count = wrapper.with_name("count")
    count.unlink(missing_ok=True)
    write(
        wrapper,
        f'#!/bin/sh\n"{shutil.which("git")}" "$@"\nstatus=$?\necho >> "{count}"\n'
        f'[ "$(wc -l < "{count}")" -eq {after} ] && kill -9 $PPID\n'
        "exit $status\n",
    )
    wrapper.chmod(0o755)
    return run_patchpack(*args, cwd=cwd, env={"PATH": f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}"})


# -- the real agents (tests/clients/): installed once per machine, cached, never skipped ------


@pytest.fixture(scope="session")
def npm_clients() -> clients.install.NpmClients:
    """Claude Code and ccusage from npm, at the versions tests/clients/install.py pins."""
    try:
        return clients.install.npm_clients()
    except clients.install.InstallError as e:
        pytest.fail(f"installing Claude Code and ccusage failed: {e}", pytrace=False)


@pytest.fixture(scope="session")
def code_puppy() -> clients.install.CodePuppy:
    """Code Puppy from PyPI in its own virtual environment, at the pinned version."""
    try:
        return clients.install.code_puppy()
    except clients.install.InstallError as e:
        pytest.fail(f"installing Code Puppy failed: {e}", pytrace=False)
