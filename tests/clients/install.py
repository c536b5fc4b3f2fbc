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

import os
from dataclasses import dataclass
from pathlib import Path

CODE_PUPPY = "0.0.946"
CLAUDE_CODE = "2.1.332"
CCUSAGE = "20.0.24"

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
