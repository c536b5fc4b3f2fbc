"""`patchpack integrate code-puppy --plugin`: the plugin as a Code Puppy user plugin, for a Code
Puppy installed outside patchpack's Python environment (with uv or pipx, say).

Code Puppy loads ``~/.code_puppy/plugins/<name>/register_callbacks.py`` (always under the home
directory, whatever XDG says: code_puppy/plugins/__init__.py ``USER_PLUGINS_DIR``), after the
plugins installed through entry points, and skips a user plugin whose name an installed one
already took: with patchpack installed beside Code Puppy too, the plugin loads once.

The file it writes adds this environment's package directories to the end of Code Puppy's
``sys.path`` and imports the plugin from there. Compiled packages (pygit2) load only into the
Python version they were built for, so under another version the file loads nothing and says
why in Code Puppy's log.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import patchpack
from patchpack.agents.integrate import Integration, write_text

NAME = "patchpack"

_TEMPLATE = '''\
"""Written by `patchpack integrate code-puppy --plugin`: patchpack's Code Puppy plugin, from
the patchpack installed for Python {version} (run that command again after moving it)."""

import logging
import sys

_PATHS = {paths!r}

if sys.version_info[:2] != {version_tuple!r}:
    logging.getLogger(__name__).warning(
        "patchpack plugin not loaded: installed for Python {version}, this is %d.%d; "
        "install patchpack into Code Puppy's environment, or run `patchpack integrate "
        "code-puppy --plugin` from a patchpack on this Python", *sys.version_info[:2])
else:
    sys.path.extend(p for p in _PATHS if p not in sys.path)
    import patchpack.agents.code_puppy.register_callbacks  # noqa: F401
'''


def plugin_path(home: Path) -> Path:
    return home / ".code_puppy" / "plugins" / NAME / "register_callbacks.py"


def render() -> str:
    """The user plugin's text for this patchpack and this Python."""
    package_dir = str(Path(patchpack.__file__).resolve().parent.parent)
    paths = list(
        dict.fromkeys([package_dir, sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    )
    version = sys.version_info[:2]
    return _TEMPLATE.format(paths=paths, version=f"{version[0]}.{version[1]}", version_tuple=tuple(version))


def install(home: Path, *, dry_run: bool) -> Integration:
    """Write (or with ``dry_run`` only render) the user plugin under ``home``."""
    return write_text(plugin_path(home), render(), dry_run=dry_run)
