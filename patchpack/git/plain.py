"""A repository read through the git program alone: refs, commits, trees and blobs from one
`git cat-file --batch`, diffs from `git diff`. No libgit2, no `dataclasses`, no `typing`.

`status`, `next` and `check --staged` run at every step of an agent's loop, and libgit2 alone
costs them three interpreter start-ups (#16). :class:`Plain` has the reading methods of
:class:`~patchpack.git.door.Repo` that the queue and the ledger use to read, with the same
names and results, so their parsing serves both (``repo: Repo | Plain``).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from patchpack.git.where import DIFF_OPTIONS, config_getter, decode, find, run_git

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from patchpack.git.run import Oid
else:
    Oid = str  # typing.NewType at check time; a plain str is what it is at run time

_SHOWN = ("-c", "core.quotePath=true")  # over run_git's false: names as people see them
# A text file may hold NUL bytes, but never at the start of a diff line (each begins with a
# space, + or -): a NUL there is the format's, before each commit's id.
_SHOW_SPLIT = re.compile(rb"(?:\A|(?<=\n))\0([0-9a-f]{40}(?:[0-9a-f]{24})?)\n")


def show_diffs(cwd: str | Path, oids: Sequence[Oid], *, shown: bool = False) -> dict[Oid, str]:
    """Each commit's diff against its first parent, exactly as `patchpack check` sees it;
    ``shown``: names quoted as git shows them to people."""
    if not oids:
        return {}
    output = run_git([*(_SHOWN if shown else ()), "show", "--format=%x00%H", *DIFF_OPTIONS,
                      "--first-parent", "--root", *oids, "--"], cwd=cwd).stdout
    parts = _SHOW_SPLIT.split(output)
    return {Oid(decode(oid)): decode(diff.lstrip(b"\n"))
            for oid, diff in zip(parts[1::2], parts[2::2])}


class Plain:
    """The repository at or above ``start`` as git finds it (``GIT_DIR`` too)."""

    def __init__(self, start: str = ".") -> None:
        git_dir, top, self.is_bare = find(start)
        self.git_dir = Path(git_dir)
        self.workdir = Path(top) if top is not None else None
        self._cwd = top or git_dir  # where the door runs git (``Repo.git``)

    def git(self, *args: str) -> str:
        return decode(run_git(args, cwd=self._cwd).stdout)

    def git_ok(self, *args: str) -> bool:
        return run_git(args, cwd=self._cwd, check=False).returncode == 0

    @functools.cached_property
    def config_get(self) -> Callable[[str], str | None]:
        """The value git takes for a key (the config read once)."""
        return config_getter(self._cwd)

    @functools.cached_property
    def common_dir(self) -> Path:
        out = run_git(["rev-parse", "--path-format=absolute", "--git-common-dir"],
                      cwd=self.git_dir).stdout
        return Path(decode(out).strip())

    def staged_diff(self) -> str:
        """The staged change as `git diff --cached -M` prints it (GIT_INDEX_FILE honoured)."""
        return self.git("diff", "--cached", *DIFF_OPTIONS, "--")

    def commit_diffs(self, oids: Sequence[Oid], *, shown: bool = False) -> dict[Oid, str]:
        """Each commit's diff against its first parent (see the door's ``commit_diffs``)."""
        return show_diffs(self._cwd, oids, shown=shown)
