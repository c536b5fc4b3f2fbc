"""The Code Puppy plugin's decisions on one tool call, without Code Puppy (#18)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import Result

from patchpack.agents.code_puppy import actions, decide, history, plugin
from patchpack.agents.code_puppy.plugin import pre_tool_call, shell_command, shell_output

from conftest import git, lines, write


@pytest.fixture
def app(committed: Path) -> Path:
    write(committed / "big.py", lines(300))
    write(committed / "util.py", lines(10))
    git(committed, "add", ".")
    git(committed, "commit", "-q", "-m", "app")
    return committed


def logged(repo: Path) -> list[dict[str, str]]:
    log = repo / ".git" / actions.LOG
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_a_test_run_is_rewritten_through_patchpack_test(app: Path) -> None:
    assert shell_command("pytest -x tests/", None) == {
        "rewrite": "patchpack test -x tests/",
        "rewrite_reason": "patchpack (output capped, full log kept)",
    }
    assert shell_command("cd sub && python -m pytest -q | tail -5", None) == {
        "rewrite": "cd sub && patchpack test -q",
        "rewrite_reason": "patchpack (output capped, full log kept)",
    }
    assert logged(app)[0]["kind"] == "rewrite"


def test_any_other_command_goes_through_patchpack_run(app: Path) -> None:
    assert shell_command("seq 1 1000", None)["rewrite"] == "patchpack run -- seq 1 1000"  # type: ignore[index]
    assert (
        shell_command("make 2>&1 | grep error", ".")["rewrite"]
        == "patchpack run -- bash -c 'make 2>&1 | grep error'"
    )  # type: ignore[index]


def test_commands_already_through_patchpack_and_builtins_run_as_they_are(app: Path) -> None:
    for command in ("patchpack test -q", "patchpack run -- ls", "cd sub", "export A=1", ""):
        assert shell_command(command, None) is None, command
    assert shell_command(["not", "a", "command"], None) is None
    assert logged(app) == []


def test_output_that_comes_back_long_is_capped_head_and_tail(app: Path) -> None:
    result = SimpleNamespace(command="cat x", stdout=lines(1000).rstrip("\n"), stderr="oops")
    shell_output(result)
    out = result.stdout.split("\n")
    assert len(out) == 201 and out[0] == "line 1" and out[49] == "line 50"
    assert out[50].startswith("... 800 lines omitted by patchpack") and out[-1] == "line 1000"
    assert result.stderr == "oops"
    assert [e["kind"] for e in logged(app)] == ["cap"]
    short = SimpleNamespace(command="ls", stdout=lines(200), stderr=None)
    shell_output(short)
    assert short.stdout == lines(200)


def test_the_cap_follows_output_lines(app: Path) -> None:
    git(app, "config", "patchpack.outputLines", "20")
    result = SimpleNamespace(stdout=lines(100), stderr="")
    shell_output(result)
    assert len(result.stdout.split("\n")) == 21


def test_an_edit_over_the_limits_is_refused_naming_the_next_command(app: Path) -> None:
    args = {"file_path": "util.py", "content": lines(200)}
    out = pre_tool_call("create_file", args)
    assert out is not None and out["blocked"] is True
    assert out["error_message"].startswith("[BLOCKED] this edit of util.py would make")
    assert "patchpack split && patchpack apply --all" in out["error_message"]
    assert (app / "util.py").read_text() == lines(10)
    assert pre_tool_call("create_file", {"file_path": "util.py", "content": lines(20)}) is None
    assert pre_tool_call(
        "replace_in_file",
        {"file_path": "util.py", "replacements": [{"old_str": "line 3\n", "new_str": lines(150, "new")}]},
    )["blocked"]  # type: ignore[index]
    assert pre_tool_call("delete_file", {"file_path": "big.py"})["blocked"]  # type: ignore[index]
    assert [e["kind"] for e in logged(app)] == ["refuse"] * 3


def test_a_whole_read_of_a_large_file_is_narrowed_in_place(app: Path) -> None:
    args: dict[str, object] = {"file_path": "big.py"}
    out = pre_tool_call("read_file", args)
    assert args == {"file_path": "big.py", "start_line": 1, "num_lines": 200}
    assert out is not None and "blocked" not in out
    assert out["context_message"].startswith("patchpack: showing lines 1-200 only. big.py has 300")
    ranged: dict[str, object] = {"file_path": "big.py", "start_line": 250, "num_lines": 40}
    assert pre_tool_call("read_file", ranged) is None and ranged["start_line"] == 250
    assert pre_tool_call("read_file", {"file_path": "util.py"}) is None


def test_other_tools_and_hostile_arguments_pass(app: Path) -> None:
    assert pre_tool_call("grep", {"search_string": "x"}) is None
    assert pre_tool_call("create_file", "not a dict") is None
    assert pre_tool_call(None, {}) is None
    assert pre_tool_call("create_file", {"file_path": ["x"], "content": 3}) is None
    assert pre_tool_call("replace_in_file", {"file_path": "util.py", "replacements": "[[["}) is None


def test_a_broken_repository_lets_every_call_through(app: Path) -> None:
    (app / ".git" / "config").write_text("[broken\n")
    assert pre_tool_call("create_file", {"file_path": "util.py", "content": lines(300)}) is None
    assert shell_command("pytest", None) is None
    assert plugin.fail_open(7, "x", lambda: 1 // 0) == 7


def test_outside_a_repository_nothing_is_rewritten_but_tests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert shell_command("pytest -q", None) == {
        "rewrite": "patchpack test -q",
        "rewrite_reason": "patchpack (output capped, full log kept)",
    }
    assert decide.settings_at(tmp_path).output_lines == 200


def test_status_shows_what_the_plugin_did(app: Path, cli: Callable[..., Result]) -> None:
    assert "plugin:" not in cli("status").stdout
    shell_command("pytest", None)
    shell_command("ls -la", None)
    pre_tool_call("create_file", {"file_path": "util.py", "content": lines(300)})
    with (app / ".git" / actions.LOG).open("a") as log:
        log.write('not json\n{"kind": "other"}\n')  # a damaged log line is skipped
    status = cli("status")
    assert status.exit_code == 0, status.stderr
    assert "plugin:      2 commands rewritten, 1 edit refused\n" in status.stdout
    assert json.loads(cli("status", "--json").stdout)["plugin"] == {"rewrite": 2, "refuse": 1}


def test_integrate_plugin_writes_the_workflow_only_profile(app: Path, cli: Callable[..., Result]) -> None:
    done = cli("integrate", "code-puppy", "--plugin")
    assert done.exit_code == 0, done.stderr
    path = app / ".code_puppy" / "agents" / "pack-leader-cerebras-efficient.json"
    agent = json.loads(path.read_text())
    assert agent["name"] == "pack-leader-cerebras-efficient"
    prompt = "\n".join(agent["system_prompt"])
    # What the plugin enforces in code is not asked of the model any more.
    for gone in ("patchpack record", "/truncate", "Never read a whole file", "patchpack run -- "):
        assert gone not in prompt, gone
    assert "patchpack split && patchpack apply --all" in prompt
    assert "`/agent pack-leader-cerebras-efficient`" in done.stdout
    assert "Code Puppy loads the plugin" in done.stdout and "/hooks trust" not in done.stdout
    assert not (app / ".code_puppy" / "agents" / "pack-leader-token-efficient.json").exists()
    # The profile is set-up, not the agent's first micro-patch.
    assert pre_tool_call("create_file", {"file_path": "util.py", "content": lines(100)}) is None


SOURCE = "".join(f"def fn{i}(x):\n" + "    y = x\n" * 28 + "    return y\n\n\n" for i in range(12))


@pytest.fixture
def code(committed: Path) -> Path:
    write(committed / "src" / "mod.py", SOURCE)  # 12 functions of 32 lines: 384 lines
    git(committed, "add", ".")
    git(committed, "commit", "-q", "-m", "mod")
    return committed


def test_a_read_is_narrowed_to_the_line_a_test_failure_names(code: Path) -> None:
    args: dict[str, object] = {"file_path": "src/mod.py"}
    failure = '{"stdout": "FAILED tests/test_mod.py::test_f - x\\nsrc/mod.py:200: AssertionError"}'
    out = pre_tool_call("read_file", args, ["fix the failing test", failure])
    assert args == {"file_path": "src/mod.py", "start_line": 193, "num_lines": 30}  # def fn6
    assert out is not None and out["context_message"] == (
        "patchpack: showing lines 193-222 only: line 200 (def fn6), named in the "
        'context. The start of the file: read_file(file_path="src/mod.py", start_line=1, '
        "num_lines=200)"
    )
    assert logged(code)[-1]["kind"] == "narrow"


def test_a_read_is_narrowed_to_the_def_the_prompt_names(code: Path) -> None:
    args: dict[str, object] = {"file_path": str(code / "src" / "mod.py")}
    pre_tool_call("read_file", args, ["Rename the argument of fn9 to value."])
    assert (args["start_line"], args["num_lines"]) == (289, 30)
    # The newest text wins: a traceback after the prompt.
    args = {"file_path": "src/mod.py"}
    pre_tool_call("read_file", args, ["Look at fn9.", 'File "/x/src/mod.py", line 3, in fn0'])
    assert (args["start_line"], args["num_lines"]) == (1, 30)
    # A line of another file, or past this one's end, is not this file's part.
    args = {"file_path": "src/mod.py"}
    pre_tool_call("read_file", args, ["src/other.py:40 and src/mod.py:9999 and f"])
    assert (args["start_line"], args["num_lines"]) == (1, 200)


def test_with_nothing_named_a_read_gets_the_start_an_outline_and_the_call_for_more(code: Path) -> None:
    args: dict[str, object] = {"file_path": "src/mod.py"}
    out = pre_tool_call("read_file", args, ["tidy this module"])
    assert args == {"file_path": "src/mod.py", "start_line": 1, "num_lines": 200}
    note = out["context_message"] if out else ""
    assert note.startswith("patchpack: showing lines 1-200 only. src/mod.py has 384 lines")
    outline = note.split("Outline of the rest (line: definition):\n")[1].splitlines()
    assert outline[:-1] == [f"{32 * i + 1:>6}: def fn{i}(x):" for i in range(7, 12)]
    assert outline[-1] == 'Read on: read_file(file_path="src/mod.py", start_line=201, num_lines=200)'


def test_the_recent_context_is_the_last_prompts_and_shell_outputs_cut_to_their_ends() -> None:
    def part(kind: str, content: str, tool: str = "") -> SimpleNamespace:
        return SimpleNamespace(part_kind=kind, content=content, tool_name=tool)

    messages = [
        SimpleNamespace(parts=[part("system-prompt", "be brief"), part("user-prompt", "fix f")]),
        SimpleNamespace(parts=[part("tool-return", "def g(): ...", "read_file")]),
        SimpleNamespace(parts=[part("tool-return", "x" * 30_000 + "a.py:3", "shell")]),
    ]
    assert history.recent(messages) == ["fix f", "x" * (history.RECENT_CHARS - 6) + "a.py:3"]
    many = [SimpleNamespace(parts=[part("user-prompt", str(i))]) for i in range(9)]
    assert history.recent(many) == ["5", "6", "7", "8"]
