        self._env = {**os.environ, "GIT_INDEX_FILE": self._shown(self._index),
                     "GIT_EDITOR": ":", "GIT_PREFIX": "", "GIT_AUTHOR_NAME": name,
                     "GIT_AUTHOR_EMAIL": mail,
                     "GIT_AUTHOR_DATE": f"@{self.author.time} {_zone(self.author.offset)}"}
        if linked:
            self._env["GIT_DIR"] = str(self._git_dir)
        self._said: list[str] = []

    def run(self, message: str, *, tree: Oid, verify: bool,
            meanwhile: Callable[[Oid], None] | None = None) -> CommitRun:
        head = self._qg.repo.head_oid()
        assert head is not None
        self._qg.index_holds(tree)
        if verify and not self._hook("pre-commit"):
            return self._refused()
        try:
            # The pre-commit hook may have staged more, or less: git commits what the index
            # holds after it (read again only if the hook rewrote the index file).
            tree = self._qg.index_tree()
        except pygit2.GitError as e:
            return self._refused(f"the index cannot be committed: {e}")
        if tree == self._qg.tree_of(head):
            return self._refused("nothing to commit: the index is at HEAD")
        edit = self._git_dir / "COMMIT_EDITMSG"
        edit.write_bytes(encode(stripspace(message)))
        if not self._hook("prepare-commit-msg", self._shown(edit), "message"):
            return self._refused()
        if verify and not self._hook("commit-msg", self._shown(edit)):
            return self._refused()
        message = stripspace(decode(edit.read_bytes()))  # commit-msg may have rewritten it
        if not message:
            return self._refused("Aborting commit due to empty commit message.")
        oid = Oid(str(self._raw.create_commit(None, self.author, self.committer, encode(message),
                                              pygit2.Oid(hex=tree), [pygit2.Oid(hex=head)])))
        ref = "HEAD" if self._raw.head_is_detached else self._raw.head.name
        title = message.split("\n", 1)[0]
        if not self._qg.repo.update_ref(ref, oid, head, message=f"commit: {title}"):
            return self._refused(f"{ref} moved while the hooks ran; nothing was committed")
        # As with git, the post-commit hook's exit status changes nothing. Python would only
        # wait for it: ``meanwhile`` does its work then (on the other core, if there is one).
        post = self._start("post-commit")
        try:
            if meanwhile is not None:
                meanwhile(oid)
        finally:
            if post is not None:
                self._finish("post-commit", post)
        return CommitRun(oid, "\n".join(self._said))

    def _refused(self, why: str | None = None) -> CommitRun:
        return CommitRun(None, "\n".join([*self._said, *([why] if why else [])]).strip())

    def _hook(self, name: str, *args: str) -> bool:
        """Run hook ``name`` if there is one; False when it exits non-zero."""
        proc = self._start(name, *args)
        return proc is None or self._finish(name, proc)

    def _start(self, name: str, *args: str) -> subprocess.Popen[bytes] | None:
        """Start hook ``name``; None when there is none."""
        path = self._qg.hooks_dir() / name
        if not (path.is_file() and os.access(path, os.X_OK)):
            return None  # git ignores a hook that is not executable
        argv = [str(path), *args]
        try:
            return self._spawn(argv)
        except OSError as e:
            if e.errno != errno.ENOEXEC:
                raise
            return self._spawn(["/bin/sh", *argv])  # no #! line: git runs it with sh too

    def _finish(self, name: str, proc: subprocess.Popen[bytes]) -> bool:
        """Wait for a started hook and keep what it said; False when it exited non-zero."""
        out, _ = proc.communicate()
        said = decode(out).rstrip()
        if said:
            self._said.append(said)
        if proc.returncode != 0:
            self._said.append(f"(the {name} hook exited with status {proc.returncode})")
        return proc.returncode == 0

    def _spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        # git sends a hook's stdout to stderr; both are collected here, in order.
        return subprocess.Popen(argv, cwd=self._workdir, env=self._env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)


def stripspace(text: str) -> str:
    """A commit message as `git commit --cleanup=whitespace` keeps it: trailing whitespace
    and leading and trailing blank lines gone, runs of blank lines made one, a final newline."""
    out: list[str] = []
    gap = False
    for line in text.split("\n"):
        line = line.rstrip(" \t\r\n")  # git's isspace(), not Python's wider one
        if not line:
            gap = bool(out)
            continue
        if gap:
            out.append("")
        out.append(line)
        gap = False
    return "".join(line + "\n" for line in out)


def _zone(offset: int) -> str:
    sign = "-" if offset < 0 else "+"
    return f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when a file is rewritten (git writes a new index and renames it)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class Patcher:
    """Applies diffs to trees with `git apply --cached` in a private index, which is re-read
    only when the next diff targets another tree (a series of mails costs one process each)."""

    def __init__(self, qg: QueueGit) -> None:
        self._qg = qg
        self._tree: Oid | None = None

    def __enter__(self) -> Patcher:
        self._temp = self._qg._temp_index()
        self._env = self._temp.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._temp.__exit__(*exc)

    def apply(self, tree: Oid, diff: bytes) -> Oid:
        """The tree ``diff`` makes of ``tree``; DoesNotFit with git's words when it does not."""
        cwd = self._qg._workdir()
        self._qg.flush()
        if tree != self._tree:
            run_git(["read-tree", tree], cwd=cwd, env=self._env)
            self._tree = tree
        # git apply changes nothing when it fails, so the index still holds ``tree`` then.
        proc = run_git(["apply", "--cached", "--whitespace=nowarn", "-"], cwd=cwd,
                       env=self._env, input=diff, check=False)
        if proc.returncode != 0:
            raise DoesNotFit(decode(proc.stderr).strip())
        self._tree = Oid(decode(run_git(["write-tree"], cwd=cwd, env=self._env).stdout).strip())
        return self._tree


_SHOWN = ("-c", "core.quotePath=true")  # over run_git's false: names as people see them
_SHOW_SPLIT = re.compile(rb"(?:\A|(?<=\n))\0([0-9a-f]{40}(?:[0-9a-f]{24})?)\n")


def _utf8(text: str) -> bool:
    """Whether ``text`` is valid UTF-8 as it came (no bytes kept by surrogateescape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _prune_empty_dirs(directory: Path, top: Path) -> None:
    while directory != top and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


class _TempIndex:
    """A private index file for git commands (``GIT_INDEX_FILE``), removed afterwards."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def __enter__(self) -> dict[str, str]:
        import tempfile

        self._directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="index-", dir=self._directory)
        os.close(fd)
        os.unlink(name)  # git wants to create it, not to find an empty file
        self._path = name
        return {"GIT_INDEX_FILE": name}

    def __exit__(self, *exc: object) -> None:
        for leftover in (self._path, self._path + ".lock"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)


# -- objects written in a batch ---------------------------------------------------------------
# A series of 500 mails makes 2,000 objects; as loose objects that is 2,000 files written, and
# as many read again by the `git show` that measures the series.

_PACK_AT_LEAST = 100  # as git's transfer.unpackLimit: fewer objects are written loose
# A file's versions are a pack sooner: each loose one is the whole file, compressed again.
_SERIES_PACK_AT_LEAST = 16


if TYPE_CHECKING:
    class _MemoryStore(pygit2.OdbBackend):
        objects: dict[pygit2.Oid, tuple[int, bytes]]


@functools.cache
def _memory_store_type() -> type[_MemoryStore]:
    # Defined on first use: subclassing loads libgit2, which `check` and `run` never need.
    class MemoryStore(pygit2.OdbBackend):
        """An object database backend in memory (libgit2 asks it first, and writes to it)."""

        def __init__(self) -> None:
            super().__init__()
            self.objects: dict[pygit2.Oid, tuple[int, bytes]] = {}

        def read_cb(self, oid: pygit2.Oid) -> tuple[int, bytes]:
            return self.objects[oid]  # KeyError: libgit2 asks the next backend

        def read_prefix_cb(self, oid: pygit2.Oid) -> tuple[int, bytes, pygit2.Oid]:
            kind, data = self.objects[oid]  # pygit2 looks full ids up as prefixes too
            return kind, data, oid

        def read_header_cb(self, oid: pygit2.Oid) -> tuple[int, int]:
            kind, data = self.objects[oid]
            return kind, len(data)

        def exists_cb(self, oid: pygit2.Oid) -> bool:
            return oid in self.objects

        def exists_prefix_cb(self, oid: pygit2.Oid) -> pygit2.Oid:
            raise KeyError(oid)

        def write_cb(self, oid: pygit2.Oid, data: bytes, kind: int) -> None:
            self.objects[oid] = (int(kind), bytes(data))

        def refresh_cb(self) -> None:
            pass

        def __iter__(self) -> Iterator[pygit2.Oid]:
            return iter(list(self.objects))

    return MemoryStore  # type: ignore[return-value]
