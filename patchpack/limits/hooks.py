"""Plain git hooks: the scripts in ``hooks/``, installed and removed by `patchpack init`.

A hook that was there before is moved aside to ``NAME.pre-patchpack`` and still runs first;
`patchpack init --uninstall` puts it back. Our own hooks carry :data:`MARKER`, which is how a
second `init` recognises them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from patchpack.errors import Failed
from patchpack.git.files import write_atomically

TYPE_CHECKING = False
if TYPE_CHECKING:
    from patchpack.git import Repo  # the door: loaded by what uses it, not by an import (#16)

MARKER = "# patchpack-managed-hook"
LEGACY_SUFFIX = ".pre-patchpack"
NOTES_REF = "refs/notes/patchpack"

# hook name -> the patchpack command it runs
HOOKS: dict[str, str] = {
    "pre-commit": "check --staged",
    "post-commit": "ledger attach --quiet",
}

_TEMPLATE = """\
#!/bin/sh
{marker}: {name}
# Installed by `patchpack init`; `patchpack init --uninstall` removes it.
# A {name} hook that was here before is kept as {name}{legacy} and runs first.
legacy="$(dirname "$0")/{name}{legacy}"
if [ -x "$legacy" ]; then
    "$legacy" "$@" || exit $?
fi
if command -v patchpack >/dev/null 2>&1; then
    exec patchpack {command}
fi
echo "patchpack: the {name} hook needs patchpack on PATH (pip install patchpack)," >&2
echo "or remove the hook with: patchpack init --uninstall" >&2
exit 1
"""


class Action(NamedTuple):
    hook: str
    what: str


def script(name: str) -> str:
    """The text of the hook script ``name``, as kept in ``hooks/`` and installed by init."""
    return _TEMPLATE.format(marker=MARKER, name=name, legacy=LEGACY_SUFFIX, command=HOOKS[name])


def is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return False


def install(repo: Repo) -> list[Action]:
    """Install every hook of :data:`HOOKS`, keeping hooks that were there before."""
    hooks_dir = repo.hooks_dir()
    planned = []
    for name in HOOKS:
        path, legacy = hooks_dir / name, hooks_dir / (name + LEGACY_SUFFIX)
        exists = path.exists() or path.is_symlink()
        if exists and not is_ours(path) and (legacy.exists() or legacy.is_symlink()):
            raise Failed(
                f"both {path} and {legacy} exist and neither is patchpack's",
                hint=f"merge them by hand into {legacy}, remove {path}, then run `patchpack init`",
            )
        planned.append((name, path, legacy, exists and not is_ours(path), exists))
    hooks_dir.mkdir(parents=True, exist_ok=True)
    actions = []
    for name, path, legacy, foreign, exists in planned:
        if foreign:
            os.replace(path, legacy)
            what = f"installed; the hook that was there is kept as {legacy.name} and runs first"
        else:
            what = "updated" if exists else "installed"
        write_atomically(path, script(name).encode(), mode=0o755)
        actions.append(Action(name, what))
    _configure_notes(repo)
    return actions


def uninstall(repo: Repo) -> list[Action]:
    """Remove our hooks only, and put back the hooks they had moved aside."""
    hooks_dir = repo.hooks_dir()
    actions = []
    for name in HOOKS:
        path, legacy = hooks_dir / name, hooks_dir / (name + LEGACY_SUFFIX)
        if not is_ours(path):
            if path.exists():
                actions.append(Action(name, "left alone: not patchpack's"))
            continue
        path.unlink()
        if legacy.exists() or legacy.is_symlink():
            os.replace(legacy, path)
            actions.append(Action(name, f"removed; restored the hook kept as {legacy.name}"))
        else:
            actions.append(Action(name, "removed"))
    return actions


def _configure_notes(repo: Repo) -> None:
    # Notes follow `commit --amend` and `rebase` only when notes.rewriteRef names their ref.
    if NOTES_REF not in repo.config_get_all("notes.rewriteRef"):
        repo.config_add("notes.rewriteRef", NOTES_REF)


def show_notes(repo: Repo) -> bool:
    """Make plain `git log` show the ledger (notes.displayRef); False if it already did."""
    if NOTES_REF in repo.config_get_all("notes.displayRef"):
        return False
    repo.config_add("notes.displayRef", NOTES_REF)
    return True
