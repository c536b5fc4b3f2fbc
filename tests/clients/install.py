"""The real agents, installed from their package registries into a cache, once.

- Code Puppy (``code-puppy`` from PyPI) in a virtual environment of its own;
- Claude Code (``@anthropic-ai/claude-code``) and ``ccusage`` from npm, in an npm prefix.

Each lands under the cache directory (``$PATCHPACK_CLIENTS_CACHE``, else ``<repo>/.cache/clients``,
which git ignores; never the user's HOME) in a directory named by its pinned versions, with a
marker file written last: a directory without its marker is a broken install, removed and done
again. A lock file keeps two processes (two pytest runs, a test and a bench) from installing at
once; the second waits and then finds the install done. Anything that fails raises
``InstallError`` with the installer's output: the tests that need a client fail, never skip.

Versions are pinned here and only here; change one and the next run installs it beside the old.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CODE_PUPPY = "0.0.946"
CLAUDE_CODE = "2.1.332"
CCUSAGE = "20.0.24"  # the first to keep a response's last usage figures (ccusage issues 888, 938)

CACHE_ENV = "PATCHPACK_CLIENTS_CACHE"
ROOT = Path(__file__).resolve().parents[2]
MARKER = ".installed"
INSTALL_TIMEOUT = 1200  # seconds: a cold npm install of Claude Code (a 400 MB binary) takes ~1 min
LOCK_TIMEOUT = 2 * INSTALL_TIMEOUT


class InstallError(RuntimeError):
    """An install failed; the message holds the command and the tail of its output."""


@dataclass(frozen=True)
class CodePuppy:
    venv: Path

    @property
    def program(self) -> Path:
        return self.venv / "bin" / "code-puppy"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


@dataclass(frozen=True)
class NpmClients:
    prefix: Path

    @property
    def claude(self) -> Path:
        return self.prefix / "bin" / "claude"

    @property
    def ccusage(self) -> Path:
        return self.prefix / "bin" / "ccusage"


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV, "")
    return Path(configured).resolve() if configured else ROOT / ".cache" / "clients"


def code_puppy(cache: Path | None = None) -> CodePuppy:
    """Code Puppy at the pinned version, installed if it is not yet."""
    cache = cache or cache_dir()
    venv = cache / f"code-puppy-{CODE_PUPPY}"
    with _installing(cache, venv) as todo:
        if todo:
            _run([sys.executable, "-m", "venv", str(venv)], cache=cache)
            _run(
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    f"code-puppy=={CODE_PUPPY}",
                ],
                cache=cache,
            )
            _check_version(
                [str(venv / "bin" / "python"), "-m", "pip", "show", "code-puppy"],
                f"Version: {CODE_PUPPY}",
                cache=cache,
            )
    return CodePuppy(venv)


def npm_clients(cache: Path | None = None) -> NpmClients:
    """Claude Code and ccusage at the pinned versions, installed if they are not yet."""
    cache = cache or cache_dir()
    prefix = cache / f"npm-claude-code-{CLAUDE_CODE}-ccusage-{CCUSAGE}"
    with _installing(cache, prefix) as todo:
        if todo:
            npm = shutil.which("npm")
            if npm is None:
                raise InstallError("npm is not on PATH: install node 20+ and npm, then run the tests again")
            # Claude Code's postinstall copies its native binary into place: scripts must run.
            _run(
                [
                    npm,
                    "install",
                    "--global",
                    "--prefix",
                    str(prefix),
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    "--ignore-scripts=false",
                    f"@anthropic-ai/claude-code@{CLAUDE_CODE}",
                    f"ccusage@{CCUSAGE}",
                ],
                cache=cache,
            )
            clients = NpmClients(prefix)
            _check_version([str(clients.claude), "--version"], CLAUDE_CODE, cache=cache)
            _check_version([str(clients.ccusage), "--version"], CCUSAGE, cache=cache)
    return NpmClients(prefix)


@contextmanager
def _installing(cache: Path, target: Path) -> Iterator[bool]:
    """Hold the cache's lock; yield whether ``target`` must be installed; mark it done after."""
    if (target / MARKER).exists():  # the common case: no lock needed to read a finished install
        yield False
        return
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".install.lock").open("w") as lock:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InstallError(
                        f"another process has held {cache}/.install.lock for "
                        f"{LOCK_TIMEOUT} s; end it, or remove the lock file if "
                        f"none is running"
                    ) from None
                time.sleep(0.5)
        try:
            done = (target / MARKER).exists()  # installed by whoever held the lock before us
            if not done:
                shutil.rmtree(target, ignore_errors=True)  # a half-done install: start again
            try:
                yield not done
            except BaseException:
                if not done:
                    shutil.rmtree(target, ignore_errors=True)
                raise
            if not done:
                (target / MARKER).write_text("ok\n")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _env(cache: Path) -> dict[str, str]:
    # Downloads are cached beside the installs, not in the user's HOME; nothing is asked.
    return {
        **os.environ,
        "PIP_CACHE_DIR": str(cache / "pip-cache"),
        "npm_config_cache": str(cache / "npm-cache"),
        "PIP_NO_INPUT": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "npm_config_update_notifier": "false",
    }


def _run(command: Sequence[str], *, cache: Path) -> str:
    try:
        proc = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            env=_env(cache),
            timeout=INSTALL_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        raise InstallError(f"{' '.join(command)} took over {INSTALL_TIMEOUT} s") from e
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr)[-4000:]
        raise InstallError(f"{' '.join(command)} exited {proc.returncode}:\n{output}")
    return proc.stdout


def _check_version(command: Sequence[str], expected: str, *, cache: Path) -> None:
    out = _run(command, cache=cache)
    if expected not in out:
        raise InstallError(f"{' '.join(command)} printed {out.strip()!r}, not {expected!r}")
