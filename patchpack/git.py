"""The only door to git: pygit2 and the ``git`` program are used here and nowhere else.

The rest of patchpack sees :class:`Repo`, typed ids and plain values.
"""

from __future__ import annotations

import os
import re
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
        out = run_git(["rev-parse", "--path-format=absolute", "--git-common-dir"],
                      cwd=self.git_dir).stdout
        return Path(decode(out).strip())

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

    # -- ledger: notes trees, refs with compare-and-swap ----------------------------------

    def read_ref(self, name: str) -> Oid | None:
        """The object a ref points at (peeled through symbolic refs), or None."""
        ref = self._raw.references.get(name)
        return None if ref is None else Oid(str(ref.resolve().target))

    def update_ref(self, name: str, new: Oid, old: Oid | None, *, message: str) -> bool:
        """Move ``name`` to ``new`` only if it still points at ``old`` (None: does not exist).

        Returns False when another writer moved it first: the caller rebuilds and retries.
        """
        expected = old if old is not None else "0" * len(new)
        proc = run_git(["update-ref", "-m", message, name, new, expected],
                       cwd=self._raw.path, check=False)
        if proc.returncode == 0:
            return True
        if self.read_ref(name) != old:
            return False
        raise GitFailed(f"git update-ref {name} failed: {decode(proc.stderr).strip()}")

    def is_ancestor(self, ancestor: Oid, descendant: Oid) -> bool:
        """True when ``ancestor`` is ``descendant`` or in its history."""
        if ancestor == descendant:
            return True
        try:
            return bool(self._raw.descendant_of(descendant, ancestor))
        except (KeyError, ValueError, pygit2.GitError):
            return False

    def resolve_commit(self, rev: str) -> Oid:
        """The commit ``rev`` names; BadInput when it names none."""
        try:
            commit = self._raw.revparse_single(rev).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            raise BadInput(f"not a commit: {rev}", hint="give a revision such as HEAD or HEAD~1")
        return Oid(str(commit.id))

    def rev_list(self, spec: str) -> list[Oid]:
        """The commits of a revision range (``A..B``, or one revision and its history)."""
        try:
            return [Oid(o) for o in self.git("rev-list", spec, "--").split()]
        except GitFailed:
            raise BadInput(f"bad revision range: {spec}",
                           hint="give a range such as `HEAD~3..HEAD` or `origin/main..`") from None

    def commit_subject(self, oid: Oid) -> str:
        try:
            return str(self._raw[oid].message).partition("\n")[0]
        except (KeyError, ValueError):
            return ""

    def notes_top(self, notes_commit: Oid) -> list[NotesTop]:
        """The top level of the notes tree of ``notes_commit``."""
        tree = self._raw[notes_commit].peel(pygit2.Tree)
        return [NotesTop(e.name, f"{e.name} {e.id}") for e in tree]

    def notes_under(self, notes_commit: Oid, top: NotesTop) -> list[tuple[Oid, bytes]]:
        """Every note (annotated object, text) in one top-level entry, fan-out dirs walked."""
        tree = self._raw[notes_commit].peel(pygit2.Tree)
        out: list[tuple[Oid, bytes]] = []
        # Reading objects directly is ~100x faster than repo.notes() (DESIGN.md); the
        # objects a tree yields load lazily, without a second lookup by id.
        stack = [(tree[top.name], top.name)]
        while stack:
            obj, path = stack.pop()
            if isinstance(obj, pygit2.Tree):
                stack.extend((e, path + e.name) for e in obj)
            elif isinstance(obj, pygit2.Blob) and _NOTE_PATH.match(path):
                out.append((Oid(path), obj.data))
        return out

    def note_text(self, notes_commit: Oid | None, annotated: Oid) -> bytes | None:
        """The note on ``annotated`` in ``notes_commit``'s tree, wherever fan-out put it."""
        if notes_commit is None:
            return None
        tree = self._raw[notes_commit].peel(pygit2.Tree)
        path = self._note_path(tree, annotated)
        return None if path is None else bytes(tree[path].data)

    def write_note(self, notes_commit: Oid | None, annotated: Oid, text: bytes, *,
                   message: str) -> Oid:
        """A new notes commit on top of ``notes_commit`` with ``text`` as the note on
        ``annotated``. Built in memory; no ref moves (see :meth:`update_ref`)."""
        raw = self._raw
        parents = [] if notes_commit is None else [raw[notes_commit].peel(pygit2.Commit)]
        root = parents[0].tree if parents else None
        path = self._note_path(root, annotated) if root is not None else None
        if path is None:
            path = self._new_note_path(root, annotated)
        blob = raw.create_blob(text)
        tree_id = self._put(root, path.split("/"), blob)
        try:
            signature = raw.default_signature
        except (KeyError, pygit2.GitError):
            signature = _signature()
        commit = raw.create_commit(None, signature, signature, message, tree_id,
                                   [p.id for p in parents])
        return Oid(str(commit))

    def _note_path(self, root: pygit2.Tree, annotated: str) -> str | None:
        tree, done = root, ""
        while True:
            rest = annotated[len(done.replace("/", "")):]
            if rest in tree:
                return done + rest
            step = rest[:2]
            if step not in tree or tree[step].type_str != "tree" or len(rest) <= 2:
                return None
            tree, done = self._raw[tree[step].id], done + step + "/"

    def _new_note_path(self, root: pygit2.Tree | None, annotated: str) -> str:
        # Follow the fan-out git already made; start one when a level gets crowded, as git
        # and fast-import do, so one note never means rewriting a 100,000-entry tree.
        tree, done = root, ""
        while tree is not None:
            rest = annotated[len(done.replace("/", "")):]
            step = rest[:2]
            if step in tree and tree[step].type_str == "tree":
                tree, done = self._raw[tree[step].id], done + step + "/"
            elif len(tree) >= _FANOUT_AT:
                return done + step + "/" + rest[2:]
            else:
                return done + rest
        return annotated

    def _put(self, tree: pygit2.Tree | None, parts: list[str], blob: pygit2.Oid) -> pygit2.Oid:
        builder = self._raw.TreeBuilder(tree) if tree is not None else self._raw.TreeBuilder()
        if len(parts) == 1:
            builder.insert(parts[0], blob, pygit2.GIT_FILEMODE_BLOB)
        else:
            sub = tree[parts[0]] if tree is not None and parts[0] in tree else None
            subtree = self._raw[sub.id] if sub is not None else None
            builder.insert(parts[0], self._put(subtree, parts[1:], blob), pygit2.GIT_FILEMODE_TREE)
        return builder.write()

    # -- ledger: remotes (the git program speaks every transport) ---------------------------

    def default_remote(self) -> str:
        """The current branch's remote, else ``origin``, else the only remote."""
        branch = self.branch()
        configured = self.config_get(f"branch.{branch}.remote") if branch else None
        names = self.git("remote").split()
        for name in (configured, "origin", *(names if len(names) == 1 else [])):
            if name in names:
                return name
        raise BadInput("no remote to sync with" if not names else
                       f"several remotes ({', '.join(names)}) and none is origin",
                       hint="name one: `patchpack sync REMOTE`" if names else
                       "add one: `git remote add origin URL`")

    def remote_ref(self, remote: str, ref: str) -> Oid | None:
        """What ``ref`` points at on ``remote`` (one round trip), or None if it has none."""
        for line in self.git("ls-remote", "--", remote, ref).splitlines():
            oid, _, name = line.partition("\t")
            if name == ref:
                return Oid(oid)
        return None

    def fetch_ref(self, remote: str, ref: str, into: str) -> None:
        self.git("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote,
                 f"+{ref}:{into}")

    def push_ref(self, remote: str, ref: str) -> bool:
        """Push ``ref`` without force; False when the remote moved on (fetch and retry)."""
        proc = run_git(["push", "--porcelain", "--quiet", remote, f"{ref}:{ref}"],
                       cwd=self.workdir or self.git_dir, check=False)
        out = decode(proc.stdout)
        if proc.returncode == 0:
            return True
        if "[rejected]" in out and ("non-fast-forward" in out or "fetch first" in out):
            return False
        lines = (out + decode(proc.stderr)).strip().splitlines()
        raise GitFailed(f"git push {remote} {ref} failed: {lines[-1] if lines else 'no output'}")

    def notes_merge(self, ours: Oid | None, theirs_ref: str) -> Oid | None:
        """The notes commit merging ``ours`` with ``theirs_ref`` line by line (cat_sort_uniq).

        Merged on a private ref: `git notes merge` moves its ref without checking its old
        value, so the caller moves the real ref itself, with a compare-and-swap.
        """
        if ours is None:
            return self.read_ref(theirs_ref)
        scratch = f"refs/notes/patchpack-merge-{os.getpid()}"
        self.git("update-ref", scratch, ours)
        try:
            self.git("notes", f"--ref={scratch}", "merge", "--quiet", "-s", "cat_sort_uniq",
                     theirs_ref)
            return self.read_ref(scratch)
        finally:
            self.git("update-ref", "-d", scratch)


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


# -- ledger ---------------------------------------------------------------------------------

_NOTE_PATH = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?\Z")  # sha1 or sha256 object ids
_FANOUT_AT = 256  # entries in one notes tree level before new notes go one level down


@dataclass(frozen=True)
class NotesTop:
    """One entry at the top of a notes tree: a note, or a fan-out directory of notes.

    ``key`` names its content (path and object id): equal keys hold equal notes, which is
    what lets the ledger cache what it read from a subtree that has not changed.
    """

    name: str
    key: str


def _signature() -> pygit2.Signature:
    return pygit2.Signature("patchpack", "patchpack@localhost")


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
