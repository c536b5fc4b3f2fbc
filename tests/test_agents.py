"""The agent workflow: cadence, budget line, prompt, and the agent integrations."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from patchpack.agents import integrate
from patchpack.agents import loop as agents
from patchpack.agents.loop import Budget
from patchpack.config import Settings
from patchpack.errors import BadInput, Failed
from patchpack.git import Repo

from conftest import git, run_patchpack, write

CLI = Callable[..., Result]

# -- cadence ----------------------------------------------------------------------------------


def test_reminder_at_iterations_2_4_6_and_not_between(committed: Path) -> None:
    repo, s = Repo.discover(), Settings.load()
    said = [agents.count_iteration(repo, s) for _ in range(7)]
    line = "reminder: run /truncate 6 to keep the history short"
    assert said == [None, line, None, line, None, line, None]
    assert (repo.git_dir / "patchpack" / "iterations").read_text() == "7\n"
    state = agents.cadence(repo, s)
    assert (state.iterations, state.until_reminder) == (7, 1)
    assert state.as_dict() == {"iterations": 7, "every": 2, "until_reminder": 1, "reminder_due": False}


def test_cadence_follows_settings(committed: Path) -> None:
    git(committed, "config", "patchpack.truncateEvery", "3")
    git(committed, "config", "patchpack.truncateKeep", "4")
    git(committed, "config", "patchpack.truncateCommand", "/compact --keep {keep}")
    repo = Repo.discover()
    s = Settings.load(repo.config_get)
    said = [agents.count_iteration(repo, s) for _ in range(6)]
    line = "reminder: run /compact --keep 4 to keep the history short"
    assert said == [None, None, line, None, None, line]


def test_truncate_every_0_never_reminds(committed: Path) -> None:
    repo, s = Repo.discover(), Settings.load(truncate_every=0)
    assert [agents.count_iteration(repo, s) for _ in range(4)] == [None] * 4
    assert agents.cadence(repo, s).until_reminder is None
    assert "No truncation reminders" in agents.prompt(s)


def test_bad_truncate_command_is_bad_input_and_counts_nothing(committed: Path) -> None:
    repo = Repo.discover()
    with pytest.raises(BadInput, match="truncateCommand"):
        agents.count_iteration(repo, Settings.load(truncate_command="/truncate {n}"))
    assert agents.cadence(repo, Settings.load()).iterations == 0


def test_damaged_counter_restarts(committed: Path) -> None:
    repo = Repo.discover()
    write(repo.git_dir / "patchpack" / "iterations", "garbage\n")
    assert agents.cadence(repo, Settings.load()).iterations == 0
    agents.count_iteration(repo, Settings.load())
    assert agents.cadence(repo, Settings.load()).iterations == 1


def test_each_worktree_counts_its_own(committed: Path, tmp_path: Path) -> None:
    git(committed, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "other")
    main, linked, s = Repo.discover(committed), Repo.discover(tmp_path / "wt"), Settings.load()
    agents.count_iteration(main, s)
    agents.count_iteration(linked, s)
    agents.count_iteration(linked, s)
    assert (agents.cadence(main, s).iterations, agents.cadence(linked, s).iterations) == (1, 2)
    assert not list(tmp_path.joinpath("wt").rglob("iterations"))  # never in the work tree


# -- budget guard -----------------------------------------------------------------------------


def test_no_line_at_or_under_70_percent() -> None:
    s = Settings.load()
    assert (
        agents.budget_line(
            agents.budgets(s, context_tokens=35_000, day_tokens=16_800_000, minute_requests=35),
            counter="cl100k_base",
        )
        is None
    )


def test_daily_line_says_used_left_and_what_to_do() -> None:
    s = Settings.load()
    line = agents.budget_line(agents.budgets(s, day_tokens=18_000_000), counter="cl100k_base")
    assert line == (
        "budget: daily 18,000,000/24,000,000 tokens (75%, 6,000,000 left) "
        "[cl100k_base]; next: /compact, keep requests small, and land what you "
        "have before starting more"
    )


def test_the_worst_budget_comes_first_and_picks_the_action() -> None:
    s = Settings.load()
    found = agents.budgets(
        s, context_tokens=40_000, day_tokens=17_500_000, minute_requests=48, minute_reset_in=23
    )
    line = agents.budget_line(found, counter="cl100k_base")
    assert line is not None
    assert line.startswith(
        "budget: per-minute requests 48/50 requests (96%, 2 left); "
        "context 40,000/50,000 tokens (80%, 10,000 left); daily"
    )
    assert line.endswith("next: wait 23 s for the per-minute window")


def test_context_budget_suggests_narrowing() -> None:
    line = agents.budget_line(agents.budgets(Settings.load(), context_tokens=45_000), counter="o200k_base")
    assert line is not None and "[o200k_base]" in line and "narrow the request" in line


def test_over_budget_refusal_and_override() -> None:
    found = agents.budgets(
        Settings.load(),
        day_tokens=24_000_000,
        minute_tokens=2_000_000,
        agents={"pack-leader": (900, 1_000), "husky": (1_200, 1_000)},
    )
    assert [b.name for b in agents.exhausted(found)] == ["daily", "agent husky"]
    with pytest.raises(
        Failed, match="over budget: daily 24,000,000/24,000,000 tokens, agent husky 1,200/1,000 tokens"
    ) as e:
        agents.refuse_when_exhausted(found, over_budget=False)
    assert e.value.hint is not None and "--over-budget" in e.value.hint
    agents.refuse_when_exhausted(found, over_budget=True)
    line = agents.budget_line(found, counter="cl100k_base")
    assert line is not None and "next: wait 60 s" in line  # per-minute at 200% is the worst


def test_per_minute_over_100_percent_does_not_refuse() -> None:
    found = agents.budgets(Settings.load(), minute_tokens=1_500_000, context_tokens=60_000)
    agents.refuse_when_exhausted(found, over_budget=False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["context", "daily", "minute", "agent"]),
            st.integers(0, 10**8),
            st.integers(0, 10**8),
        ),
        max_size=5,
    )
)
def test_a_line_exactly_when_something_is_over_70_percent(raw: list[tuple[str, int, int]]) -> None:
    found = [Budget(kind, kind, used, limit) for kind, used, limit in raw]
    line = agents.budget_line(found, counter="c")
    hot = [b for b in found if b.limit > 0 and b.used / b.limit > 0.7]
    assert (line is None) == (not hot)
    if line is not None:
        assert line.startswith("budget: ") and "\n" not in line and "; next: " in line


# -- prompt -----------------------------------------------------------------------------------


def test_prompt_names_the_commands_and_fills_in_settings(committed: Path, cli: CLI) -> None:
    git(committed, "config", "patchpack.maxLines", "80")
    git(committed, "config", "patchpack.outputLines", "150")
    r = cli("prompt")
    assert r.exit_code == 0
    for command in (
        "patchpack context --grep",
        "patchpack context --at",
        "patchpack run --",
        "patchpack test",
        "patchpack split",
        "patchpack next",
        "patchpack apply",
        "patchpack budget",
        "patchpack status",
    ):
        assert command in r.stdout
    assert "patchpack record" not in r.stdout  # a model cannot know its tokens (#17)
    assert "80 diff lines" in r.stdout and "150 lines" in r.stdout
    assert "reminder: run /truncate 6 to keep the history short" in r.stdout
    assert "24,000,000" in r.stdout and "50,000 tokens" in r.stdout


def test_prompt_outside_a_repository(tmp_path: Path) -> None:
    r = run_patchpack("prompt", cwd=tmp_path)
    assert r.returncode == 0 and "120 diff lines" in r.stdout


# -- code puppy -------------------------------------------------------------------------------


def test_code_puppy_agent_is_valid_json_with_required_fields(committed: Path, cli: CLI) -> None:
    r = cli("integrate", "code-puppy")
    path = committed / ".code_puppy" / "agents" / "pack-leader-token-efficient.json"
    assert r.exit_code == 0 and r.stdout.startswith(f"wrote {path}\n")
    agent = json.loads(path.read_text())
    assert agent["name"] == "pack-leader-token-efficient"
    assert agent["display_name"] and agent["description"]
    assert "\n".join(agent["system_prompt"]) + "\n" == cli("prompt").stdout
    assert set(agent["tools"]) <= {
        "list_files",
        "read_file",
        "grep",
        "edit_file",
        "delete_file",
        "agent_run_shell_command",
        "agent_share_your_reasoning",
    }
    assert "model" not in agent
    printed, end = json.JSONDecoder().raw_decode(r.stdout.split("\n", 1)[1])
    assert printed == agent  # prints what it wrote, then the next steps
    assert r.stdout.split("\n", 1)[1][end:].startswith("\nnext steps:\n  1. ")
    assert cli("integrate", "code-puppy").stdout.startswith("unchanged ")


def test_code_puppy_global_model_and_dry_run(committed: Path, cli: CLI) -> None:
    home = Path(os.environ["HOME"])
    target = home / ".code_puppy" / "agents" / "pack-leader-token-efficient.json"
    r = cli("integrate", "code-puppy", "--global", "--model", "zai-glm-4.7", "--dry-run")
    assert r.exit_code == 0 and r.stdout.startswith(f"would write {target}")
    assert not target.exists()
    assert json.loads(r.stdout.split("\n", 1)[1])["model"] == "zai-glm-4.7"
    cli("integrate", "code-puppy", "--global", "--model", "zai-glm-4.7")
    assert json.loads(target.read_text())["model"] == "zai-glm-4.7"
    assert not (committed / ".code_puppy").exists()


# -- claude code ------------------------------------------------------------------------------

USER_SETTINGS = {
    "permissions": {"allow": ["Bash(npm run lint)"], "deny": ["Read(./.env)"]},
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "~/bin/audit.sh"}]}],
        "PostToolUse": [
            {"matcher": "Write|Edit", "hooks": [{"type": "command", "command": "prettier --write"}]}
        ],
    },
    "model": "sonnet",
}


def test_claude_code_fresh_settings(committed: Path, cli: CLI) -> None:
    r = cli("integrate", "claude-code")
    path = committed / ".claude" / "settings.json"
    assert r.exit_code == 0 and r.stdout.startswith(f"wrote {path}\n")
    data = json.loads(path.read_text())
    [entry] = data["hooks"]["PreToolUse"]
    # The guard's launcher, installed beside `patchpack`, is on the tests' PATH.
    assert entry["hooks"] == [{"type": "command", "command": "patchpack-guard"}]
    assert set(entry["matcher"].split("|")) >= {"Edit", "Write", "MultiEdit", "Bash", "Read"}
    for event in ("Stop", "SubagentStop"):  # the billed usage, captured from the transcript
        assert data["hooks"][event] == [
            {"hooks": [{"type": "command", "command": "patchpack ledger import --hook"}]}
        ]


def test_claude_code_merges_keeps_user_hooks_and_is_idempotent(committed: Path, cli: CLI) -> None:
    path = write(committed / ".claude" / "settings.json", json.dumps(USER_SETTINGS, indent=4))
    assert cli("integrate", "claude-code").exit_code == 0
    data = json.loads(path.read_text())
    assert data["permissions"] == USER_SETTINGS["permissions"] and data["model"] == "sonnet"
    assert data["hooks"]["PostToolUse"] == USER_SETTINGS["hooks"]["PostToolUse"]
    pre = data["hooks"]["PreToolUse"]
    assert pre[0] == USER_SETTINGS["hooks"]["PreToolUse"][0]
    assert pre[1]["hooks"][0]["command"] == "patchpack-guard"
    assert len(data["hooks"]["Stop"]) == len(data["hooks"]["SubagentStop"]) == 1
    first = path.read_bytes()
    again = cli("integrate", "claude-code")
    assert again.stdout.startswith("unchanged ") and path.read_bytes() == first
    cli("integrate", "claude-code", "--limit-all")  # updated in place, not added twice
    pre = json.loads(path.read_text())["hooks"]["PreToolUse"]
    assert [h["command"] for e in pre for h in e["hooks"]] == [
        "~/bin/audit.sh",
        "patchpack-guard --limit-all",
    ]


def test_the_guard_hook_without_its_launcher_and_an_older_hook_updated() -> None:
    assert integrate.guard_command(limit_all=True, which=lambda name: None) == "patchpack guard --limit-all"
    old = {
        "hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "patchpack guard"}]}]
        }
    }
    merged = integrate.merge_claude_settings(old, command="patchpack-guard")
    assert [h["command"] for e in merged["hooks"]["PreToolUse"] for h in e["hooks"]] == ["patchpack-guard"]


def test_claude_code_dry_run_writes_nothing(committed: Path, cli: CLI) -> None:
    path = write(committed / ".claude" / "settings.json", json.dumps(USER_SETTINGS))
    r = cli("integrate", "claude-code", "--dry-run")
    assert r.stdout.startswith("would write ") and "patchpack-guard" in r.stdout
    assert json.loads(path.read_text()) == USER_SETTINGS


@pytest.mark.parametrize(
    "text", ["{not json", "[]", '{"hooks": []}', '{"hooks": {"PreToolUse": {}}}', '{"hooks": {"Stop": {}}}']
)
def test_claude_code_refuses_a_settings_file_it_cannot_merge(committed: Path, text: str) -> None:
    path = write(committed / ".claude" / "settings.json", text)
    r = run_patchpack("integrate", "claude-code", cwd=committed)
    assert r.returncode == 2 and r.stderr.startswith("patchpack: ") and r.stdout == ""
    assert path.read_text() == text


def test_integrate_from_a_subdirectory_writes_at_the_top(committed: Path) -> None:
    (committed / "src").mkdir()
    r = run_patchpack("integrate", "claude-code", cwd=committed / "src")
    assert r.returncode == 0 and (committed / ".claude" / "settings.json").exists()


# -- where Code Puppy reads its files (code_puppy/config.py: _get_xdg_dir) ---------------------

PUPPY_AGENT = "pack-leader-token-efficient.json"
OURS = {"type": "stdio", "command": "patchpack", "args": ["mcp"]}


def test_code_puppy_mcp_merges_into_the_mcpServers_key_it_finds(committed: Path, cli: CLI) -> None:
    # Code Puppy reads `mcpServers` only when `mcp_servers` is absent: a second key would
    # hide the user's servers from it.
    path = write(
        Path(os.environ["XDG_CONFIG_HOME"]) / "code_puppy" / "mcp_servers.json",
        json.dumps({"mcpServers": {"other": {"command": "x"}}, "extra": 1}),
    )
    assert cli("integrate", "code-puppy", "--mcp").exit_code == 0
    data = json.loads(path.read_text())
    assert set(data) == {"mcpServers", "extra"}
    assert data["mcpServers"] == {"other": {"command": "x"}, "patchpack": OURS}
    write(path, json.dumps({"mcp_servers": {"a": {"command": "a"}}, "mcpServers": {"b": {"command": "b"}}}))
    assert cli("integrate", "code-puppy", "--mcp").exit_code == 0
    data = json.loads(path.read_text())  # `mcp_servers` wins when both are there
    assert set(data["mcp_servers"]) == {"a", "patchpack"} and set(data["mcpServers"]) == {"b"}


@pytest.mark.parametrize("xdg", [True, False])
def test_code_puppy_files_go_where_code_puppy_reads_them(
    committed: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, xdg: bool
) -> None:
    home = Path(os.environ["HOME"])
    if xdg:
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
        config, data = tmp_path / "config" / "code_puppy", tmp_path / "data" / "code_puppy"
    else:  # unset, or set but empty, as Code Puppy reads them
        monkeypatch.delenv("XDG_CONFIG_HOME")
        monkeypatch.setenv("XDG_DATA_HOME", "")
        config = data = home / ".code_puppy"
    r = cli("integrate", "code-puppy", "--global", "--mcp")
    assert r.exit_code == 0, r.stderr
    assert json.loads((config / "mcp_servers.json").read_text())["mcp_servers"]["patchpack"] == OURS
    assert json.loads((data / "agents" / PUPPY_AGENT).read_text())["mcp_servers"] == ["patchpack"]
    assert f"wrote {config / 'mcp_servers.json'}" in r.stdout
    assert f"wrote {data / 'agents' / PUPPY_AGENT}" in r.stdout
    assert not (committed / ".code_puppy").exists()


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_written_files_get_the_usual_mode_and_keep_theirs(committed: Path, cli: CLI, umask: int) -> None:
    mcp = write(committed / ".mcp.json", "{}")
    mcp.chmod(0o600)  # the user's own choice for a file that is there
    old = os.umask(umask)
    try:
        assert cli("integrate", "claude-code", "--mcp").exit_code == 0
        assert cli("integrate", "code-puppy").exit_code == 0
    finally:
        os.umask(old)
    for path in (committed / ".claude" / "settings.json", committed / ".code_puppy" / "agents" / PUPPY_AGENT):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path
    assert mcp.stat().st_mode & 0o777 == 0o600 and "patchpack" in mcp.read_text()


def test_integrate_says_what_gates_its_files_and_how_to_land_them(committed: Path) -> None:
    assert run_patchpack("init", cwd=committed).returncode == 0  # patchpack's own hooks
    claude = run_patchpack("integrate", "claude-code", "--mcp", cwd=committed)
    puppy = run_patchpack("integrate", "code-puppy", cwd=committed)
    assert claude.returncode == puppy.returncode == 0
    # Claude Code starts a project MCP server once approved; Code Puppy runs project hooks
    # once trusted, again after each change.
    assert '"enabledMcpjsonServers": ["patchpack"]' in claude.stdout
    assert ".claude/settings.local.json" in claude.stdout
    for out in (claude.stdout, puppy.stdout):
        assert "/hooks trust accept" in out and "each change of .claude/settings.json" in out
    assert "/agent pack-leader-token-efficient" in puppy.stdout
    lands = [
        line.split(": ", 1)[1]
        for out in (claude.stdout, puppy.stdout)
        for line in out.splitlines()
        if "git add " in line
    ]
    assert len(lands) == 2
    for command in lands:  # each lands through the micro-patch hook (3 files at once did not)
        done = subprocess.run(
            ["sh", "-c", command], cwd=committed, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    assert git(committed, "status", "--porcelain") == ""
    assert len(git(committed, "log", "--format=%s").splitlines()) == 3
    again = run_patchpack("integrate", "claude-code", "--mcp", cwd=committed)
    assert again.returncode == 0 and "git add" not in again.stdout  # nothing left to land


def test_one_file_reads_as_1_file_in_the_prompt_and_status(committed: Path, cli: CLI) -> None:
    git(committed, "config", "patchpack.maxFiles", "1")
    assert "at most 1 file and 120 diff lines each" in cli("prompt").stdout
    write(committed / "README.md", "# changed\n")
    assert "uncommitted: 1/1 file, 7/120 diff lines  ok" in cli("status").stdout
