"""The commands that capture billed usage: `ledger import`, `record --usage-json` (#17)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from patchpack.errors import BadInput, Failed, PatchpackError
from patchpack.git import Repo
from patchpack.git.files import write_atomically
from patchpack.ledger import transcript_files, transcripts, usage
from patchpack.safejson import Refused, loads

OFFSETS = Path("patchpack", "transcripts.json")
"""Per transcript, where the `Stop` hook's next import starts and what tells whether the file
is still the one read (`transcript_files.marks`), in the worktree's git dir."""
_SHOWN = 10
_MAX_JSON = 1 << 20


@click.command("import")
@click.argument("paths", nargs=-1, metavar="[TRANSCRIPT...]", type=click.Path(dir_okay=False))
@click.option(
    "--claude-code", is_flag=True, help="Claude Code transcripts: those named, else all of this project's."
)
@click.option(
    "--usage-file",
    "usage_files",
    multiple=True,
    metavar="FILE",
    help="A Code Puppy `--usage-file` (one headless run's totals). Repeatable.",
)
@click.option(
    "--hook",
    is_flag=True,
    help="Read a Claude Code Stop/SubagentStop hook's input on stdin and import what "
    "its transcripts gained since the last import. Never fails the agent.",
)
def import_usage(paths: tuple[str, ...], claude_code: bool, usage_files: tuple[str, ...], hook: bool) -> None:
    """Import the tokens the provider billed into the ledger; a second import adds nothing."""
    if hook:
        _hook()
        return
    if not (claude_code or paths or usage_files):
        raise BadInput(
            "nothing to import",
            hint="`patchpack ledger import --claude-code` or `patchpack ledger import --usage-file FILE`",
        )
    repo = Repo.discover()
    for name in paths:
        if not Path(name).is_file():
            raise BadInput(
                f"no transcript at {name}",
                hint="name Claude Code's .jsonl files, "
                "or none for this project's: `patchpack ledger import --claude-code`",
            )
    found: list[usage.Usage] = []
    for name in usage_files:
        try:
            found.append(usage.read_usage_file(Path(name)))
        except (OSError, ValueError) as e:
            reason = getattr(e, "strerror", None) or str(e)
            raise BadInput(
                f"{name}: not a usage file ({reason})",
                hint="give the file `code-puppy -p PROMPT --usage-file FILE` wrote",
            ) from None
    read = None
    if claude_code or paths:
        files = [Path(p) for p in paths] or _project_transcripts(repo)
        read = transcripts.read(files, {})
        found += read.usages
    _report(found, usage.capture(repo, found), read)


def _project_transcripts(repo: Repo) -> list[Path]:
    root = repo.workdir if repo.workdir is not None else Path.cwd()
    files = transcript_files.project_transcripts(root, os.environ, Path.home())
    if not files:
        where = transcript_files.project_dirs(root, os.environ, Path.home())[0]
        raise Failed(
            f"no Claude Code transcripts of this project in {where}",
            hint="name them: `patchpack ledger import --claude-code FILE.jsonl`",
        )
    return files


def _report(found: list[usage.Usage], added: int, read: usage.Read | None) -> None:
    billed = [u for u in found if u.tokens_in or u.tokens_out]
    total = [
        sum(u.tokens_in for u in billed),
        sum(u.tokens_out for u in billed),
        sum(u.cache_read for u in billed),
        sum(u.cache_write for u in billed),
    ]
    click.echo(
        f"imported {added} of {len(billed)} responses ({total[0]:,} in, {total[1]:,} "
        f"out, {total[2]:,} cache read, {total[3]:,} cache write in all); "
        f"{len(billed) - added} were already in the ledger"
        if billed
        else "no billed responses found"
    )
    if read is None:
        return
    if read.unfinished:
        click.echo(f"{read.unfinished} response(s) still being written: the next import takes them", err=True)
    for p in read.problems[:_SHOWN]:
        click.echo(f"skipped {p.where}:{p.line}: {p.reason}", err=True)
    if len(read.problems) > _SHOWN:
        click.echo(f"... and {len(read.problems) - _SHOWN} more lines skipped", err=True)


def _hook() -> None:
    # A Stop hook that exits 2 keeps Claude Code from stopping: whatever goes wrong here is
    # a note on stderr and exit 0, the spend is taken by the next import.
    try:
        raw = loads(sys.stdin.buffer.read(_MAX_JSON).decode("utf-8", "replace"), max_depth=16)
        if type(raw) is not dict:
            raise ValueError("the hook input is not a JSON object")
        files = [
            Path(raw[k])
            for k in ("transcript_path", "agent_transcript_path")
            if type(raw.get(k)) is str and raw[k]
        ]
        if not files:
            raise ValueError("the hook input names no transcript_path")
        repo = Repo.discover(Path(raw["cwd"])) if type(raw.get("cwd")) is str else Repo.discover()
        where = repo.git_dir / OFFSETS
        marks = _marks(where)
        # After each turn only what the turn wrote is read; an unchanged file is not opened.
        todo, starts, seen = transcript_files.resume(files, marks)
        read = transcripts.read(todo, starts)
        usage.capture(repo, read.usages)
        if read.offsets:
            write_atomically(
                where, json.dumps({**marks, **transcript_files.marks(read.offsets, seen)}).encode()
            )
    except (PatchpackError, OSError, ValueError) as e:
        click.echo(f"patchpack ledger import --hook: {e}", err=True)


def _marks(where: Path) -> dict[str, object]:
    try:
        raw = loads(where.read_text(encoding="utf-8"), max_depth=2, max_chars=_MAX_JSON)
    except (OSError, ValueError):
        return {}  # only a shortcut: without it the hook reads the transcripts whole
    if type(raw) is not dict:
        return {}
    return {k: v for k, v in raw.items() if type(v) in (int, list)}  # resume() checks them


def record_usage_json(source: str, *, model: str | None, agent: str | None, session: str | None) -> None:
    """`patchpack record --usage-json FILE|-`: one response's usage object (or the response)."""
    repo = Repo.discover()
    try:
        data = sys.stdin.buffer.read(_MAX_JSON + 1) if source == "-" else Path(source).read_bytes()
        if len(data) > _MAX_JSON:
            raise Refused("longer than 1 MiB")
        found = usage.from_usage_object(
            loads(data.decode("utf-8"), max_depth=32), model=model, session=session, agent=agent
        )
    except OSError as e:
        raise BadInput(f"cannot read {source}: {e.strerror}") from None
    except ValueError as e:  # UnicodeDecodeError and Refused too
        raise BadInput(
            f"{source}: not a usage object ({e})",
            hint='give a response\'s `usage` JSON, e.g. {"prompt_tokens": 5400, "completion_tokens": 820}',
        ) from None
    added = usage.capture(repo, [found])
    click.echo(
        f"pending: {found.tokens_in:,} in ({found.cache_read:,} cache read, "
        f"{found.cache_write:,} cache write), {found.tokens_out:,} out (usage); it "
        f"joins the note of the next commit"
        if added
        else "already in the ledger: nothing recorded"
    )
