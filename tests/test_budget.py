"""`patchpack budget`: totals per group and spend against the daily and per-minute limits."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchpack.config import Settings
from patchpack.git import Repo
from patchpack.ledger import budget
from patchpack.ledger import store as ledger

from conftest import git, run_patchpack, write

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=timezone.utc)
LIMITS = budget.Limits(daily=24_000_000, minute_tokens=1_000_000, minute_requests=50)


def entry(
    n: int,
    *,
    ago: timedelta = timedelta(hours=2),
    tokens_in: int = 100,
    tokens_out: int = 10,
    **fields: object,
) -> ledger.Entry:
    kind = str(fields.pop("kind", "request"))
    return ledger.Entry(
        f"id{n}", ledger.timestamp(NOW - ago), kind, tokens_in, tokens_out, "usage", requests=1, **fields
    )  # type: ignore[arg-type]


def spend(report: budget.Report, what: str) -> budget.Spend:
    return next(s for s in report.limits if s.what == what)


entries = st.lists(
    st.builds(
        entry,
        st.integers(0, 40),
        ago=st.timedeltas(timedelta(0), timedelta(days=3)),
        tokens_in=st.integers(0, 10**7),
        tokens_out=st.integers(0, 10**6),
        agent=st.sampled_from([None, "a", "b"]),
        model=st.sampled_from([None, "m1", "m2"]),
    ),
    max_size=30,
)


@settings(max_examples=80, deadline=None)
@given(entries, st.sampled_from(budget.GROUPINGS))
def test_totals_are_the_sum_of_the_entries_counted_once(es: list[ledger.Entry], by: str) -> None:
    noted = [(f"{i % 3:040x}", e) for i, e in enumerate(es)]
    report = budget.summarise(noted + noted[:5], [], limits=LIMITS, now=NOW, by=by)
    unique = {e.id: e for e in reversed(es)}.values()  # the first copy of an id counts
    assert report.total.tokens_in == sum(e.tokens_in for e in unique)
    assert report.total.tokens_out == sum(e.tokens_out for e in unique)
    assert report.total.entries == len(unique)
    assert sum(g.totals.tokens for g in report.groups) == report.total.tokens
    today = sum(e.tokens for e in unique if e.ts.startswith("2026-11-24"))
    assert spend(report, "today").used == today


@settings(max_examples=80, deadline=None)
@given(entries, st.sampled_from(budget.GROUPINGS), st.data())
def test_the_ledgers_totals_give_the_report_its_entries_give(
    es: list[ledger.Entry], by: str, data: st.DataObject
) -> None:
    # `budget` on a whole ledger sums the totals the ledger cache keeps, less the copies of
    # an id after its first (copies may differ: the same id on two lines).
    noted = [(f"{i % 3:040x}", e) for i, e in enumerate(es)]
    noted += data.draw(st.lists(st.sampled_from(noted), max_size=5)) if noted else []
    columns = [list(column) for column in zip(*(e for _, e in noted))] or [[] for _ in ledger.Entry._fields]
    on = [commit for commit, _ in noted]
    report = budget.tally(on, columns, [], limits=LIMITS, now=NOW, by=by)
    assert (
        budget.tally(on, columns, [], limits=LIMITS, now=NOW, by=by, totals=ledger.totals_of(columns))
        == report
    )


def test_pending_and_limits_weigh_all_spend() -> None:
    noted = [("c" * 40, entry(1)), ("c" * 40, entry(2, ago=timedelta(seconds=30)))]
    waiting = [entry(3, ago=timedelta(seconds=10), tokens_in=1000)]
    report = budget.summarise(noted, waiting, limits=LIMITS, now=NOW)
    assert report.total.entries == 2 and report.pending.tokens == 1010
    assert spend(report, "today").used == 110 * 2 + 1010
    assert spend(report, "minute tokens").used == 110 + 1010
    assert spend(report, "minute requests").used == 2
    assert report.hour_tokens == 1120
    # Filters narrow the table, never what the limits weigh:
    narrowed = budget.summarise(noted, waiting, limits=LIMITS, now=NOW, since=NOW - timedelta(minutes=1))
    assert narrowed.total.entries == 1 and spend(narrowed, "today").used == 1230


def test_a_range_counts_its_copy_of_an_entry_wherever_the_first_copy_sits() -> None:
    # amend and rebase copy a note: the old commit and the new one hold the same entry.
    old, new = "0" * 40, "f" * 40
    shared, other = entry(1, tokens_in=500), entry(2)
    for noted in ([(old, shared), (new, shared), (old, other)], [(new, shared), (old, shared), (old, other)]):
        mine = budget.summarise(noted, [], limits=LIMITS, now=NOW, commits={new})
        assert mine.total.entries == 1 and mine.total.tokens_in == 500
        assert budget.summarise(noted, [], limits=LIMITS, now=NOW).total.entries == 2
        assert spend(mine, "today").used == 510 + 110  # the limits weigh all spend


def test_limits_weigh_billed_requests_only() -> None:
    # A context pack's tokens reach the bill inside a request: weighing both would count twice.
    noted = [
        ("c" * 40, entry(1, ago=timedelta(seconds=5))),
        ("c" * 40, entry(2, ago=timedelta(seconds=5), kind="context", tokens_in=5000)),
    ]
    waiting = [entry(3, ago=timedelta(seconds=5), kind="run", tokens_in=7000)]
    report = budget.summarise(noted, waiting, limits=LIMITS, now=NOW, by="kind")
    assert spend(report, "today").used == spend(report, "minute tokens").used == 110
    assert {g.key: g.totals.tokens_in for g in report.groups} == {"context": 5000, "request": 100}
    assert report.pending.tokens == 7010


def test_burn_rate_says_when_the_day_runs_out() -> None:
    # 1,200,000 tokens in the last hour: 20,000/min; 24M - 1.2M left lasts 19 hours,
    # past midnight, so the day lasts; with a 3M budget it runs out at 13:30.
    noted = [("c" * 40, entry(1, ago=timedelta(minutes=30), tokens_in=1_200_000, tokens_out=0))]
    assert budget.summarise(noted, [], limits=LIMITS, now=NOW).runs_out_at is None
    small = budget.Limits(3_000_000, 1_000_000, 50)
    report = budget.summarise(noted, [], limits=small, now=NOW)
    assert report.runs_out_at == "2026-11-24T13:30:00Z"
    assert "runs out at 13:30 UTC" in budget.render_text(report)


@pytest.mark.parametrize(
    "used, exhausted, warning",
    [
        (6_900, False, None),
        (7_000, False, "past 70%"),
        (9_000, False, "past 90%"),
        (10_000, True, None),
        (12_000, True, None),
    ],
)
def test_warnings_and_exhaustion(used: int, exhausted: bool, warning: str | None) -> None:
    noted = [("c" * 40, entry(1, tokens_in=used, tokens_out=0, agent="bot"))]
    report = budget.summarise(
        noted,
        [],
        limits=budget.Limits(10_000, 10**6, 50),
        now=NOW,
        agent_budget=lambda name: {"bot": 20_000}.get(name),
    )
    assert bool(report.exhausted) is exhausted
    lines = budget.problems(report)
    assert any("budget exhausted: today" in line for line in lines) is exhausted
    if warning:
        assert any(warning in line for line in lines)
    assert spend(report, "agent bot").used == used


def test_group_keys() -> None:
    noted = [
        ("a" * 40, entry(1, model="m1", agent="x", kind="run")),
        ("b" * 40, entry(2, ago=timedelta(days=1), tokens_in=5000, model="m2")),
    ]
    keys = {
        by: [g.key for g in budget.summarise(noted, [], limits=LIMITS, now=NOW, by=by).groups]
        for by in budget.GROUPINGS
    }
    assert keys == {
        "commit": ["b" * 40, "a" * 40],
        "day": ["2026-11-23", "2026-11-24"],
        "agent": ["-", "x"],
        "model": ["m2", "m1"],
        "kind": ["request", "run"],
    }


def test_text_prints_an_agents_name_whole_and_a_commit_in_12_digits() -> None:
    noted = [("a" * 40, entry(1, agent="claude-code:general-purpose")), ("b" * 40, entry(2, agent="x"))]
    by_agent = budget.render_text(budget.summarise(noted, [], limits=LIMITS, now=NOW, by="agent"))
    rows = by_agent.splitlines()
    assert rows[1].split()[0] == "claude-code:general-purpose"
    assert len({len(row) for row in rows[:4]}) == 1  # header, 2 agents, total: lined up
    by_commit = budget.render_text(budget.summarise(noted, [], limits=LIMITS, now=NOW, by="commit"))
    assert {row.split()[0] for row in by_commit.splitlines()[1:3]} == {"a" * 12, "b" * 12}


def test_parse_since() -> None:
    assert budget.parse_since("3d", NOW) == NOW - timedelta(days=3)
    assert budget.parse_since("today", NOW) == NOW.replace(hour=0)
    assert budget.parse_since("2026-11-20", NOW) == datetime(2026, 11, 20, tzinfo=timezone.utc)
    assert budget.parse_since("2026-11-20T10:00+02:00", NOW).hour == 10
    with pytest.raises(ValueError):
        budget.parse_since("last tuesday", NOW)


# -- through the command line -------------------------------------------------------------------


def recorded(repo: Path, cli, *args: str) -> None:
    assert cli("record", *args).exit_code == 0


def test_budget_cli_totals_and_check_at_and_over_the_limit(committed: Path, cli) -> None:
    recorded(committed, cli, "--in", "60", "--out", "40", "--agent", "bot")
    assert cli("ledger", "attach").exit_code == 0
    recorded(committed, cli, "--in", "5", "--out", "5")
    r = cli("budget", "--json")
    data = json.loads(r.stdout)
    assert data["total"] == {"entries": 1, "in": 60, "out": 40, "requests": 1, "tokens": 100}
    assert data["pending"]["tokens"] == 10
    assert cli("budget", "--check", "--daily-budget", "111").exit_code == 0
    at = cli("budget", "--check", "--daily-budget", "110")
    assert at.exit_code == 1 and "budget exhausted: today: 110 of 110" in at.stderr
    assert "patchpack.dailyBudget" in at.stderr
    git(committed, "config", "patchpack.dailyBudget", "50")
    assert run_patchpack("budget", "--check", cwd=committed).returncode == 1
    assert run_patchpack("budget", cwd=committed).returncode == 0  # reports, does not gate
    git(committed, "config", "patchpack.dailyBudget", "1000")
    git(committed, "config", "patchpack.agent.bot.dailyBudget", "100")
    over = run_patchpack("budget", "--check", cwd=committed)
    assert over.returncode == 1 and "agent bot: 100 of 100" in over.stderr
    git(committed, "config", "patchpack.minuteRequests", "2")
    git(committed, "config", "patchpack.agent.bot.dailyBudget", "oops")
    assert cli("budget").exit_code == 2


def test_budget_cli_text_by_commit_and_range(committed: Path, cli) -> None:
    recorded(committed, cli, "--in", "1000", "--out", "1")
    write(committed / "a.txt", "a\n")
    git(committed, "add", "a.txt")
    git(committed, "commit", "-q", "-m", "Add a")
    cli("ledger", "attach")
    recorded(committed, cli, "--in", "7", "--out", "0")
    cli("ledger", "attach", "HEAD~1")
    r = cli("budget", "--by", "commit")
    assert r.exit_code == 0
    rows = r.stdout.splitlines()
    assert rows[0].split() == ["commit", "entries", "in", "out", "requests"]
    assert rows[1].endswith("Add a") and "1,000" in rows[1]
    assert rows[2].endswith("initial")
    assert "counted with: usage (2 entries)" in r.stdout
    only = json.loads(cli("budget", "HEAD~1..HEAD", "--json").stdout)
    assert only["total"]["tokens"] == 1001
    assert cli("budget", "nope..HEAD").exit_code == 2
    assert cli("budget", "--since", "whenever").exit_code == 2
    assert cli("budget", "--by", "colour").exit_code == 2


def test_budget_in_an_empty_repository_and_outside_one(repo: Path, cli, tmp_path: Path) -> None:
    r = cli("budget")
    assert r.exit_code == 0 and "total" in r.stdout
    outside = tmp_path / "outside"
    outside.mkdir()
    r2 = run_patchpack("budget", cwd=outside)
    assert r2.returncode == 2 and "not a git repository" in r2.stderr
    assert run_patchpack("record", "--in", "-3", "--out", "1", cwd=repo).returncode == 2


def test_budget_reads_the_cache_and_sees_new_notes(committed: Path) -> None:
    repo = Repo.discover(committed)
    settings_ = Settings()
    ledger.add_pending(repo, kind="request", tokens_in=5, counter="usage")
    ledger.attach_pending(repo, repo.head_oid())  # type: ignore[arg-type]
    assert budget.for_repo(repo, settings=settings_).total.tokens == 5
    ledger.cache_written()  # written while the report is made
    assert (committed / ".git" / "patchpack" / "ledger-cache").exists()
    ledger.add_pending(repo, kind="request", tokens_in=7, counter="usage")
    ledger.attach_pending(repo, repo.head_oid())  # type: ignore[arg-type]
    assert budget.for_repo(repo, settings=settings_).total.tokens == 12
    ledger.cache_written()
    (committed / ".git" / "patchpack" / "ledger-cache").write_bytes(b"\x00garbage")
    assert budget.for_repo(repo, settings=settings_).total.tokens == 12


def test_figures_feed_the_agents_budget_line() -> None:
    from patchpack.agents import loop as agents

    noted = [("c" * 40, entry(1, ago=timedelta(seconds=20), tokens_in=900, agent="bot"))]
    report = budget.summarise(
        noted, [entry(2, ago=timedelta(seconds=50))], limits=LIMITS, now=NOW, agent_budget=lambda name: 1000
    )
    given = budget.figures(report)
    assert given == {
        "day_tokens": 1020,
        "minute_tokens": 1020,
        "minute_requests": 2,
        "minute_reset_in": 10,
        "agents": {"bot": (910, 1000)},
    }
    line = agents.budget_line(agents.budgets(Settings(), **given), counter="usage")
    assert line is not None and "agent bot 910/1,000 tokens" in line


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        (["--since", "99999999999d"], {}, "--since: out of range"),
        (["--since", "9999-12-31T23:59:59-23:00"], {}, "--since: out of range"),
        ([], {"patchpack.agent.bot.dailyBudget": "\u00b2"}, "expected a whole number below 10**15"),
        ([], {"patchpack.agent.bot.dailyBudget": "9" * 5000}, "expected a whole number below 10**15"),
        ([], {"patchpack.agent.bot.dailyBudget": str(10**15)}, "expected a whole number below"),
    ],
)
def test_out_of_range_input_to_budget_is_bad_input(
    committed: Path, args: list[str], config: dict[str, str], message: str
) -> None:
    assert run_patchpack("record", "--in", "5", "--out", "5", "--agent", "bot", cwd=committed).returncode == 0
    for key, value in config.items():
        git(committed, "config", key, value)
    for command in (["budget", *args], ["status"] if config else ["budget", "--json", *args]):
        r = run_patchpack(*command, cwd=committed)
        assert r.returncode == 2, r.stderr
        assert message in r.stderr and "hint: " in r.stderr and len(r.stderr) < 400


def test_a_daily_budget_of_any_size_is_weighed(committed: Path) -> None:
    # The rate this hour against a budget too large for a float: no overflow, no "runs out".
    assert run_patchpack("record", "--in", "5", "--out", "5", cwd=committed).returncode == 0
    git(committed, "config", "patchpack.dailyBudget", "9" * 400)
    r = run_patchpack("budget", cwd=committed)
    assert r.returncode == 0, r.stderr
    assert "at this rate today's budget lasts the day" in r.stdout
    assert run_patchpack("status", cwd=committed).returncode == 0
