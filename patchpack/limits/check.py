"""`patchpack check`: measure a change and judge it against the micro-patch limits."""

from __future__ import annotations

import json
from typing import NamedTuple

from patchpack.limits import diffs
from patchpack.limits.diffs import Limits, Verdict
from patchpack.limits.hunks import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from patchpack.git import Repo  # the door: `check --staged` runs git without it (#16)
    from patchpack.git.plain import Plain


class Checked(NamedTuple):
    label: str
    """What was measured: ``staged``, a commit, a file or a mail."""
    verdict: Verdict


def staged(repo: Repo | Plain, limits: Limits) -> list[Checked]:
    return [Checked("staged change", Verdict(diffs.measure(repo.staged_diff()), limits))]


def revision_range(repo: Repo, spec: str, limits: Limits) -> list[Checked]:
    return [
        Checked(f"commit {c.oid[:12]} {c.title}", Verdict(diffs.measure(c.diff), limits))
        for c in repo.commits_in_range(spec)
    ]


def diff_text(text: str, source: str, limits: Limits) -> list[Checked]:
    mails = diffs.split_mails(text)
    if mails is None:
        return [Checked(source, Verdict(diffs.measure_input(text, source=source), limits))]
    return [
        Checked(
            f"{source} patch {i}/{len(mails)} {mail.title}",
            Verdict(diffs.measure_input(mail.diff, source=f"{source} patch {i}/{len(mails)}"), limits),
        )
        for i, mail in enumerate(mails, 1)
    ]


def all_ok(results: list[Checked]) -> bool:
    return all(r.verdict.ok for r in results)


def render_text(results: list[Checked]) -> str:
    out: list[str] = []
    for r in results:
        v = r.verdict
        if len(results) > 1:
            out.append(r.label)
        out.append(f"files: {v.measure.file_count} / {v.limits.max_files}  {'ok' if v.files_ok else 'FAIL'}")
        out.append(f"diff lines: {v.measure.lines} / {v.limits.max_lines}  {'ok' if v.lines_ok else 'FAIL'}")
        for f in v.measure.files:
            name = f"{quote(f.old_path)} -> {quote(f.path)}" if f.old_path else quote(f.path)
            tags = [f.status] if f.status != "modified" else []
            tags += ["binary"] if f.binary else []
            out.append(f"  {f.lines:>5}  {name}" + (f" ({', '.join(tags)})" if tags else ""))
    return "\n".join(out)


def render_json(results: list[Checked]) -> str:
    return json.dumps(
        {"ok": all_ok(results), "results": [{"label": r.label, **r.verdict.as_dict()} for r in results]},
        indent=2,
    )


def next_step(results: list[Checked], *, staged_change: bool) -> str:
    """What to do when a change is over the limits."""
    if staged_change:
        return (
            "the change is over the micro-patch limits: queue it as micro-patches with "
            "`patchpack split`, or unstage part of it with `git reset -p` and commit the "
            "rest first"
        )
    return (
        "over the micro-patch limits: cut the change into micro-patches with "
        "`patchpack add --split FILE`, or split the commits with `git rebase -i`"
    )
