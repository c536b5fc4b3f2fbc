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
    file is removed. ``mode`` (e.g. 0o755 for a hook) is set before the rename.
    """
    import tempfile  # here: 2 ms of start-up that `budget` on a warm cache need not pay

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.writelines([data] if isinstance(data, bytes) else data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
