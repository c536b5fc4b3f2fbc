"""The only door to git: pygit2 and the ``git`` program are used here and nowhere else.

The rest of patchpack sees :class:`Repo`, typed ids and plain values.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NewType

import pygit2

from patchpack.errors import BadInput, Failed, NotARepository

Oid = NewType("Oid", str)
"""A full hexadecimal object id."""

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

# Decoding that keeps every byte (non-UTF-8 content and paths) and round-trips to bytes.
ENCODING = "utf-8"
ERRORS = "surrogateescape"


def decode(data: bytes) -> str:
    return data.decode(ENCODING, ERRORS)


def encode(text: str) -> bytes:
    return text.encode(ENCODING, ERRORS)


class GitFailed(BadInput):
    """The git program refused what it was asked (bad revision, bad range, ...)."""


@dataclass(frozen=True)
class CommitDiff:
    oid: Oid
    title: str
    diff: str


def run_git(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run the git program; on failure raise :class:`GitFailed` with git's own message."""
    proc = subprocess.run(
        ["git", "-c", "core.quotePath=false", *args],
        cwd=cwd,
        input=input,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
    )
    if check and proc.returncode != 0:
        message = decode(proc.stderr).strip().splitlines()
        raise GitFailed(
            f"git {args[0]} failed: {message[-1] if message else f'exit {proc.returncode}'}"
        )
    return proc


class Repo:
    """A repository opened at (or above) a directory."""

    def __init__(self, raw: pygit2.Repository) -> None:
        self._raw = raw
        self._config: dict[str, list[str]] | None = None

    @classmethod
    def discover(cls, start: str | os.PathLike[str] = ".") -> Repo:
        start = os.path.abspath(start)
        found = pygit2.discover_repository(start)
        if found is None:
            raise NotARepository(start)
        return cls(pygit2.Repository(found))

    # -- where things are -------------------------------------------------------------------

    @property
    def git_dir(self) -> Path:
        """The git dir of this worktree (``.git``, or ``.git/worktrees/NAME``)."""
        return Path(self._raw.path)

    @property
    def common_dir(self) -> Path:
        """The git dir shared by all worktrees (refs, objects, config)."""
        return Path(self.git("rev-parse", "--git-common-dir", cwd=self.git_dir).strip())

    @property
    def workdir(self) -> Path | None:
        return Path(self._raw.workdir) if self._raw.workdir else None

    @property
    def is_bare(self) -> bool:
        return bool(self._raw.is_bare)

    def hooks_dir(self) -> Path:
        """Where git looks for hooks, ``core.hooksPath`` respected."""
        where = self.git("rev-parse", "--git-path", "hooks").strip()
        return Path(self.workdir or self.git_dir, where).resolve()

    # -- running git ------------------------------------------------------------------------

    def git(self, *args: str, input: bytes | None = None) -> str:
        """Run git in this repository and return its standard output as text."""
        return decode(run_git(args, cwd=self.workdir or self.git_dir, input=input).stdout)

    def git_ok(self, *args: str) -> bool:
        return run_git(args, cwd=self.workdir or self.git_dir, check=False).returncode == 0

    # -- config -----------------------------------------------------------------------------

    def config_get(self, name: str) -> str | None:
        """The effective value of a config key across all levels, or None."""
        values = self.config_get_all(name)
        return values[-1] if values else None

    def config_get_all(self, name: str) -> list[str]:
        if self._config is None:
            self._config = read_config(self.workdir or self.git_dir)
        return self._config.get(config_key(name), [])

    def config_set(self, name: str, value: str) -> None:
        self.git("config", "--local", name, value)
        self._config = None

    def config_add(self, name: str, value: str) -> None:
        self.git("config", "--local", "--add", name, value)
        self._config = None

    # -- HEAD and history -------------------------------------------------------------------

    def head_oid(self) -> Oid | None:
        """The commit HEAD points at, or None in a repository with no commits yet."""
        if self._raw.head_is_unborn:
            return None
        return Oid(str(self._raw.head.target))

    def branch(self) -> str | None:
        """The short name of the checked-out branch, or None on a detached HEAD."""
        if self._raw.head_is_detached:
            return None
        ref = self._raw.references.get("HEAD")
        target = ref.target if ref is not None else ""
        return str(target).removeprefix("refs/heads/") or None

    def commits_in_range(self, spec: str) -> list[CommitDiff]:
        """Each commit of ``A..B`` (oldest first) with its diff against its first parent."""
        if ".." not in spec:
            spec = f"{spec}^!"  # a single revision: that commit on its own
        try:
            listed = self.git("rev-list", "--reverse", "--no-merges", spec, "--")
        except GitFailed:
            raise BadInput(
                f"bad revision range: {spec}",
                hint="give a range such as `HEAD~3..HEAD` or `origin/main..`",
            ) from None
        out = []
        for oid in listed.split():
            shown = self.git(
                "show", "--format=%s", *DIFF_OPTIONS, "--first-parent", "--root", oid, "--"
            )
            title, _, diff = shown.partition("\n")
            out.append(CommitDiff(Oid(oid), title, diff.lstrip("\n")))
        return out

    # -- diffs ------------------------------------------------------------------------------

    def staged_diff(self) -> str:
        """The staged change as `git diff --cached -M` prints it (GIT_INDEX_FILE honoured)."""
        # The git program reads GIT_INDEX_FILE, so this is right inside hooks run by
        # `git commit -a` and `git commit PATH` too, and it diffs against the empty tree
        # when there is no commit yet.
        return self.git("diff", "--cached", *DIFF_OPTIONS, "--")


def require_workdir(repo: Repo) -> Path:
    if repo.workdir is None:
        raise Failed("this is a bare repository: there is no work tree to act on")
    return repo.workdir


def read_config(cwd: str | os.PathLike[str] | None = None) -> dict[str, list[str]]:
    """Every config value git sees from ``cwd``, all levels in git's order (last one wins).

    Read through the git program, not libgit2, so GIT_CONFIG_GLOBAL, GIT_CONFIG_NOSYSTEM,
    includes and worktree config mean exactly what they mean to git.
    """
    out = run_git(["config", "--list", "-z"], cwd=cwd, check=False).stdout
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


def global_config_get(name: str) -> str | None:
    """A config value outside any repository (system and global levels)."""
    values = read_config().get(config_key(name), [])
    return values[-1] if values else None


# -- agent guard ------------------------------------------------------------------------------
# The guard (patchpack.guard) measures an agent's edit before it happens: the uncommitted change
# as it is, and what one file's part of it would become.


def uncommitted_diff(repo: Repo) -> str:
    """The work tree against HEAD (staged and unstaged), new untracked files included."""
    base = repo.head_oid() or repo.git("hash-object", "-t", "tree", "/dev/null").strip()
    tracked = repo.git("diff", *DIFF_OPTIONS, base, "--")
    listed = repo.git("ls-files", "--others", "--exclude-standard", "-z")
    root = require_workdir(repo)
    untracked = [_patch_text(None, _read_file(root / path), path)
                 for path in listed.split("\0") if path]
    return tracked + "".join(untracked)


def diff_against_head(repo: Repo, path: str, new: bytes | None) -> str:
    """The diff of ``path`` (relative to the work tree) from HEAD to ``new`` (None: deleted)."""
    return _patch_text(_head_blob(repo, path), new, path)


def _read_file(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return None


def _patch_text(old: pygit2.Blob | None, new: bytes | None, path: str) -> str:
    # libgit2 runs git's own xdiff and prints git's headers, so this text measures as
    # `git diff` would (checked against it in tests/test_guard.py).
    patch = pygit2.Patch.create_from(
        old, new, old_as_path=path, new_as_path=path, context_lines=3, interhunk_lines=0
    )
    return decode(patch.data) if patch is not None else ""


def _head_blob(repo: Repo, path: str) -> pygit2.Blob | None:
    raw = repo._raw
    if raw.head_is_unborn:
        return None
    try:
        entry = raw.head.peel(pygit2.Commit).tree[path]
    except KeyError:
        return None
    obj = raw[entry.id]
    return obj if isinstance(obj, pygit2.Blob) else None

    proc = run_git(["config", "--get", name], check=False)
    return decode(proc.stdout).strip() if proc.returncode == 0 else None


# -- context: the work diff and grep ----------------------------------------------------------

# Enough lines of context for any file: the whole file becomes one hunk, which context packs
# cut into windows themselves (enclosing functions, changed lines only).
WHOLE_FILE_CONTEXT = "-U2147483647"


@dataclass(frozen=True)
class GrepHit:
    path: str
    line: int
    """1-based line number in the work tree file."""
    text: str


@dataclass(frozen=True)
class GrepResult:
    hits: tuple[GrepHit, ...]
    binary: tuple[str, ...]
    """Tracked binary files that matched; git prints no lines for them."""


class BadPattern(BadInput):
    """git grep refused the regular expression."""


def _empty_tree(repo: Repo) -> str:
    # Hashed rather than spelled out, so it is right for SHA-256 repositories too.
    return repo.git("hash-object", "-t", "tree", "/dev/null").strip()


def work_diff(repo: Repo, *, base: str | None = None, side: str = "both",
              whole_files: bool = False) -> str:
    """The diff of the work in progress, as `git diff -M` prints it.

    ``side`` is ``both`` (`git diff BASE`: staged and unstaged), ``cached`` (`git diff --cached
    BASE`) or ``worktree`` (`git diff`: unstaged only, against the index). ``base`` defaults to
    HEAD, or to the empty tree in a repository with no commit yet. ``whole_files`` gives every
    changed file whole as context.
    """
    options = [*DIFF_OPTIONS, *([WHOLE_FILE_CONTEXT] if whole_files else [])]
    if side == "worktree":
        if base is not None:
            raise BadInput("--worktree diffs the work tree against the index; it takes no --base")
        return repo.git("diff", *options, "--")
    if base is None:
        base = "HEAD" if repo.head_oid() is not None else _empty_tree(repo)
    if not repo.git_ok("rev-parse", "--verify", "--quiet", "--end-of-options", f"{base}^{{tree}}"):
        raise BadInput(f"bad revision for --base: {base}",
                       hint="give a commit, e.g. `--base HEAD~1` or `--base main`")
    cached = ["--cached"] if side == "cached" else []
    return repo.git("diff", *cached, *options, base, "--")


def grep(repo: Repo, pattern: str, *, paths: Sequence[str] = ()) -> GrepResult:
    """`git grep -n -E PATTERN` over the tracked files of the work tree, paths root-relative.

    ``paths`` are pathspecs (globs such as ``*.py`` or ``src/``). No match is an empty result;
    a regular expression git refuses raises :class:`BadPattern` (exit 2).
    """
    proc = run_git(
        ["grep", "--no-color", "-n", "-z", "-E", "--full-name", "--no-recurse-submodules",
         "-e", pattern, "--", *paths],
        cwd=repo.workdir or repo.git_dir, check=False,
    )
    if proc.returncode not in (0, 1):
        message = decode(proc.stderr).strip().splitlines()
        reason = message[-1].removeprefix("fatal: ") if message else f"exit {proc.returncode}"
        raise BadPattern(f"bad --grep pattern {pattern!r}: {reason}",
                         hint="give an extended regular expression as `git grep -E` takes it")
    hits, binary = [], []
    for line in decode(proc.stdout).splitlines():
        path, sep, rest = line.partition("\0")
        number, sep2, text = rest.partition("\0")
        if sep and sep2:
            hits.append(GrepHit(path, int(number), text))
        elif line.startswith("Binary file ") and line.endswith(" matches"):
            binary.append(line.removeprefix("Binary file ").removesuffix(" matches"))
    return GrepResult(tuple(hits), tuple(binary))
