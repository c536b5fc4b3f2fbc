"""The token ledger: the pending spool, attaching to notes, rewrites, concurrency, sync."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchpack.git import Oid, Repo
from patchpack.ledger import cache as ledger_cache
from patchpack.ledger import store as ledger
from patchpack.ledger.entries import _parse_json

from conftest import git, run_patchpack, write

NOW = datetime(2026, 11, 24, 10, 0, 0, tzinfo=timezone.utc)


def note_lines(path: Path, rev: str = "HEAD") -> list[str]:
    text = git(path, "notes", "--ref=patchpack", "show", rev, check=False)
    return [line for line in text.splitlines() if line.strip()]


def note_ids(path: Path, rev: str = "HEAD") -> list[str]:
    return [json.loads(line)["id"] for line in note_lines(path, rev)]


def commit(path: Path, name: str, message: str | None = None) -> Oid:
    write(path / name, f"{name}\n")
    git(path, "add", name)
    git(path, "commit", "-q", "-m", message or f"add {name}")
    return Oid(git(path, "rev-parse", "HEAD").strip())


def record(repo: Path, n: int = 1, **fields: object) -> list[ledger.Entry]:
    opened = Repo.discover(repo)
    return [
        ledger.add_pending(
            opened,
            kind=str(fields.get("kind", "request")),
            tokens_in=100 + i,
            tokens_out=10,
            counter="usage",
            now=NOW,
            requests=1,
            agent=fields.get("agent"),
        )  # type: ignore[arg-type]
        for i in range(n)
    ]


# -- the entry format ---------------------------------------------------------------------------


def test_entry_line_has_a_fixed_key_order_and_leaves_out_absent_fields() -> None:
    entry = ledger.Entry(
        "abc",
        "2026-11-24T10:00:00Z",
        "request",
        5400,
        820,
        "usage",
        model="zai-glm-4.7",
        agent="pack-leader",
        requests=1,
    )
    assert entry.to_json() == (
        '{"v":1,"id":"abc","ts":"2026-11-24T10:00:00Z","kind":"request","model":"zai-glm-4.7",'
        '"agent":"pack-leader","in":5400,"out":820,"requests":1,"counter":"usage"}'
    )
    assert (
        ledger.Entry("x", "2026-11-24T10:00:00Z", "context", 3, 0, "cl100k_base").to_json()
        == '{"v":1,"id":"x","ts":"2026-11-24T10:00:00Z","kind":"context","in":3,"out":0,'
        '"counter":"cl100k_base"}'
    )


names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    st.builds(
        ledger.Entry,
        id=st.text("0123456789abcdef", min_size=1, max_size=21),
        ts=st.just("2026-11-24T10:00:00Z"),
        kind=st.sampled_from(["request", "run"]),
        tokens_in=st.integers(0, 10**9),
        tokens_out=st.integers(0, 10**9),
        counter=names,
        model=st.none() | names,
        agent=st.none() | names,
        session=st.none() | names,
        requests=st.integers(0, 1000),
        saved=st.integers(0, 10**9),
        cache_read=st.integers(0, 10**9),
        cache_write=st.integers(0, 10**9),
    )
)
def test_an_entry_survives_its_line(entry: ledger.Entry) -> None:
    line = entry.to_json()
    assert "\n" not in line
    assert ledger.parse_line(line) == entry


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(st.characters(exclude_categories=()), max_size=12),
    count=st.integers(0, 2**70),
    estimated=st.booleans(),
)
def test_an_entry_line_is_byte_for_byte_what_json_dumps_writes(
    text: str, count: int, estimated: bool
) -> None:
    """orjson writes the lines (#17): what notes already hold and `cat_sort_uniq` sorts
    stays the same bytes, lone surrogates and counts past 64 bits included."""
    entry = ledger.Entry(
        text, text, text, count, count, text, text, text, text, count, count, estimated, count, count
    )
    fields = {
        "v": 1,
        "id": text,
        "ts": text,
        "kind": text,
        "model": text,
        "agent": text,
        "session": text,
        "in": count,
        "out": count,
    }
    fields |= {k: count for k in ("cache_read", "cache_write", "requests", "saved") if count}
    fields |= {"estimated": True} if estimated else {}
    fields["counter"] = text
    assert entry.to_json() == json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def test_cache_figures_are_kept_apart_and_old_lines_read_as_none_cached() -> None:
    entry = ledger.Entry(
        "c",
        "2026-11-24T10:00:00Z",
        "request",
        5400,
        820,
        "usage",
        requests=1,
        cache_read=4000,
        cache_write=1000,
    )
    line = entry.to_json()
    assert line == (
        '{"v":1,"id":"c","ts":"2026-11-24T10:00:00Z","kind":"request","in":5400,'
        '"out":820,"cache_read":4000,"cache_write":1000,"requests":1,'
        '"counter":"usage"}'
    )
    assert ledger.parse_line(line) == _parse_json(line) == entry
    old = ledger.parse_line(
        '{"v":1,"id":"o","ts":"2026-11-24T10:00:00Z","kind":"request","in":5,"out":1,"counter":"usage"}'
    )
    assert (old.cache_read, old.cache_write) == (0, 0)
    bad = line.replace('"cache_read":4000', '"cache_read":-4')
    with pytest.raises(ValueError, match="cache_read"):
        ledger.parse_line(bad)


@pytest.mark.parametrize(
    "line, reason",
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"v":2,"id":"a","ts":"2026-11-24T10:00:00Z","kind":"x","counter":"c"}', "version"),
        ('{"v":1,"ts":"2026-11-24T10:00:00Z","kind":"x","counter":"c"}', "'id'"),
        ('{"v":1,"id":"a","ts":"yesterday","kind":"x","counter":"c"}', "'ts'"),
        ('{"v":1,"id":"a","ts":"2026-11-24T10:00:00Z","kind":"x","in":-1,"counter":"c"}', "'in'"),
        ('{"v":1,"id":"a","ts":"2026-11-24T10:00:00Z","kind":"x","in":1.5,"counter":"c"}', "'in'"),
        ('{"v":1,"id":"a","ts":"2026-11-24T10:00:00Z","kind":"x","in":true,"counter":"c"}', "'in'"),
    ],
)
def test_lines_that_are_not_entries_say_why(line: str, reason: str) -> None:
    entries, skipped = ledger.parse_note(f"\n{line}\n", "abc")
    assert entries == [] and len(skipped) == 1
    assert skipped[0].line == 2 and reason in skipped[0].reason


def test_add_pending_refuses_bad_values(committed: Path) -> None:
    repo = Repo.discover(committed)
    for bad in ({"kind": "Bad Kind"}, {"tokens_in": -1}, {"counter": " "}):
        args = {"kind": "request", "counter": "usage", **bad}
        with pytest.raises(ledger.BadInput):
            ledger.add_pending(repo, **args)  # type: ignore[arg-type]
    assert ledger.pending(repo) == ([], [])


# -- record and attach --------------------------------------------------------------------------


def test_record_then_commit_attaches_exactly_those_entries(committed: Path, cli) -> None:
    assert cli("init").exit_code == 0
    before = record(committed, 2)
    first = cli(
        "record",
        "--in",
        "5400",
        "--out",
        "820",
        "--model",
        "zai-glm-4.7",
        "--agent",
        "pack-leader",
        "--session",
        "s1",
    )
    assert first.exit_code == 0 and "next commit" in first.stdout
    commit(committed, "a.txt")  # through the installed post-commit hook
    lines = note_lines(committed)
    assert [json.loads(line)["id"] for line in lines[:2]] == [e.id for e in before]
    last = json.loads(lines[2])
    assert list(last) == [
        "v",
        "id",
        "ts",
        "kind",
        "model",
        "agent",
        "session",
        "in",
        "out",
        "requests",
        "counter",
    ]
    assert (last["in"], last["out"], last["agent"], last["counter"]) == (5400, 820, "pack-leader", "usage")
    assert len(lines) == 3 and ledger.pending(Repo.discover(committed)) == ([], [])
    commit(committed, "b.txt")
    assert note_lines(committed) == []  # nothing was pending for the second commit


def test_apply_attaches_its_own_entry(committed: Path) -> None:
    # What `patchpack apply` does: record its spend, commit, attach to that commit.
    repo = Repo.discover(committed)
    entry = ledger.add_pending(repo, kind="apply", tokens_in=1200, counter="cl100k_base")
    oid = commit(committed, "patch.txt")
    assert ledger.attach_pending(repo, oid) == [entry]
    assert note_ids(committed) == [entry.id]
    assert ledger.attach_pending(repo, oid) == []


def test_an_existing_note_is_appended_to(committed: Path, cli) -> None:
    git(committed, "notes", "--ref=patchpack", "add", "-m", "reviewed by hand")
    entries = record(committed, 2)
    r = cli("ledger", "attach")
    assert r.exit_code == 0 and "attached 2 entries" in r.stdout
    lines = note_lines(committed)
    assert lines[0] == "reviewed by hand"
    assert [json.loads(line)["id"] for line in lines[1:]] == [e.id for e in entries]
    budget = cli("budget", "--json")
    assert json.loads(budget.stdout)["total"]["entries"] == 2
    assert "line 1: not JSON (skipped)" in budget.stderr


def test_with_no_commit_yet_entries_wait(repo: Path, cli) -> None:
    assert cli("init").exit_code == 0
    entries = record(repo, 3)
    r = cli("ledger", "attach")
    assert r.exit_code == 0 and "3 pending entries wait" in r.stdout
    commit(repo, "first.txt")
    assert note_ids(repo) == [e.id for e in entries]


def test_attach_to_a_named_revision_and_bad_revisions(committed: Path, cli) -> None:
    first = git(committed, "rev-parse", "HEAD").strip()
    commit(committed, "b.txt")
    entries = record(committed)
    assert cli("ledger", "attach", "nope").exit_code == 2
    assert len(ledger.pending(Repo.discover(committed))[0]) == 1  # nothing changed
    assert cli("ledger", "attach", "HEAD~1").exit_code == 0
    assert note_ids(committed, first) == [entries[0].id]


def test_corrupt_spool_lines_are_kept_aside_not_fatal(committed: Path, cli) -> None:
    record(committed)
    spool = committed / ".git" / "patchpack" / "pending.jsonl"
    spool.write_text(spool.read_text() + "\n{garbage\n")
    assert "pending spool line 3: not JSON" in cli("budget").stderr
    assert cli("ledger", "attach").exit_code == 0
    assert len(note_lines(committed)) == 1
    assert (spool.parent / "pending.rejected").read_text() == "{garbage\n"


def test_an_attach_stopped_after_moving_the_ref_does_not_attach_twice(committed: Path) -> None:
    repo = Repo.discover(committed)
    (entry,) = record(committed)
    spool = committed / ".git" / "patchpack" / "pending.jsonl"
    saved = spool.read_bytes()
    ledger.attach_pending(repo, repo.head_oid())  # type: ignore[arg-type]
    # As if the process died between moving the ref and emptying the spool:
    spool.write_bytes(saved)
    (spool.parent / "attaching").write_text(repo.read_ref(ledger.NOTES_REF) or "")
    other = commit(committed, "b.txt")
    assert ledger.attach_pending(repo, other) == []
    assert note_lines(committed, "HEAD") == [] and note_ids(committed, "HEAD~1") == [entry.id]


def test_notes_in_fan_out_directories_are_found_and_kept(committed: Path) -> None:
    # fast-import (like `git notes` on a big ledger) puts notes in fan-out directories.
    commits = []
    stream = []
    for i in range(300):
        stream.append(
            f"commit refs/heads/many\nmark :{i + 1}\ncommitter A <a@b> 1700000000 +0000"
            f"\ndata 2\nc\n{'from refs/heads/main^0' if i == 0 else ''}\n"
        )
    stream.append("commit refs/notes/patchpack\ncommitter A <a@b> 1700000000 +0000\ndata 2\nn\n")
    for i in range(300):
        line = ledger.Entry(f"id{i}", "2026-11-24T10:00:00Z", "request", i, 0, "usage").to_json()
        stream.append(f"N inline :{i + 1}\ndata {len(line) + 1}\n{line}\n")
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=committed, check=True, text=True, input="".join(stream) + "\n"
    )
    assert "/" in git(committed, "ls-tree", "-r", "--name-only", "refs/notes/patchpack")
    commits = git(committed, "rev-list", "refs/heads/many", "^main").split()
    repo = Repo.discover(committed)
    assert ledger.read(repo).notes == 300
    (entry,) = record(committed)
    ledger.attach_pending(repo, Oid(commits[7]))
    assert len(note_lines(committed, commits[7])) == 2 and note_ids(committed, commits[7])[1] == entry.id
    paths = git(committed, "ls-tree", "-r", "--name-only", "refs/notes/patchpack").split()
    assert len(paths) == 300 and all("/" in p for p in paths)
    held = ledger.read(repo)
    assert len(held.entries) == 301 and held.skipped == []


def test_a_series_of_notes_written_at_once_fans_out_as_one_at_a_time_would(committed: Path) -> None:
    # `apply --all` writes a whole series' notes in one notes commit: past 256 entries in a
    # directory, new notes go one level down, as when they come one by one.
    repo = Repo.discover(committed)
    commits = [Oid(f"{i:040x}") for i in range(1, 601)]
    first = repo.write_notes(
        None, {c: f"n{i}\n".encode() for i, c in enumerate(commits[:400])}, message="first"
    )
    second = repo.write_notes(
        first, {c: f"m{i}\n".encode() for i, c in enumerate(commits[200:])}, message="second"
    )
    git(committed, "update-ref", ledger.NOTES_REF, second)
    top = git(committed, "ls-tree", "--name-only", ledger.NOTES_REF).split()
    assert len([t for t in top if len(t) == 40]) == 256 and all(len(t) in (2, 40) for t in top)
    for i in (0, 255, 256, 399, 400, 599):
        expected = f"n{i}" if i < 200 else f"m{i - 200}"
        assert git(committed, "notes", "--ref=patchpack", "show", commits[i]) == expected + "\n"
    assert len(git(committed, "notes", "--ref=patchpack", "list").splitlines()) == 600


def test_entries_bound_to_commits_join_their_notes_at_the_next_attach(committed: Path) -> None:
    repo = Repo.discover(committed)
    first = repo.head_oid()
    assert first is not None
    second = commit(committed, "b.txt")
    own = [ledger.new_entry(kind="apply", tokens_in=n, counter="usage") for n in (1, 2)]
    ledger.bind(repo, first, [own[0]])
    ledger.bind(repo, second, [own[1]])
    spool = committed / ".git" / "patchpack"
    with open(spool / ledger.BOUND, "a") as f:
        f.write("not a commit {}\n")
    (pending,) = record(committed)
    assert ledger.attach_pending(repo, second) == [pending]
    assert note_ids(committed, first) == [own[0].id]
    assert note_ids(committed, second) == [pending.id, own[1].id]
    assert (spool / ledger.BOUND).read_text() == ""
    assert (spool / "pending.rejected").read_text() == "not a commit {}\n"
    ledger.bind(repo, first, [own[0]])  # again: an entry is in a note once
    ledger.attach_pending(repo, second)
    assert note_ids(committed, first) == [own[0].id]


# -- rewrites -----------------------------------------------------------------------------------


def test_amend_and_rebase_keep_notes_after_init(committed: Path, cli) -> None:
    assert cli("init").exit_code == 0
    (first,) = record(committed)
    commit(committed, "a.txt")
    git(committed, "commit", "-q", "--amend", "-m", "a, amended")
    assert note_ids(committed) == [first.id]
    git(committed, "checkout", "-q", "-b", "topic", "HEAD~1")
    (second,) = record(committed)
    commit(committed, "b.txt")
    git(committed, "rebase", "-q", "main")
    assert git(committed, "log", "--format=%s", "-2").split("\n")[:2] == ["add b.txt", "a, amended"]
    assert note_ids(committed) == [second.id]
    held = ledger.read(Repo.discover(committed))
    assert sorted({e.id for _, e in held.entries}) == sorted([first.id, second.id])


def test_attach_from_copies_a_note_git_did_not_follow(committed: Path, cli) -> None:
    git(committed, "checkout", "-q", "-b", "topic")
    (entry,) = record(committed)
    old = commit(committed, "a.txt")
    assert cli("ledger", "attach").exit_code == 0
    git(committed, "checkout", "-q", "main")
    commit(committed, "b.txt")
    git(committed, "cherry-pick", "topic")
    assert note_lines(committed) == []
    r = cli("ledger", "attach", "--from", old)
    assert r.exit_code == 0 and "attached 1 entries" in r.stdout
    assert note_ids(committed) == [entry.id]
    assert cli("ledger", "attach", "--from", old).stdout.strip() == "nothing to attach"
    assert cli("ledger", "attach", "--from", "HEAD~1").exit_code == 1  # has no note


def test_init_show_notes_makes_git_log_show_the_ledger(committed: Path, cli) -> None:
    (entry,) = record(committed)
    cli("ledger", "attach")
    assert entry.id not in git(committed, "log", "-1")
    assert cli("init", "--show-notes").exit_code == 0
    assert cli("init", "--show-notes").exit_code == 0
    assert git(committed, "config", "--get-all", "notes.displayRef").split() == ["refs/notes/patchpack"]
    assert "Notes (patchpack):" in git(committed, "log", "-1") and entry.id in git(committed, "log", "-1")


# -- concurrency --------------------------------------------------------------------------------

# The recorders start once a committer has committed, and the committers go on until every
# recorder is done, so the entries spread over many commits however the machine schedules them.
_RECORDER = textwrap.dedent("""
    import pathlib, sys, time
    from patchpack.ledger import store as ledger
    from patchpack.git import Repo
    repo, signals = Repo.discover(sys.argv[1]), pathlib.Path(sys.argv[3])
    for _ in range(6000):
        if (signals / "go").exists():
            break
        time.sleep(0.01)
    for i in range(100):
        ledger.add_pending(repo, kind="request", tokens_in=i, counter="usage",
                           session=sys.argv[2])
        time.sleep(0.001)
    (signals / f"done-{sys.argv[2]}").touch()
""")

_COMMITTER = textwrap.dedent("""
    import pathlib, subprocess, sys, time
    from patchpack.ledger import store as ledger
    from patchpack.git import Repo
    where = pathlib.Path(sys.argv[1])
    repo, signals = Repo.discover(where), pathlib.Path(sys.argv[3])
    for i in range(3000):
        (where / f"{sys.argv[2]}-{i}.txt").write_text(str(i))
        subprocess.run(["git", "add", "-A"], cwd=where, check=True)
        subprocess.run(["git", "commit", "-q", "-m", f"{sys.argv[2]} {i}"], cwd=where, check=True)
        ledger.attach_pending(repo, repo.head_oid())
        (signals / "go").touch()
        if i >= 11 and len(list(signals.glob("done-*"))) == 8:
            break
        time.sleep(0.02)
""")


def test_eight_recorders_and_two_committers_lose_and_duplicate_nothing(
    committed: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    git(committed, "worktree", "add", "-q", "-b", "other", str(other))
    places, signals = [committed, other], tmp_path / "signals"
    signals.mkdir()
    procs = [
        subprocess.Popen([sys.executable, "-c", _COMMITTER, str(p), p.name, str(signals)]) for p in places
    ]
    procs += [
        subprocess.Popen([sys.executable, "-c", _RECORDER, str(places[n % 2]), f"s{n}", str(signals)])
        for n in range(8)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 10
    for place in places:
        repo = Repo.discover(place)
        ledger.attach_pending(repo, repo.head_oid())  # type: ignore[arg-type]
    held = ledger.read(Repo.discover(committed))
    ids = [e.id for _, e in held.entries]
    assert len(ids) == 800 and len(set(ids)) == 800
    sessions = sorted(e.session or "" for _, e in held.entries)
    assert sessions == sorted(f"s{n}" for n in range(8) for _ in range(100))
    assert held.notes > 2  # spread over many commits, not all on the last one


# -- sync ---------------------------------------------------------------------------------------


@pytest.fixture
def clones(committed: Path, tmp_path: Path) -> tuple[Path, Path]:
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(committed), str(remote))
    a, b = tmp_path / "a", tmp_path / "b"
    for path in (a, b):
        git(tmp_path, "clone", "-q", str(remote), str(path))
    return a, b


def _ids(path: Path) -> list[str]:
    return sorted(e.id for _, e in ledger.read(Repo.discover(path)).entries)


def test_two_clones_sync_both_ways_to_the_union(clones: tuple[Path, Path]) -> None:
    a, b = clones
    spent = []
    for path, n in ((a, 2), (b, 3)):
        repo = Repo.discover(path)
        spent += record(path, 1)
        ledger.attach_pending(repo, repo.head_oid())  # type: ignore[arg-type]  # shared commit
        spent += record(path, n)
        ledger.attach_pending(repo, commit(path, f"{path.name}.txt"))
    for path in (a, b, a):
        r = run_patchpack("sync", cwd=path)
        assert r.returncode == 0, r.stderr
    want = sorted(e.id for e in spent)
    assert _ids(a) == _ids(b) == want
    shared = note_lines(b, "origin/main")
    assert len(shared) == 2  # both clones' entries on the shared commit, merged line by line
    assert run_patchpack("sync", cwd=b).stdout.strip() == "origin: nothing new from it, nothing new to push"


def test_sync_retries_when_the_remote_moves_before_the_push(
    clones: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = clones
    for path in (a, b):
        record(path, 2)
        repo = Repo.discover(path)
        ledger.attach_pending(repo, repo.head_oid())  # type: ignore[arg-type]
    real_push = Repo.push_ref
    calls = []

    def racing_push(self: Repo, remote: str, ref: str) -> bool:
        calls.append(self.workdir)
        if len(calls) == 1:  # b pushes first, between a's fetch and a's push
            ledger.sync(Repo.discover(b))
        return real_push(self, remote, ref)

    monkeypatch.setattr(Repo, "push_ref", racing_push)
    done = ledger.sync(Repo.discover(a))
    assert done.pushed and done.merged
    # a tried (b pushed meanwhile, so a was rejected), then a merged again and pushed:
    assert [Path(c).name for c in calls] == ["a", "b", "a"]
    monkeypatch.undo()
    ledger.sync(Repo.discover(b))
    assert _ids(a) == _ids(b) and len(_ids(a)) == 4


def test_sync_configure_makes_plain_fetch_bring_the_ledger(
    clones: tuple[Path, Path], cli, monkeypatch
) -> None:
    a, b = clones
    record(a)
    ledger.attach_pending(Repo.discover(a), Repo.discover(a).head_oid())  # type: ignore[arg-type]
    ledger.sync(Repo.discover(a))
    monkeypatch.chdir(b)
    r = cli("sync", "--configure")
    assert r.exit_code == 0 and "merged its entries" in r.stdout
    git(b, "update-ref", "-d", ledger.tracking_ref("origin"))
    git(b, "fetch", "-q")
    assert (
        git(b, "rev-parse", ledger.tracking_ref("origin")).strip()
        == git(a, "rev-parse", ledger.NOTES_REF).strip()
    )


def test_sync_with_no_remote_is_bad_input(committed: Path) -> None:
    r = run_patchpack("sync", cwd=committed)
    assert r.returncode == 2 and "no remote" in r.stderr and "git remote add" in r.stderr


# -- the pre-commit framework -------------------------------------------------------------------


def test_pre_commit_framework_ledger_and_budget_hooks(
    committed: Path, frozen_now: Callable[[datetime], datetime]
) -> None:
    import shutil

    import yaml

    from conftest import ROOT

    manifest = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert manifest["patchpack-ledger"]["stages"] == ["post-commit"]
    assert "pre-push" in manifest["patchpack-budget"]["stages"]
    # Run as local `system` hooks so the test needs no network to build an environment.
    local = [{**manifest[name], "language": "system"} for name in ("patchpack-ledger", "patchpack-budget")]
    for hook in local:
        hook.pop("minimum_pre_commit_version")
    write(
        committed / ".pre-commit-config.yaml", yaml.safe_dump({"repos": [{"repo": "local", "hooks": local}]})
    )
    exe = shutil.which("pre-commit") or str(Path(sys.executable).with_name("pre-commit"))
    installed = subprocess.run(
        [exe, "install", "-t", "post-commit"], cwd=committed, capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    (entry,) = record(committed)
    git(committed, "add", ".pre-commit-config.yaml")
    git(committed, "commit", "-q", "-m", "pre-commit config")
    assert note_ids(committed) == [entry.id]
    git(committed, "config", "patchpack.dailyBudget", "10")
    # The entry was made at NOW: the gate's "today" is NOW's day, whatever day the suite runs.
    frozen_now(NOW)
    gate = subprocess.run(
        [exe, "run", "--hook-stage", "manual", "patchpack-budget"],
        cwd=committed,
        capture_output=True,
        text=True,
    )
    assert gate.returncode == 1 and "budget exhausted: today" in gate.stdout


# -- reading the whole ledger at scale (#6) -----------------------------------------------------


_KEYS = [
    "v",
    "id",
    "ts",
    "kind",
    "model",
    "agent",
    "session",
    "in",
    "out",
    "requests",
    "saved",
    "estimated",
    "counter",
    "extra",
]
_VALUES = (
    st.text(max_size=6)
    | st.sampled_from(["", 'a"b', "a\\b", "\u2028", "\x7f", " x"])
    | st.integers(-2, 10**20)
    | st.sampled_from([1, 1.0, True, False, None, "true", "2026-11-24T10:00:00Z"])
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), _VALUES), st.booleans(), st.booleans())
def test_the_fast_line_parse_agrees_with_json(fields: dict, canonical: bool, ascii_only: bool) -> None:
    # Patchpack's own lines skip the JSON parser; any line must still mean what JSON says.
    base = {
        "v": 1,
        "id": "a1",
        "ts": "2026-11-24T10:00:00Z",
        "kind": "request",
        "in": 1,
        "out": 2,
        "counter": "usage",
    }
    merged = {**base, **fields}
    if canonical:  # keep the order `to_json` writes, so the fast path is tried for real
        merged = {k: merged[k] for k in _KEYS if k in merged}
    line = json.dumps(merged, separators=(",", ":"), ensure_ascii=ascii_only)

    def outcome(parse) -> object:
        try:
            return parse(line)
        except ValueError as e:
            return str(e)

    assert outcome(ledger.parse_line) == outcome(_parse_json)


def _through_read_tops(lines: list[str]) -> tuple[list, list, list]:
    """Lines read as `ledger.read` reads a directory of notes (one note per line) from git's
    output, and as `parse_note` reads each note: (entries read, entries meant, skips)."""
    head = Oid("1" * 40)
    commits = [f"ab{i:038x}" for i in range(len(lines))]
    chunk = "".join(f"{head}:ab/{commit[2:]}\0001\000{line}\n" for commit, line in zip(commits, lines))
    [(_, (notes, on, columns, bad, totals))] = ledger_cache._read_tops([chunk], head, {"ab": "k"})
    meant = [(commit, ledger.parse_note(line, commit)) for commit, line in zip(commits, lines)]
    assert [ledger.Skipped(*b) for b in bad] == [s for _, (_, skips) in meant for s in skips]
    assert totals == ledger.totals_of(columns) and notes == len(lines)
    return (
        list(zip(on, map(ledger.Entry._make, zip(*columns)))),
        [(commit, e) for commit, (good, _) in meant for e in good],
        bad,
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(_KEYS), _VALUES), min_size=1, max_size=4), st.booleans())
def test_the_column_parse_of_many_lines_agrees_with_json(many: list[dict], ascii_only: bool) -> None:
    # A cold `budget` parses a chunk of git's output at once, with a looser pattern when
    # the chunk holds no backslash, and checks the columns: each line must still mean what
    # JSON says, or be skipped as `parse_note` skips it.
    base = {
        "v": 1,
        "id": "a1",
        "ts": "2026-11-24T10:00:00Z",
        "kind": "request",
        "in": 1,
        "out": 2,
        "counter": "usage",
    }
    lines = [
        json.dumps(
            {k: merged[k] for k in _KEYS if k in merged}, separators=(",", ":"), ensure_ascii=ascii_only
        )
        for merged in ({**base, **f} for f in many)
    ]
    read, meant, _ = _through_read_tops(lines)
    assert read == meant


@pytest.mark.parametrize(
    "line",
    [
        '{"v":1,"id":"a\x01b","ts":"2026-11-24T10:00:00Z","kind":"request","in":1,"out":2,'
        '"counter":"usage"}',  # a raw control character in an id: not JSON
        '{"v":1,"id":"a","ts":"2026-11-24T10:00:00Z","kind":"request","model":"m\tx","in":1,'
        '"out":2,"counter":"usage"}',  # a raw tab in a name: not JSON
        '{"v":1,"id":"a","ts":"2026-11-24T10:00:00Z","kind":"request","model":"m\\"x","in":1,'
        '"out":2,"counter":"usage"}',  # an escaped quote in a name
        '{"v":1,"id":"a","ts":"2026-11-24T10:00:00Z","kind":"request","in":1,"out":2,'
        '"counter":"c\\u00e9"}',  # an escape in the counter
        '{"v":1,"id":"a","ts":"2026-11-24T10:00:00Z","kind":"request","in":1,"out":2,'
        '"requests":01,"counter":"usage"}',  # a number JSON refuses
        '{"v":1,"id":"a","ts":"2026-11-24T10:00:00Z","kind":"","in":1,"out":2,"counter":"u"}',
        r'{"v":1,"id":"a\u0041","ts":"2026-11-24T10:00:00Z","kind":"request","in":1,"out":2,'
        r'"counter":"usage"}',  # an escape in an id: the id is "aA"
    ],
)
def test_odd_lines_among_canonical_ones_mean_what_json_says(line: str) -> None:
    good = ledger.Entry("g", "2026-11-24T10:00:00Z", "request", 5, 6, "usage").to_json()
    read, meant, _ = _through_read_tops([good, line, good.replace('"g"', '"h"')])
    assert read == meant and len(meant) in (2, 3)


def _fast_import_notes(path: Path, notes: dict[str, bytes]) -> None:
    """Put ``notes`` (commit: text) in refs/notes/patchpack through fast-import (fan-out)."""
    parent = subprocess.run(
        ["git", "rev-parse", "-q", "--verify", "refs/notes/patchpack"],
        cwd=path,
        capture_output=True,
        text=True,
    ).stdout.strip()
    stream = [
        "commit refs/notes/patchpack\ncommitter A <a@b> 1700000000 +0000\ndata 2\nn\n"
        + (f"from {parent}\n" if parent else "")
    ]
    stream += [f"N inline {oid}\ndata {len(text)}\n" for oid, text in notes.items()]
    chunks = [part.encode() for part in stream[:1]]
    for header, text in zip(stream[1:], notes.values()):
        chunks += [header.encode(), text, b"\n"]
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, check=True, input=b"".join(chunks) + b"\n")


def _many_commits(path: Path, n: int) -> list[str]:
    stream = "".join(
        f"commit refs/heads/many\ncommitter A <a@b> {1700000000 + i} +0000\n"
        f"data 2\nc\n{'from refs/heads/main^0' if i == 0 else ''}\n"
        for i in range(n)
    )
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, check=True, text=True, input=stream)
    return git(path, "rev-list", "--reverse", "refs/heads/many", "^main").split()


def _line(n: int, **fields: object) -> str:
    return ledger.Entry(f"id{n}", "2026-11-24T10:00:00Z", "request", n, 1, "usage", **fields).to_json()  # type: ignore[arg-type]


def _by_hand(path: Path) -> tuple[list[tuple[str, ledger.Entry]], list[ledger.Skipped]]:
    """The ledger read note by note through `git notes`: what `read` must agree with."""
    entries, skipped = [], []
    for line in git(path, "notes", "--ref=patchpack", "list").splitlines():
        blob, annotated = line.split()
        text = subprocess.run(
            ["git", "cat-file", "blob", blob], cwd=path, check=True, capture_output=True
        ).stdout
        good, bad = ledger.parse_note(text.decode("utf-8", "surrogateescape"), annotated)
        entries += [(annotated, e) for e in good]
        skipped += bad
    return sorted(entries), sorted(skipped)


def test_read_agrees_with_note_by_note_on_odd_notes(committed: Path) -> None:
    commits = _many_commits(committed, 400)
    notes = {oid: (_line(i) + "\n").encode() for i, oid in enumerate(commits)}
    notes[commits[1]] = (_line(1) + "\n{broken\n\n" + _line(10_001) + "\n").encode()
    notes[commits[2]] = b"Reviewed-by: Bob, LGTM\n"  # somebody else's note
    notes[commits[3]] = (_line(3) + "\r\n").encode()  # edited by hand on Windows
    notes[commits[4]] = _line(4, model="modèle", agent="a\u2028b").encode()  # raw, no "\n"
    notes[commits[5]] = (
        b'{"counter":"usage","v":1,"id":"x5","ts":"2026-11-24T10:00:00Z",'
        b'"kind":"run","in":5,"out":0}\n'
    )  # another key order
    notes[commits[6]] = b"\xff\xfe not utf-8\n" + _line(6).encode()
    notes[commits[7]] = b""
    _fast_import_notes(committed, notes)
    held = ledger.read(Repo.discover(committed))
    entries, skipped = _by_hand(committed)
    assert sorted(held.entries) == entries and sorted(held.skipped) == skipped
    assert held.notes == 399 and len(entries) == 400 - 2 + 1  # an empty note holds no line
    assert {(s.where, s.line, s.reason) for s in skipped} == {
        (commits[1], 2, "not JSON"),
        (commits[2], 1, "not JSON"),
        (commits[6], 1, "not JSON"),
    }
    assert {e.id: e.agent for _, e in held.entries}["id4"] == "a\u2028b"
    assert ledger.read(Repo.discover(committed)) == held  # the same from the cache


def test_read_ignores_files_that_are_not_notes_and_keeps_notes_on_other_objects(committed: Path) -> None:
    blob = git(committed, "hash-object", "-w", "--stdin", input="some file\n").strip()
    git(committed, "notes", "--ref=patchpack", "add", "-m", _line(1), blob)
    git(committed, "notes", "--ref=patchpack", "add", "-m", _line(2), "HEAD")
    notes_tree = git(committed, "rev-parse", "refs/notes/patchpack^{tree}").strip()
    listing = git(committed, "ls-tree", notes_tree)
    readme = git(committed, "hash-object", "-w", "--stdin", input=_line(3) + "\n").strip()
    listing += (
        f"100644 blob {readme}\tREADME\n100644 blob {readme}\tabcdef\n160000 commit {'1' * 40}\tsubmodule\n"
    )
    tree = git(committed, "mktree", input=listing).strip()
    parent = git(committed, "rev-parse", "refs/notes/patchpack").strip()
    notes_commit = git(committed, "commit-tree", tree, "-p", parent, "-m", "odd").strip()
    git(committed, "update-ref", "refs/notes/patchpack", notes_commit)
    held = ledger.read(Repo.discover(committed))
    assert held.notes == 2 and held.skipped == []
    assert sorted((c, e.id) for c, e in held.entries) == sorted(
        [(blob, "id1"), (git(committed, "rev-parse", "HEAD").strip(), "id2")]
    )


def test_the_cache_follows_the_notes_ref_however_it_moves(
    committed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = _many_commits(committed, 300)
    _fast_import_notes(committed, {oid: _line(i).encode() for i, oid in enumerate(commits)})
    repo = Repo.discover(committed)
    first = ledger.read(repo)
    assert len(first.entries) == 300
    asked: list[object] = []
    real = Repo.note_lines

    def spy(self: Repo, head: Oid, tops: list[str] | None = None):  # type: ignore[no-untyped-def]
        asked.append(tops)
        return real(self, head, tops)

    monkeypatch.setattr(Repo, "note_lines", spy)
    assert ledger.read(repo) == first and asked == []  # warm: git reads no note
    # By hand, behind patchpack's back: an append, a removal, then the ref moved back.
    git(committed, "notes", "--ref=patchpack", "append", "-m", _line(1000), commits[5])
    git(committed, "notes", "--ref=patchpack", "remove", commits[6])
    held = ledger.read(repo)
    ids = {e.id for _, e in held.entries}
    assert "id1000" in ids and "id6" not in ids and len(ids) == 300
    assert asked == []  # no directory read again: only the note that changed
    git(committed, "update-ref", "refs/notes/patchpack", "refs/notes/patchpack~2")
    assert ledger.read(repo) == first
    monkeypatch.setattr(ledger_cache, "_ALL_AT", 0)  # the whole tree listed, cached parts dropped
    ledger.cache_written()
    (committed / ".git" / "patchpack" / "ledger-cache").unlink()
    git(committed, "notes", "--ref=patchpack", "append", "-m", _line(1001), commits[7])
    assert ledger.read(repo) == ledger.read(repo)
    assert sum(e.id == "id1001" for _, e in ledger.read(repo).entries) == 1


def test_no_note_can_pass_for_another_whatever_it_holds(committed: Path) -> None:
    # git puts the path and line number in front of every line: a note imitating that form,
    # NULs and all, is still one note; a path with a newline in it is no note's path.
    commits = _many_commits(committed, 3)
    fake = f"x\n{'f' * 40}:{commits[1]}\0001\000{_line(7)}\n".encode()
    _fast_import_notes(
        committed, {commits[0]: fake, commits[1]: _line(1).encode(), commits[2]: _line(2).encode()}
    )
    notes_tree = git(committed, "rev-parse", "refs/notes/patchpack^{tree}").strip()
    listing = git(committed, "ls-tree", "-z", notes_tree)
    forged = git(committed, "hash-object", "-w", "--stdin", input=_line(8) + "\n").strip()
    listing += f"100644 blob {forged}\tzz\n{commits[2]}\0"
    tree = git(committed, "mktree", "-z", input=listing).strip()
    parent = git(committed, "rev-parse", "refs/notes/patchpack").strip()
    notes_commit = git(committed, "commit-tree", tree, "-p", parent, "-m", "odd").strip()
    git(committed, "update-ref", "refs/notes/patchpack", notes_commit)
    held = ledger.read(Repo.discover(committed))
    assert sorted((c, e.id) for c, e in held.entries) == [
        (c, i) for c, i in sorted([(commits[1], "id1"), (commits[2], "id2")])
    ]
    assert [(s.where, s.line) for s in held.skipped] == [(commits[0], 1), (commits[0], 2)]
    assert held.notes == 3


def test_a_reader_that_stops_early_leaves_no_git_running(committed: Path) -> None:
    commits = _many_commits(committed, 300)
    _fast_import_notes(committed, {oid: _line(i).encode() for i, oid in enumerate(commits)})
    repo = Repo.discover(committed)
    head = repo.read_ref(ledger.NOTES_REF)
    assert head is not None
    lines = repo.note_lines(head)
    assert next(lines).startswith(f"{head}:")
    lines.close()  # the pipes close, git gets EPIPE and is waited for: no hang, no zombie


def test_a_notes_tree_git_cannot_read_fails_with_a_hint(committed: Path) -> None:
    repo = Repo.discover(committed)
    with pytest.raises(ledger.BadInput, match="git grep failed") as failed:
        for _ in repo.note_lines(Oid("0" * 40)):
            pass
    assert failed.value.hint is not None and "git fsck" in failed.value.hint


def test_sync_leaves_the_cache_warm_for_the_next_budget(
    clones: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = clones
    for path in (a, b):
        record(path, 2)
        repo = Repo.discover(path)
        ledger.attach_pending(repo, repo.head_oid())  # type: ignore[arg-type]
    ledger.sync(Repo.discover(a))
    assert ledger.sync(Repo.discover(b)).merged

    def cold(*args: object) -> None:
        raise AssertionError("read a note that sync should have cached")

    monkeypatch.setattr(Repo, "note_lines", cold)
    assert len(ledger.read(Repo.discover(b)).entries) == 4


def _cold(repo: Repo) -> ledger.Ledger:
    ledger.cache_written()
    (repo.common_dir / "patchpack" / "ledger-cache").unlink(missing_ok=True)
    return ledger.read(repo)


def _asked(monkeypatch: pytest.MonkeyPatch) -> list[list[str] | None]:
    """What git is asked to read: directories whole (their names, or None for the whole
    tree) and single notes (["blobs", n])."""
    asked: list[list[str] | None] = []
    real, real_blobs = Repo.note_lines, Repo.blobs

    def spy(self: Repo, head: Oid, paths: list[str] | None = None):  # type: ignore[no-untyped-def]
        asked.append(paths)
        return real(self, head, paths)

    def blobs(self: Repo, oids: list[Oid]) -> list[bytes]:
        asked.append(["blobs", str(len(oids))])
        return real_blobs(self, oids)

    monkeypatch.setattr(Repo, "note_lines", spy)
    monkeypatch.setattr(Repo, "blobs", blobs)
    return asked


def test_a_foreign_change_reads_only_the_notes_that_changed(
    committed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = _many_commits(committed, 600)
    _fast_import_notes(committed, {oid: _line(i).encode() for i, oid in enumerate(commits[:500])})
    repo = Repo.discover(committed)
    ledger.read(repo)
    asked = _asked(monkeypatch)
    chance = random.Random(6)
    for round_ in range(4):
        # Behind patchpack's back, as a `git fetch` of notes or `git notes` by hand would:
        # appends, removals, new notes, a copy of an entry on a second commit, a bad line.
        for oid in chance.sample(commits, 5):
            git(
                committed,
                "notes",
                "--ref=patchpack",
                "append",
                "-m",
                _line(chance.randrange(1000, 1010)),
                oid,
            )
        for oid in chance.sample(commits, 2):
            git(committed, "notes", "--ref=patchpack", "remove", "--ignore-missing", oid)
        git(committed, "notes", "--ref=patchpack", "append", "-m", "{broken", chance.choice(commits))
        asked.clear()
        held = ledger.read(repo)
        # The notes that changed, and any directory new since (it holds only new notes).
        blobs = [int(paths[1]) for paths in asked if paths and paths[0] == "blobs"]
        dirs = [paths for paths in asked if not paths or paths[0] != "blobs"]
        assert len(blobs) == 1 and blobs[0] <= 6, round_  # the removed are not read
        assert all(paths is not None and len(paths) <= 2 for paths in dirs), round_
        assert held == _cold(repo)  # the same entries in the same order as a cold read
        assert ledger.read(repo) == held  # and warm again


def test_the_whole_directories_are_read_when_the_cached_notes_commit_is_gone(
    committed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = _many_commits(committed, 300)
    _fast_import_notes(committed, {oid: _line(i).encode() for i, oid in enumerate(commits)})
    repo = Repo.discover(committed)
    ledger.read(repo)
    path = repo.common_dir / "patchpack" / "ledger-cache"
    _, cache = ledger_cache._load_cache(path)
    ledger_cache._save_cache(path, Oid("f" * 40), cache)  # as after `git gc` dropped it
    git(committed, "notes", "--ref=patchpack", "append", "-m", _line(1000), commits[5])
    asked = _asked(monkeypatch)
    held = ledger.read(repo)
    assert asked == [[commits[5][:2]]] and held == _cold(repo)
    monkeypatch.setattr(ledger_cache, "_REFRESH_AT", 1)  # too many changed: whole directories
    for oid in commits[7:9]:
        git(committed, "notes", "--ref=patchpack", "append", "-m", _line(1001), oid)
    asked.clear()
    held = ledger.read(repo)
    assert asked == [sorted({commits[7][:2], commits[8][:2]})] and held == _cold(repo)


def test_a_note_line_longer_than_any_buffer_is_one_line(committed: Path) -> None:
    commits = _many_commits(committed, 2)
    huge = ("x" * 3_000_000 + "\n" + _line(2) + "\n").encode()
    _fast_import_notes(committed, {commits[0]: huge, commits[1]: _line(1).encode()})
    held = ledger.read(Repo.discover(committed))
    assert sorted(e.id for _, e in held.entries) == ["id1", "id2"]
    assert [(s.where, s.line) for s in held.skipped] == [(commits[0], 1)]


def test_reading_ignores_the_users_grep_config_and_where_it_runs(committed: Path) -> None:
    commits = _many_commits(committed, 300)
    _fast_import_notes(committed, {oid: _line(i).encode() for i, oid in enumerate(commits)})
    expected = _by_hand(committed)
    for key, value in (
        ("grep.column", "true"),
        ("color.ui", "always"),
        ("color.grep", "always"),
        ("grep.patternType", "perl"),
        ("grep.lineNumber", "false"),
        ("grep.fullName", "true"),
        ("grep.threads", "4"),
        ("submodule.recurse", "true"),
        ("core.quotePath", "true"),
    ):
        git(committed, "config", key, value)
    (committed / "sub").mkdir()
    for where in (committed / "sub", committed / ".git"):
        repo = Repo.discover(where)
        ledger.cache_written()
        (repo.common_dir / "patchpack" / "ledger-cache").unlink(missing_ok=True)
        held = ledger.read(repo)
        assert (sorted(held.entries), sorted(held.skipped)) == expected and held.notes == 300


def test_a_refresh_follows_notes_into_new_fan_out_directories(committed: Path) -> None:
    commits = _many_commits(committed, 400)
    _fast_import_notes(committed, {oid: _line(i).encode() for i, oid in enumerate(commits[:5])})
    repo = Repo.discover(committed)
    assert all(len(top.name) == 40 for top in repo.notes_top(ledger.NOTES_REF)[1])  # type: ignore
    ledger.read(repo)
    # fast-import rewrites the whole tree into fan-out directories for 400 notes.
    _fast_import_notes(committed, {oid: _line(i + 1).encode() for i, oid in enumerate(commits)})
    assert all(len(top.name) == 2 for top in repo.notes_top(ledger.NOTES_REF)[1])  # type: ignore
    held = ledger.read(repo)
    assert held == _cold(repo) and held.notes == 400


def test_a_refresh_sees_the_files_a_cold_read_sees(committed: Path) -> None:
    # A gitlink where a note would be is no note; a symlink is a file to git grep.
    commits = _many_commits(committed, 300)
    _fast_import_notes(committed, {oid: _line(i).encode() for i, oid in enumerate(commits)})
    repo = Repo.discover(committed)
    ledger.read(repo)
    parent = git(committed, "rev-parse", "refs/notes/patchpack").strip()
    top = commits[9][:2]
    sub = git(committed, "rev-parse", f"{parent}:{top}").strip()
    link = git(committed, "hash-object", "-w", "--stdin", input=_line(2000)).strip()
    listing = "".join(
        line + "\n"
        for line in git(committed, "ls-tree", sub).splitlines()
        if not line.endswith(commits[9][2:])
    )
    listing += f"160000 commit {commits[0]}\t{commits[9][2:]}\n"
    listing += f"120000 blob {link}\t{commits[10][2:]}\n" if commits[10][:2] == top else ""
    new_sub = git(committed, "mktree", input=listing).strip()
    root = git(committed, "ls-tree", parent).replace(sub, new_sub)
    tree = git(committed, "mktree", input=root).strip()
    notes_commit = git(committed, "commit-tree", tree, "-p", parent, "-m", "odd").strip()
    git(committed, "update-ref", "refs/notes/patchpack", notes_commit)
    held = ledger.read(repo)
    assert held == _cold(repo)
    assert "id9" not in {e.id for _, e in held.entries}


def test_blobs_are_read_in_order_and_only_blobs(committed: Path) -> None:
    repo = Repo.discover(committed)
    texts = [b"", b"one\n", b"two\nlines", b"\x00binary\n\n"]
    oids = [Oid(git(committed, "hash-object", "-w", "--stdin", input=t.decode()).strip()) for t in texts]
    assert repo.blobs(oids + oids[:1]) == texts + texts[:1]
    with pytest.raises(ledger.BadInput, match="not a blob"):
        repo.blobs([Oid(git(committed, "rev-parse", "HEAD").strip())])
