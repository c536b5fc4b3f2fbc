"""Writing files whole or not at all."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def write_atomically(path: Path, data: bytes | Iterable[bytes | memoryview], *,
                     mode: int | None = None) -> None:
    """Write ``data`` (or its parts, one after the other) to a temporary file beside
    ``path``, then rename it over ``path``.

    Readers see the old file or the new one, never half of one; on failure the temporary
    file is removed. ``mode`` (e.g. 0o755 for a hook) is set before the rename; without it
    a file that is there keeps its mode and a new one gets the usual 0o666 less the umask
    (mkstemp's 0o600 made files the user shares, such as .claude/settings.json, private).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None and path.exists():
        mode = path.stat().st_mode & 0o7777
    while True:
        tmp = str(path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:  # O_EXCL as mkstemp; 0o666 as open(): the kernel takes the umask off
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            f.writelines([data] if isinstance(data, bytes) else data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
