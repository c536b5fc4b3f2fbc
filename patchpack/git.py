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
