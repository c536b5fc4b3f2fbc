"""What the plugin did, kept so `patchpack status` can show it: rewrites, refusals, narrowed
reads, capped outputs, masked outputs, routed models, waits and stops.

One JSON object a line in ``<git dir>/patchpack/plugin-actions.jsonl`` of the worktree the agent
works in. A line is written with one ``write`` on a file opened for appending, so lines from
two agents in one worktree do not interleave. It is a log of what happened, not a record of
spend (that is the ledger): a damaged line is skipped, and the file is cut to its newest half
when it passes ``MAX_BYTES``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from patchpack import clock
from patchpack.ledger.entries import timestamp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from patchpack.git import Repo  # the door: `status` counts through git/plain (#16)
    from patchpack.git.plain import Plain

LOG = Path("patchpack", "plugin-actions.jsonl")
MAX_BYTES = 1 << 20
# How `status` names each kind; {s} is the plural's s.
LABELS = {
    "rewrite": "command{s} rewritten",
    "refuse": "edit{s} refused",
    "narrow": "read{s} narrowed",
    "cap": "output{s} capped",
    "mask": "output{s} masked",
    "route": "run{s} routed",
    "wait": "wait{s} for the minute window",
    "stop": "run{s} stopped over budget",
}
KINDS = tuple(LABELS)


def record(repo: Repo, kind: str, detail: str) -> None:
    """Add one action to the log of ``repo``'s worktree."""
    path = repo.git_dir / LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (
        json.dumps({"ts": timestamp(clock.now()), "kind": kind, "detail": detail[:500]}, ensure_ascii=True)
        + "\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        _keep_newest_half(path)


def _keep_newest_half(path: Path) -> None:
    data = path.read_bytes()
    rest = data[len(data) // 2 :]
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(rest[rest.find(b"\n") + 1 :])
    os.replace(tmp, path)


def _read(repo: Repo | Plain) -> list[dict[str, object]]:
    try:
        text = (repo.git_dir / LOG).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    found = []
    for line in text.splitlines():
        try:
            action = json.loads(line)
        except ValueError:
            continue  # a damaged or foreign line: this is a log, not a record
        if isinstance(action, dict) and action.get("kind") in KINDS:
            found.append(action)
    return found


def counts(repo: Repo | Plain) -> dict[str, int]:
    """How many actions of each kind the log holds (kinds with none left out)."""
    seen = Counter(str(a["kind"]) for a in _read(repo))
    return {k: seen[k] for k in KINDS if seen[k]}


def routed(repo: Repo | Plain) -> dict[str, int]:
    """How many runs the router sent to each model, most first (a route's detail is
    ``MODEL: reason``)."""
    models = Counter(str(a.get("detail", "")).split(": ", 1)[0] for a in _read(repo) if a["kind"] == "route")
    return dict(models.most_common())


def describe(seen: dict[str, int], routed: dict[str, int] | None = None) -> str:
    """``counts`` in words for `patchpack status`: ``3 commands rewritten, 1 edit refused``,
    the models runs were routed to after theirs."""

    def words(kind: str, n: int) -> str:
        said = f"{n} " + LABELS[kind].format(s="s" if n != 1 else "")
        if kind == "route" and routed:
            said += " (" + ", ".join(f"{model} {k}" for model, k in routed.items()) + ")"
        return said

    return ", ".join(words(kind, n) for kind, n in seen.items())
