"""Where a repository is and what its config says, asked of the git program alone.

This is the part of the door the guard needs, and the guard runs before each tool call of an
agent (#16): it loads neither libgit2 nor `dataclasses` nor `typing`, and the rest of the door
(``run``, ``repo``) takes these functions from here. Nor `subprocess` (threads, selectors,
signal and more: 10 ms of the guard's start-up): :func:`find` and :func:`read_config` start
git with `os.posix_spawnp` (:func:`_git_output`); the rest of patchpack runs git through
:func:`run_git`.
"""

from __future__ import annotations

import os

from patchpack.errors import BadInput, Failed, NotARepository

TYPE_CHECKING = False  # typing costs the guard a tenth of its start-up
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Mapping, Sequence

# Decoding that keeps every byte (non-UTF-8 content and paths) and round-trips to bytes.
ENCODING = "utf-8"
ERRORS = "surrogateescape"

# The measure of DESIGN.md: `git diff -M` with 3 lines of context, whatever the user's config
# says about context, hunk merging, prefixes, colour, external diff drivers or path quoting.
DIFF_OPTIONS = (
    "-M",
    "-U3",
    "--inter-hunk-context=0",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)


def decode(data: bytes) -> str:
    return data.decode(ENCODING, ERRORS)


def encode(text: str) -> bytes:
    return text.encode(ENCODING, ERRORS)


class GitFailed(BadInput):
    """The git program refused what it was asked (bad revision, bad range, ...)."""


class RefMoved(Failed):
    """A ref was not at the value an update expected: another process moved it."""


def run_git(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run the git program; on failure raise :class:`GitFailed` with git's own message."""
    import subprocess

    proc = subprocess.run(
        ["git", "-c", "core.quotePath=false", *args],
        cwd=cwd,
        input=input,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
    )
    if check and proc.returncode != 0:
        message = decode(proc.stderr).strip().splitlines()
        raise GitFailed(f"git {args[0]} failed: {message[-1] if message else f'exit {proc.returncode}'}")
    return proc


def find(start: str | os.PathLike[str] = ".") -> tuple[str, str | None, bool]:
    """The repository at or above ``start`` as git finds it (``GIT_DIR`` too): its git dir,
    the top of its work tree (None from inside the git dir, or when bare), and whether it is
    bare. NotARepository outside any."""
    start = os.path.abspath(start)
    if not os.path.isdir(start):
        raise NotARepository(start)
    if _found is not None:
        return _found_at(start)
    return _find(start)


def _find(start: str) -> tuple[str, str | None, bool]:
    stdout, stderr = _git_output(
        [
            "rev-parse",
            "--absolute-git-dir",
            "--is-bare-repository",
            "--show-object-format",
            "--show-toplevel",
        ],
        start,
    )
    out = decode(stdout).splitlines()
    if len(out) < 3:  # git said why on stderr: not a repository, dubious ownership...
        message = decode(stderr).strip()
        if "not a git repository" in message:
            raise NotARepository(start)
        raise Failed(f"git cannot open the repository at {start}: {message}", hint="see `git status` there")
    if out[2] != "sha1":
        # libgit2 (pygit2 1.21, libgit2 1.9) opens no sha256 repository: refused here,
        # before any command reads or writes a thing (issue 15).
        raise BadInput(
            f"{out[0]} is a {out[2]} repository; patchpack works in sha1 "
            "repositories only (libgit2, which it uses, cannot read "
            f"{out[2]} ones yet)",
            hint="use git itself in this repository, or patchpack in one "
            "made by `git init --object-format=sha1`",
        )
    return out[0], out[3] if len(out) > 3 else None, out[1] == "true"


def read_config(cwd: str | os.PathLike[str] | None = None) -> dict[str, list[str]]:
    """Every config value git sees from ``cwd``, all levels in git's order (last one wins).

    Read through the git program, not libgit2, so GIT_CONFIG_GLOBAL, GIT_CONFIG_NOSYSTEM,
    includes and worktree config mean exactly what they mean to git.
    """
    if _found is not None:
        return _config_at(os.path.abspath(cwd or "."))
    return _read_config(cwd)


def _read_config(cwd: str | os.PathLike[str] | None) -> dict[str, list[str]]:
    return parse_config(_git_output(["config", "--list", "-z"], cwd)[0])


def _git_output(args: list[str], cwd: str | os.PathLike[str] | None) -> tuple[bytes, bytes]:
    """What ``git ARGS`` run in ``cwd`` prints on stdout and stderr, whatever its exit status
    (the callers read the output), as `run_git` runs it, without `subprocess`: stdin from
    /dev/null, the rest of the environment inherited. FileNotFoundError with no git."""
    where = [] if cwd is None else ["-C", os.fspath(cwd)]
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = os.posix_spawnp(
            "git",
            ["git", *where, "-c", "core.quotePath=false", *args],
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, err_w, 2),
            ],
        )
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    try:  # stderr after stdout: git says little there, far less than a pipe holds
        return read_all(out_r), read_all(err_r)
    finally:
        os.close(out_r)
        os.close(err_r)
        os.waitpid(pid, 0)


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def parse_config(out: bytes) -> dict[str, list[str]]:
    """What `git config --list -z` printed, each key (normalised) with its values."""
    config: dict[str, list[str]] = {}
    for item in decode(out).split("\0"):
        if item:
            key, _, value = item.partition("\n")
            config.setdefault(config_key(key), []).append(value)
    return config


def config_key(name: str) -> str:
    """Normalise a key: section and variable names are case-insensitive, subsections not."""
    section, _, rest = name.partition(".")
    middle, _, variable = rest.rpartition(".")
    return ".".join(p for p in (section.lower(), middle, variable.lower()) if p)


def config_getter(cwd: str | os.PathLike[str] | None = None) -> Callable[[str], str | None]:
    """The value git takes for a key, seen from ``cwd`` (None: outside any repository); the
    config is read once, when this is called."""
    config = read_config(cwd)

    def get(name: str) -> str | None:
        values = config.get(config_key(name))
        return values[-1] if values else None

    return get


# -- remembered in a long-lived process (the Code Puppy plugin, #18) ----------------------------

_found: dict[tuple[str, ...], tuple[str, str | None, bool]] | None = None
_configs: dict[str, tuple[tuple[object, ...], dict[str, list[str]]]] = {}
_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_COUNT",
    "HOME",
    "XDG_CONFIG_HOME",
)


def remember() -> None:
    """From now on, in this process, remember each repository found and each config read.

    The plugin asks both on every tool call, and they were two git processes a call. A found
    repository is asked again when its git dir is gone; a config is read again when a file
    it comes from changes (size, time or inode: `git config` replaces the file), or the
    environment that names them does. A file an ``include`` names is not watched.
    """
    global _found
    if _found is None:
        _found = {}


def remembering() -> bool:
    """Whether :func:`remember` was called: then configs come from its cache."""
    return _found is not None


def _found_at(start: str) -> tuple[str, str | None, bool]:
    assert _found is not None
    key = (start, *(os.environ.get(name, "") for name in _ENV))
    hit = _found.get(key)
    if hit is None or not os.path.isdir(hit[0]):
        hit = _found[key] = _find(start)
    return hit


def _stamp(where: str) -> tuple[object, ...]:
    """What the config seen from ``where`` depends on: its files' stat, the environment."""
    files = [
        os.environ.get("GIT_CONFIG_GLOBAL") or os.path.expanduser("~/.gitconfig"),
        os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "git", "config"),
        os.environ.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig",
    ]
    try:
        git_dir: str | None = find(where)[0]
    except (NotARepository, Failed, BadInput):
        git_dir = None
    if git_dir is not None:
        common = git_dir
        try:
            with open(os.path.join(git_dir, "commondir")) as f:
                common = os.path.join(git_dir, f.read().strip())
        except OSError:
            pass  # not a linked worktree: its git dir is the common one
        files += [os.path.join(common, "config"), os.path.join(git_dir, "config.worktree")]
    stats: list[object] = [git_dir, *(os.environ.get(name, "") for name in _ENV)]
    for path in files:
        try:
            st = os.stat(path)
            stats.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            stats.append(None)
    return tuple(stats)


def _config_at(where: str) -> dict[str, list[str]]:
    stamp = _stamp(where)
    held = _configs.get(where)
    if held is None or held[0] != stamp:
        held = _configs[where] = (stamp, _read_config(where))
    return held[1]
