"""One user-facing error type and the one map from errors to exit codes.

Exit codes (DESIGN.md): 0 success; 1 the check failed or the work could not be done;
2 bad input or usage; 130 interrupted; 3 a bug in patchpack.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130


class PatchpackError(Exception):
    """An error meant for the user: a message, and the next command to run."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = f"patchpack: {self.message}"
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text


class Failed(PatchpackError):
    """The check failed or the work could not be done (limits, conflict, budget)."""

    exit_code = EXIT_FAILED


class BadInput(PatchpackError):
    """Bad input or usage: malformed diff, unsafe path, not a repository, bad range."""

    exit_code = EXIT_BAD_INPUT


class NotARepository(BadInput):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"not a git repository (or any parent up to /): {path}",
            hint="run patchpack inside a git work tree, or `git init` one first",
        )
