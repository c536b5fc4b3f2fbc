"""`patchpack gain`: savings against what the agent would really have read (#17)."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from patchpack.ledger import gain
from patchpack.tokens import get_counter

from conftest import git, run_patchpack, write

COUNT = get_counter("cl100k_base").count


def claude_kept(text: str) -> str:
    """The output Claude Code 2.1's Bash tool keeps: its first 30,000 characters."""
    return text[:30_000]


def puppy_kept(text: str) -> str:
    """The output Code Puppy 0.0.946 keeps: the last 256 lines cut to 256 characters, or of
    those a 1,000-character preview once the tool's return passes 10,000 characters."""
    kept = "\n".join(line[:256] for line in text.split("\n")[-256:])
    return kept if len(json.dumps(kept)) + 150 <= 10_000 else kept[:500] + kept[-500:]


def output(rng: random.Random) -> str:
    lines = rng.choice([1, 5, 150, 199, 201, 257, 600, 2_000])
    width = rng.choice([0, 3, 40, 120, 255, 257, 700])
    alphabet = rng.choice(["ab c", "é漢 x", "0123456789", "def f(x): return x\t"])
    return "".join(
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(width + 1))) + "\n" for _ in range(lines)
    )


def run(repo: Path, text: str, *extra: str) -> None:
    source = write(repo.parent / "out.txt", text)
    shown = run_patchpack(
        "run",
        *extra,
        "--",
        sys.executable,
        "-c",
        f"import sys; sys.stdout.write(open({str(source)!r}).read())",
        cwd=repo,
    )
    assert shown.returncode == 0, shown.stderr


def report(repo: Path, *args: str) -> dict[str, Any]:
    result = run_patchpack("gain", "--json", *args, cwd=repo)
    assert result.returncode == 0, result.stderr
    return {g["agent"]: g for g in json.loads(result.stdout)}


@pytest.mark.parametrize("seed", range(2))
def test_gain_never_reports_a_saving_larger_than_the_output_the_agent_would_have_kept(
    committed: Path, seed: int
) -> None:
    rng = random.Random(seed)
    assert run_patchpack("record", "--in", "50000", "--out", "900", cwd=committed).returncode == 0
    kept = {"claude-code": 0, "code-puppy": 0, "none": 0}
    for _ in range(4):
        text = output(rng)
        run(committed, text)
        one = report(committed)
        for agent, keeps in (("claude-code", claude_kept), ("code-puppy", puppy_kept), ("none", str)):
            kept[agent] += COUNT(keeps(text))
            assert one[agent]["saved"] <= kept[agent], (agent, seed)
    total = report(committed)
    for g in total.values():  # every figure names its counter; spend is the billed usage
        assert g["counter"] == "cl100k_base" and g["spend"] == 50_900
        assert g["spend_counter"] == "usage" and g["not_measured_runs"] == 0
        assert all(f["counter"] in ("cl100k_base", "usage") for f in g["figures"])


def test_a_saving_is_negative_when_patchpack_shows_more_than_the_agent_would_read(committed: Path) -> None:
    run_patchpack("record", "--in", "1000", "--out", "10", cwd=committed)
    # 300 lines of 40 characters: Code Puppy spills its last 256 lines (> 10,000 characters)
    # to a file and reads a 1,000-character preview; patchpack prints 200 lines, which fit.
    run(committed, "".join(f"line {i:03} " + "y" * 31 + "\n" for i in range(300)))
    figures = report(committed)
    assert figures["code-puppy"]["saved"] < 0
    assert figures["claude-code"]["saved"] > 0  # it would have read all 12,300 characters
    assert figures["none"]["saved"] == figures["claude-code"]["saved"]  # no truncation
    text = run_patchpack("gain", "--agent", "code-puppy", cwd=committed).stdout
    assert text.startswith("code-puppy: saved -") and "of 1,010 billed tokens (usage)" in text
    assert "claude-code" not in text


def test_runs_without_kept_views_are_not_measured_never_guessed(committed: Path) -> None:
    run_patchpack("record", "--in", "1", "--out", "1", cwd=committed)
    run(committed, "x\n" * 5_000)
    views = Path(git(committed, "rev-parse", "--git-common-dir").strip())
    (committed / views / "patchpack" / "views.jsonl").write_text("not json\n{}\n")
    figures = report(committed, "--agent", "claude-code")
    assert figures["claude-code"]["saved"] == 0
    assert figures["claude-code"]["not_measured_runs"] == 1
    assert "runs not measured (no views kept): 1" in run_patchpack("gain", cwd=committed).stdout


def test_claude_codes_limit_is_the_one_its_environment_sets(committed: Path) -> None:
    run_patchpack("record", "--in", "1", "--out", "1", cwd=committed)
    text = "".join(f"{i:05}\n" for i in range(1_000))  # 6,000 characters
    env = {"BASH_MAX_OUTPUT_LENGTH": "600"}
    source = write(committed.parent / "out.txt", text)
    run_patchpack("run", "--", "cat", str(source), cwd=committed, env=env)
    saved = report(committed, "--agent", "claude-code")["claude-code"]["saved"]
    assert saved <= COUNT(text[:600])  # it reads 600 characters of either
    run_patchpack("run", "--", "cat", str(source), cwd=committed)  # 30,000: it reads all
    more = report(committed, "--agent", "claude-code")["claude-code"]["saved"] - saved
    assert COUNT(text[:600]) < more <= COUNT(text)


def test_a_session_weighs_its_own_spend_and_the_runs_in_its_span(committed: Path) -> None:
    def at(when: str, *args: str) -> None:
        assert (
            run_patchpack(*args, cwd=committed, env={"PATCHPACK_NOW": f"2026-11-24T{when}Z"}).returncode == 0
        )

    at("09:00:00", "record", "--in", "7", "--out", "0", "--session", "old")
    at("10:00:00", "record", "--in", "100", "--out", "5", "--session", "s1")
    source = write(committed.parent / "out.txt", "z\n" * 3_000)
    at("10:05:00", "run", "--", "cat", str(source))
    at("10:10:00", "record", "--in", "200", "--out", "5", "--session", "s1")
    at("11:00:00", "run", "--", "cat", str(source))
    one = report(committed, "--session", "s1", "--agent", "none")["none"]
    assert one["spend"] == 310
    assert [f["entries"] for f in one["figures"] if f["what"] == "runs: whole output"] == [1]
    assert report(committed, "--session", "nobody")["none"]["spend"] == 0
    bad = run_patchpack("gain", "--since", "soon", cwd=committed)
    assert bad.returncode == 2 and "--since: not a date" in bad.stderr


def test_the_views_of_a_log_read_in_bounded_memory_are_those_of_the_whole(tmp_path: Path) -> None:
    rng = random.Random(7)
    for text in (output(rng) for _ in range(12)):
        log = write(tmp_path / "1.log", text + "é" * rng.randrange(70_000) + "\ntail\n")
        whole = log.read_text()
        parts = gain.read_log(log)
        assert gain.views(parts, parts, get_counter()) == gain.views(
            gain.Output.of(whole), gain.Output.of(whole), get_counter()
        )


def test_hostile_views_are_skipped_and_an_unwritable_one_costs_only_the_figures(committed: Path) -> None:
    run_patchpack("record", "--in", "1", "--out", "1", cwd=committed)
    views = committed / ".git" / "patchpack" / "views.jsonl"
    write(
        views,
        "[" * 100_000
        + "\n"
        + '{"id": "x", "views": {"claude-code": ["a", 1]}}\n'
        + '{"id": 1, "views": []}\n'
        + '{"id": "y", "views": {"none": [1, 2, 3]}}\n',
    )
    shown = run_patchpack("gain", cwd=committed)
    assert shown.returncode == 0 and "saved 0 tokens" in shown.stdout
    views.unlink()
    views.mkdir()  # no file can be written there
    run(committed, "x\n" * 500)
    figures = report(committed)
    assert figures["claude-code"]["not_measured_runs"] == 1
    assert figures["none"]["saved"] > 0  # the run's own figures are in the ledger


def pack_figures(g: dict[str, Any]) -> tuple[int, int, int]:
    got = {f["what"].split(" (")[0]: f["tokens"] for f in g["figures"]}
    return (
        got["context packs sent"],
        got["context packs: the whole files instead"],
        got["context packs: the agent read of them"],
    )


def test_a_context_pack_saves_what_reading_its_files_whole_would_have_cost(committed: Path) -> None:
    """The baseline of a pack is the whole files its hunks come from, as each agent's own
    read tool shows them (Claude Code: 2,000 numbered lines; Code Puppy: 10,000
    characters); the saving is that less the agent's view of the pack, and may be
    negative (#17)."""
    big = "".join(
        f"def f{i}(x):\n    return x + {i}  # {'pad ' * (i % 9)}\n" for i in range(1_500)
    )  # 3,000 lines
    write(committed / "big.py", big)
    write(committed / "small.py", "def needle_small():\n    return 1\n")
    git(committed, "add", ".")
    git(committed, "commit", "-q", "-m", "code")
    run_patchpack("record", "--in", "9000", "--out", "100", cwd=committed)
    before = report(committed)
    assert pack_figures(before["claude-code"]) == (0, 0, 0)
    packed = run_patchpack("context", "--grep", "def f1499", cwd=committed)
    assert packed.returncode == 0, packed.stderr
    lines = big.split("\n")[:2_000]
    claude_read = COUNT("\n".join(f"{n:>6}\t{line}" for n, line in enumerate(lines, 1)))
    got = report(committed)
    shown = COUNT(packed.stdout)
    assert pack_figures(got["claude-code"])[1:] == (min(claude_read, 25_000), shown)
    refused = (
        "The file is massive, greater than 10,000 tokens which is dangerous to read "
        "entirely. Please read this file in chunks."
    )  # Code Puppy's read_file, past them
    assert len(big) // 4 > 10_000
    # (its shell tool's view of the pack is the runs' view, checked against puppy_kept above)
    assert pack_figures(got["code-puppy"])[1:] == (COUNT(refused), COUNT(gain.code_puppy_view(packed.stdout)))
    assert pack_figures(got["none"])[1:] == (COUNT(big), shown)
    for agent, g in got.items():
        saved = g["saved"] - before[agent]["saved"]
        assert saved == pack_figures(g)[1] - pack_figures(g)[2], agent
        assert (saved < 0) == (agent == "code-puppy"), agent  # it would have read a refusal
        assert g["spend"] == 9_100 and g["not_measured_packs"] == 0
    # A pack larger than the file it comes from: a negative saving, counted as such.
    small = run_patchpack("context", "--grep", "needle_small", cwd=committed)
    assert small.returncode == 0, small.stderr
    after = report(committed)
    source = "def needle_small():\n    return 1\n"
    numbered = "\n".join(f"{n:>6}\t{line}" for n, line in enumerate(source.split("\n"), 1))
    for agent, g in after.items():
        file_side = pack_figures(g)[1] - pack_figures(got[agent])[1]
        assert file_side == COUNT(numbered if agent == "claude-code" else source), agent
        assert g["saved"] - got[agent]["saved"] == file_side - COUNT(small.stdout) < 0, agent
    text = run_patchpack("gain", "--agent", "claude-code", cwd=committed).stdout
    assert "context packs: the whole files instead (as claude-code reads them): " in text
