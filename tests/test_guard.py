"""`patchpack guard` on recorded hook payloads (tests/payloads/), Claude Code and Code Puppy."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from patchpack import git as gitmod
from patchpack.agents.guard import answer, via_patchpack_run, via_patchpack_test
from patchpack.cli import cli as cli_group
from patchpack.git import Repo
from patchpack.limits import diffs

from conftest import git, lines, run_patchpack, write

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str, repo: Path) -> str:
    """The recorded payload with its paths pointing into ``repo``."""
    return (PAYLOADS / f"{name}.json").read_text().replace("@REPO@", json.dumps(str(repo))[1:-1])


def decision(out: str) -> dict[str, Any]:
    parsed = json.loads(out)
    assert parsed["hookSpecificOutput"]["hookEventName"] == "PreToolUse"
    return parsed["hookSpecificOutput"]  # type: ignore[no-any-return]


def functions(n: int, name: str = "line") -> str:
    return "".join(f"def {name}_{i}():\n    return {i}\n\n\n" for i in range(1, n + 1))


@pytest.fixture
def app(committed: Path) -> Path:
    """A repository whose HEAD has app.py, util.py and a 300-line big.py."""
    write(committed / "app.py", functions(60))
    write(committed / "util.py", functions(5, "helper"))
    write(committed / "big.py", lines(300))
    git(committed, "add", ".")
    git(committed, "commit", "-q", "-m", "app")
    return committed


# -- edits ------------------------------------------------------------------------------------


def test_edit_within_limits_passes(app: Path) -> None:
    result = answer(payload("edit", app))
    assert (result.stdout, result.stderr, result.exit_code) == ("", "", 0)


def test_edit_that_takes_the_change_over_the_limit_is_denied(app: Path) -> None:
    # 110 diff lines already uncommitted in util.py: the edit's 11 more go over 120.
    write(app / "util.py", functions(5, "helper") + lines(100, "extra = 1  #"))
    result = answer(payload("edit", app))
    assert result.exit_code == 0 and result.stderr == ""
    out = decision(result.stdout)
    assert out["permissionDecision"] == "deny"
    reason = out["permissionDecisionReason"]
    assert "app.py" in reason and "over the micro-patch limits" in reason
    assert "patchpack split && patchpack apply --all" in reason
    assert (app / "app.py").read_text() == functions(60)  # the guard changes nothing


def test_edit_that_shrinks_an_oversized_change_passes(app: Path) -> None:
    write(
        app / "app.py",
        functions(60).replace("def line_50():\n    return 50\n", "def line_50():\n" + lines(200, "    #")),
    )
    shrink = json.loads(payload("edit", app))
    shrink["tool_input"] = {
        "file_path": str(app / "app.py"),
        "old_string": lines(200, "    #"),
        "new_string": "    return 50\n",
    }
    assert answer(json.dumps(shrink)).stdout == ""


def test_write_of_a_new_large_file_is_denied_as_too_big_on_its_own(app: Path) -> None:
    out = decision(answer(payload("write", app)).stdout)
    assert out["permissionDecision"] == "deny"
    assert "report.py" in out["permissionDecisionReason"]
    assert "The edit alone is 156 diff lines" in out["permissionDecisionReason"]
    assert not (app / "report.py").exists()


def test_multi_edit_of_a_third_file_is_denied(app: Path) -> None:
    write(app / "app.py", functions(60) + "# touched\n")
    write(app / "new.txt", "untracked counts too\n")
    out = decision(answer(payload("multi_edit", app)).stdout)
    assert out["permissionDecision"] == "deny"
    assert "3 files" in out["permissionDecisionReason"]


def test_multi_edit_within_limits_passes(app: Path) -> None:
    assert answer(payload("multi_edit", app)).stdout == ""


def test_edit_whose_old_string_is_missing_is_left_to_the_tool(app: Path) -> None:
    write(app / "util.py", lines(300))  # over the limits already, and old_string is gone
    assert answer(payload("multi_edit", app)).stdout == ""


@pytest.mark.parametrize("name", ["edit", "write", "multi_edit"])
def test_measure_of_the_would_be_change_is_what_git_measures_after_it(app: Path, name: str) -> None:
    write(app / "util.py", functions(5, "helper") + "# pending\n")
    write(app / "notes.txt", "untracked\n")
    event = json.loads(payload(name, app))["tool_input"]
    path = Path(event["file_path"])
    repo = Repo.discover(app)
    rel = path.relative_to(app).as_posix()
    from patchpack.agents.guard import _edited

    old = path.read_text() if path.exists() else None
    new = _edited({"edit": "Edit", "write": "Write", "multi_edit": "MultiEdit"}[name], event, old)
    assert new is not None
    predicted = diffs.measure(gitmod.diff_against_head(repo, rel, new.encode()))
    path.write_text(new)
    git(app, "add", "-A")
    staged = diffs.measure(git(app, "diff", "--cached", "-M"))
    assert [f for f in staged.files if f.path == rel] == list(predicted.files)
    assert diffs.measure(gitmod.uncommitted_diff(repo)).lines == staged.lines


def test_edit_outside_the_work_tree_or_in_git_dir_passes(app: Path, tmp_path: Path) -> None:
    write(app / "util.py", lines(300))
    for target in (tmp_path / "elsewhere.py", app / ".git" / "description"):
        event = json.loads(payload("write", app))
        event["tool_input"]["file_path"] = str(target)
        assert answer(json.dumps(event)).stdout == ""


def test_edit_in_an_empty_repository(repo: Path) -> None:
    result = answer(payload("write", repo))
    assert decision(result.stdout)["permissionDecision"] == "deny"


# -- shell commands ---------------------------------------------------------------------------


def test_bash_pytest_is_rewritten_to_patchpack_test(app: Path) -> None:
    out = decision(answer(payload("bash_pytest", app)).stdout)
    assert out["permissionDecision"] == "allow"
    assert out["updatedInput"] == {
        "command": "patchpack test -x -q tests/test_app.py -k 'slow and not net'",
        "description": "Run the app tests",
        "timeout": 120000,
    }


def test_bash_other_passes_unless_limit_all(app: Path) -> None:
    assert answer(payload("bash_other", app)).stdout == ""
    out = decision(answer(payload("bash_other", app), limit_all=True).stdout)
    assert out["permissionDecision"] == "ask"  # never approves a command on the user's behalf
    assert out["updatedInput"]["command"] == "patchpack run -- bash -c 'grep -rn TODO src | sort'"
    bypass = json.loads(payload("bash_other", app)) | {"permission_mode": "bypassPermissions"}
    assert decision(answer(json.dumps(bypass), limit_all=True).stdout)["permissionDecision"] == "allow"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("pytest", "patchpack test"),
        ("pytest -x tests/", "patchpack test -x tests/"),
        ("py.test -q", "patchpack test -q"),
        ("python3 -m pytest tests -k 'a or b'", "patchpack test tests -k 'a or b'"),
        ("python3.12 -m pytest", "patchpack test"),
        ('PYTHONPATH=$PWD pytest "$T"', 'PYTHONPATH=$PWD patchpack test "$T"'),
        ("cd /src && python -m pytest -x 2>&1 | tail -50", "cd /src && patchpack test -x"),
        ("cd 'a && b'; pytest -q | head -n 20", "cd 'a && b'; patchpack test -q"),
        ("pytest | grep FAIL", None),
        ("pytest > out.txt", None),
        ("pytest-watch", None),
        (".venv/bin/pytest -x", None),
        ("echo 'pytest'", None),
        ('echo "x && pytest"', None),
        ("npm test", None),
    ],
)
def test_test_runs_go_through_patchpack_test(command: str, expected: str | None) -> None:
    assert via_patchpack_test(command) == expected


def test_configured_test_command_is_the_one_recognised() -> None:
    assert via_patchpack_test("npm test -- --watch=false", "npm test") == "patchpack test -- --watch=false"
    assert via_patchpack_test("pytest -x", "npm test") is None  # `patchpack test` runs npm here
    assert via_patchpack_test("pytest -x", "pytest -q --tb=short") == "patchpack test -x"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("ls -la", "patchpack run -- ls -la"),
        ("make -j8 'all tests'", "patchpack run -- make -j8 'all tests'"),
        ("CC=clang make", "CC=clang patchpack run -- make"),
        ("ls $HOME/*.txt", "patchpack run -- ls $HOME/*.txt"),
        ("make && make check", "patchpack run -- bash -c 'make && make check'"),
        ("echo it's", "patchpack run -- bash -c 'echo it'\"'\"'s'"),
        ("cd src", None),
        ("export A=1", None),
        ("cd src && make", "patchpack run -- bash -c 'cd src && make'"),
        ("   ", None),
    ],
)
def test_other_commands_go_through_patchpack_run(command: str, expected: str | None) -> None:
    assert via_patchpack_run(command) == expected


@pytest.mark.parametrize(
    "command",
    ["patchpack test -x", "patchpack run -- make", "A=1 patchpack context", "python -m patchpack check"],
)
def test_commands_already_through_patchpack_are_left_alone(app: Path, command: str) -> None:
    event = json.loads(payload("bash_other", app))
    event["tool_input"]["command"] = command
    assert answer(json.dumps(event), limit_all=True).stdout == ""


# -- reads ------------------------------------------------------------------------------------


def test_read_of_a_large_file_is_denied_with_a_pointer(app: Path) -> None:
    out = decision(answer(payload("read_large", app)).stdout)
    assert out["permissionDecision"] == "deny"
    reason = out["permissionDecisionReason"]
    assert "big.py has 300 lines" in reason
    assert "patchpack context --at big.py:START-END" in reason and "--grep" in reason


def test_read_with_a_range_or_of_a_small_file_passes(app: Path) -> None:
    ranged = json.loads(payload("read_large", app))
    ranged["tool_input"] |= {"offset": 100, "limit": 40}
    assert answer(json.dumps(ranged)).stdout == ""
    small = json.loads(payload("read_large", app))
    small["tool_input"]["file_path"] = str(app / "util.py")
    assert answer(json.dumps(small)).stdout == ""


def test_read_limit_follows_max_file_lines(app: Path) -> None:
    git(app, "config", "patchpack.maxFileLines", "400")
    assert answer(payload("read_large", app)).stdout == ""


def test_read_of_a_binary_file_passes(app: Path) -> None:
    write(app / "big.py", b"\0" + b"x\n" * 500)
    assert answer(payload("read_large", app)).stdout == ""


# -- what passes untouched --------------------------------------------------------------------


def test_unknown_tool_and_unknown_event_pass(app: Path) -> None:
    assert answer(payload("unknown_tool", app)) == answer("{}")
    post = json.loads(payload("bash_pytest", app)) | {"hook_event_name": "PostToolUse"}
    result = answer(json.dumps(post))
    assert (result.stdout, result.stderr, result.exit_code) == ("", "", 0)


@pytest.mark.parametrize("raw", ["", "[1, 2]", "null"])
def test_malformed_input_fails_open(app: Path, raw: str) -> None:
    result = answer(raw or payload("malformed", app))
    assert result.stdout == "" and result.exit_code == 0
    assert result.stderr.startswith("patchpack guard:") and "letting it through" in result.stderr


def test_bad_setting_fails_open(app: Path) -> None:
    git(app, "config", "patchpack.maxFileLines", "lots")
    result = answer(payload("read_large", app))
    assert (result.stdout, result.exit_code) == ("", 0)
    assert "maxFileLines" in result.stderr


# -- Code Puppy -------------------------------------------------------------------------------


def test_code_puppy_shell_test_is_refused_with_the_command_to_run(app: Path) -> None:
    result = answer(payload("puppy_shell_pytest", app))
    assert result.exit_code == 1 and result.stdout == ""
    assert "run this instead: patchpack test -x" in result.stderr


def test_code_puppy_edit_over_the_limits_is_refused_with_exit_1(app: Path) -> None:
    assert answer(payload("puppy_replace_in_file", app)).exit_code == 0
    write(app / "util.py", lines(130))
    result = answer(payload("puppy_replace_in_file", app))
    assert result.exit_code == 1 and "over the micro-patch limits" in result.stderr


def test_code_puppy_delete_snippet_is_guarded(app: Path) -> None:
    # Code Puppy expands edit_file into create_file, replace_in_file and delete_snippet.
    event = {
        "hook_event_name": "PreToolUse",
        "tool_name": "delete_snippet",
        "cwd": str(app),
        "tool_input": {"file_path": "app.py", "snippet": "def line_50():\n"},
    }
    assert answer(json.dumps(event)).exit_code == 0
    write(app / "util.py", lines(130))
    result = answer(json.dumps(event))
    assert result.exit_code == 1 and "this edit of app.py" in result.stderr
    missing = {**event, "tool_input": {"file_path": "app.py", "snippet": "not there"}}
    assert answer(json.dumps(missing)).exit_code == 0  # the tool itself will refuse it
    from patchpack.agents.integrate import GUARD_MATCHER

    for tool in ("create_file", "replace_in_file", "delete_snippet", "edit_file"):
        assert any(re.fullmatch(part, tool) for part in GUARD_MATCHER.split("|")), tool


def test_code_puppy_delete_file_of_a_big_file_is_refused(app: Path) -> None:
    # Deleting big.py is 306 diff lines (as `git rm` then `git diff --cached` counts them).
    event = {
        "hook_event_name": "PreToolUse",
        "tool_name": "delete_file",
        "cwd": str(app),
        "tool_input": {"file_path": "big.py"},
    }
    result = answer(json.dumps(event))
    assert result.exit_code == 1 and "this edit of big.py" in result.stderr
    assert "The edit alone is 306 diff lines" in result.stderr
    assert (app / "big.py").read_text() == lines(300)
    small = {**event, "tool_input": {"file_path": "util.py"}}
    assert answer(json.dumps(small)).exit_code == 0
    gone = {**event, "tool_input": {"file_path": "nothing.py"}}
    assert answer(json.dumps(gone)).exit_code == 0  # the tool itself will refuse it


def test_patchpack_set_up_files_do_not_count_against_the_next_edit(app: Path) -> None:
    # The documented set-up writes 3 files; a 1-line edit after it was refused.
    for args in (["claude-code", "--mcp"], ["code-puppy"]):
        assert run_patchpack("integrate", *args, cwd=app).returncode == 0
    assert len(git(app, "status", "--porcelain", "--untracked-files=all").splitlines()) == 3
    result = answer(payload("edit", app))
    assert (result.stdout, result.stderr, result.exit_code) == ("", "", 0)
    write(app / "util.py", lines(2))  # a file of the agent's own still counts
    write(app / "big.py", lines(299))
    out = decision(answer(payload("edit", app)).stdout)
    assert out["permissionDecision"] == "deny" and " 3 files " in out["permissionDecisionReason"]


# -- through the installed entry point --------------------------------------------------------


def test_entry_point_answers_on_stdout_and_exits_0(app: Path) -> None:
    denied = run_patchpack("guard", cwd=app, input=payload("read_large", app))
    assert denied.returncode == 0
    assert decision(denied.stdout)["permissionDecision"] == "deny"
    passed = run_patchpack("guard", cwd=app, input=payload("unknown_tool", app))
    assert (passed.returncode, passed.stdout, passed.stderr) == (0, "", "")
    broken = run_patchpack("guard", cwd=app, input=payload("malformed", app))
    assert broken.returncode == 0 and broken.stdout == "" and "malformed" in broken.stderr
    puppy = run_patchpack("guard", cwd=app, input=payload("puppy_shell_pytest", app))
    assert puppy.returncode == 1 and "patchpack test -x" in puppy.stderr


# -- hostile payloads (issue 15) ----------------------------------------------------------------


def _deep(depth: int) -> str:
    event = {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}}
    return json.dumps(event)[:-2] + ', "x": ' + "[" * depth + "]" * depth + "}}"


HOSTILE_PAYLOADS = {
    "nested arrays": "[" * 100_000,
    "nested objects": '{"a":' * 100_000,
    "a deep tool_input": _deep(5000),
    "a Code Puppy payload nested in its string": json.dumps(
        {"hook_event_name": "PreToolUse", "tool_name": "edit_file", "tool_input": {"payload": "[" * 5000}}
    ),
    "a 5,000-digit number": '{"hook_event_name": "PreToolUse", "n": ' + "9" * 5000 + "}",
}


@pytest.mark.parametrize("raw", list(HOSTILE_PAYLOADS.values()), ids=list(HOSTILE_PAYLOADS))
def test_a_hostile_payload_fails_open_through_the_entry_point(app: Path, raw: str) -> None:
    result = run_patchpack("guard", cwd=app, input=raw)
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    assert result.stderr.startswith("patchpack guard:") and "letting it through" in result.stderr
    assert len(result.stderr) < 300 and "Traceback" not in result.stderr


def test_a_deep_payload_fails_open_on_a_deep_stack(app: Path) -> None:
    # How deep json.loads may recurse depends on the caller's stack: the limit must not.
    def nest(levels: int) -> object:
        return nest(levels - 1) if levels else answer(_deep(90))

    assert nest(900).exit_code == 0  # type: ignore[attr-defined]
    refused = answer(_deep(200))
    assert refused.exit_code == 0 and "nested deeper than" in refused.stderr


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=300)
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=30,
    ).map(lambda v: json.dumps(v).encode())
)
def test_any_bytes_on_stdin_fail_open(raw: bytes) -> None:
    result = CliRunner().invoke(cli_group, ["guard"], input=raw, catch_exceptions=False)
    assert result.exit_code == 0 and result.stdout == ""
