"""Settings: defaults < git config ``patchpack.*`` < ``PATCHPACK_*`` environment < flags.

Every setting is a field of :class:`Settings`. Its git config key and environment variable are
derived from the field name, so adding a setting is adding a field:
``max_files`` is ``patchpack.maxFiles`` and ``PATCHPACK_MAX_FILES``.
"""

from __future__ import annotations

import os

from patchpack.errors import BadInput

TYPE_CHECKING = False  # typing itself costs the guard a tenth of its start-up (#16)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any


class Settings:
    """Every setting, resolved by :meth:`load`; immutable once made.

    A plain class, not a dataclass: `dataclasses` imports `inspect`, a fifth of the start-up
    of the guard an agent runs before each tool call (#16). The annotated class attributes
    are the settings and their defaults; their type is the type of the default.
    """

    # the micro-patch check
    max_files: int = 2
    max_lines: int = 120
    tokenizer: str = "cl100k_base"
    # context packs
    context_budget: int = 50_000
    max_file_lines: int = 200
    max_hunk_lines: int = 80
    context_related: bool = True
    """Add to located Python code its file's imports and the definitions it uses."""
    context_fill: bool = False
    """Spend what the context budget leaves on the code around located hunks."""
    # the output limiter
    output_lines: int = 200
    max_line_chars: int = 400
    run_timeout: float = 0.0
    """Seconds before `patchpack run` kills the command; 0 means no limit."""
    run_keep: int = 20
    run_log_max: int = 32 << 20
    """Bytes one run log may take; beyond that its head and tail are kept. 0: no cap."""
    run_dir_max: int = 256 << 20
    """Bytes all run logs of a worktree may take; the oldest go first. 0: no cap."""
    test_command: str = ""
    """The test runner `patchpack test` runs; empty means pytest."""
    # the ledger's budgets
    daily_budget: int = 24_000_000
    minute_tokens: int = 1_000_000
    minute_requests: int = 50
    provider: str = "cerebras"
    """How requests are charged against the limits: cerebras, anthropic, openai or none."""
    max_completion_tokens: int = 0
    """Tokens each request reserves for its answer; 0: the provider's default."""
    # The truncation cadence: every `truncate_every` iterations (0: never) `next` and `apply`
    # remind the agent to run `truncate_command` with {keep} filled in.
    truncate_every: int = 2
    truncate_keep: int = 6
    truncate_command: str = "/truncate {keep}"

    @classmethod
    def load(
        cls,
        git_config: Callable[[str], str | None] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        **flags: Any,
    ) -> Settings:
        """Resolve every setting; ``flags`` set to None are ignored (the option was not given)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name in names():
            raw, source = None, ""
            if git_config is not None:
                raw, source = git_config(git_key(name)), f"git config {git_key(name)}"
            if env.get(env_name(name)) not in (None, ""):
                raw, source = env[env_name(name)], env_name(name)
            if raw is not None:
                values[name] = _parse(name, raw, source)
            if flags.get(name) is not None:
                values[name] = flags[name]
        unknown = set(flags) - set(names())
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return cls(**values)

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(names())
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"settings are immutable: cannot set {name}")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in names())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return "Settings(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in names()) + ")"


def names() -> tuple[str, ...]:
    """Every setting's name, in the order of :class:`Settings`."""
    return tuple(Settings.__annotations__)


def git_key(name: str) -> str:
    first, *rest = name.split("_")
    return "patchpack." + first + "".join(word.capitalize() for word in rest)


def env_name(name: str) -> str:
    return "PATCHPACK_" + name.upper()


def _parse(name: str, raw: str, source: str) -> Any:
    default = getattr(Settings, name)
    kind = type(default)
    raw = raw.strip()
    try:
        if kind is bool:
            lowered = raw.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        value = kind(raw)
    except ValueError:
        raise BadInput(
            f"{source}: expected {_describe(kind)}, got {raw!r}",
            hint=f"fix the value, e.g. `git config {git_key(name)} {default}`",
        ) from None
    if kind in (int, float) and value < 0:
        raise BadInput(f"{source}: must not be negative, got {raw!r}")
    return value


def _describe(kind: type) -> str:
    return {int: "a whole number", float: "a number", bool: "true or false"}.get(kind, "a string")
