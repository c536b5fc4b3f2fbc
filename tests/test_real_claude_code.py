"""The real Claude Code (npm, pinned in tests/clients/install.py) set up by `patchpack integrate
claude-code`, driven by a scripted model on 127.0.0.1: what the guard does reaches the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.endpoint import Endpoint, call, say
from clients.install import NpmClients
from clients.projects import MANY_TESTS
from clients.sessions import run_claude
from conftest import git, lines, run_patchpack, write


@pytest.fixture
def project(committed: Path) -> Path:
    write(committed / "tests" / "test_many.py", MANY_TESTS)
    write(committed / "data.txt", lines(300))
    git(committed, "add", ".")
    git(committed, "commit", "-q", "-m", "tests")
    done = run_patchpack("integrate", "claude-code", cwd=committed)
    assert done.returncode == 0, done.stderr
    return committed


def test_guard_caps_a_test_run_and_refuses_an_oversized_write_and_a_whole_read(
    npm_clients: NpmClients, project: Path, tmp_path: Path
) -> None:
    script = [
        call("Bash", command="python -m pytest -v tests/test_many.py", description="Run the tests"),
        call("Write", file_path=str(project / "big.py"), content=lines(300)),
        call("Read", file_path=str(project / "data.txt")),
        say("Finished."),
    ]
    with Endpoint(script) as ep:
        run = run_claude(
            npm_clients,
            "Run the tests, write big.py, read data.txt.",
            cwd=project,
            home=tmp_path / "claude-home",
            endpoint=ep.url,
        )
    assert run.proc.returncode == 0, run.describe()
    assert run.result is not None and run.result["result"] == "Finished.", run.describe()
    loop = ep.scripted
    assert len(loop) == 4, [r.path for r in ep.requests]

    # The test run went through `patchpack test`: the model got the capped output.
    test_output = loop[1].tool_results()[-1]
    assert "400 passed" in test_output
    assert "lines omitted" in test_output and "patchpack run --show" in test_output
    assert len(test_output.splitlines()) <= 205

    # The 300-line Write was refused by the guard, its reason sent to the model; no file.
    refusal = loop[2].tool_results()[-1]
    assert "over the micro-patch limits" in refusal, refusal
    assert "patchpack split" in refusal
    assert not (project / "big.py").exists()

    # A whole-file Read of 300 lines was refused, pointing to `patchpack context`.
    refusal = loop[3].tool_results()[-1]
    assert "data.txt has 300 lines" in refusal and "patchpack context --at" in refusal, refusal

    # Sane token counts: every request carries the system prompt and tool schemas, the history
    # only grows, and Claude Code's own usage total is what the endpoint reported.
    assert all(2_000 < r.tokens < 100_000 for r in loop), [r.tokens for r in loop]
    assert loop[0].tokens < loop[1].tokens < loop[2].tokens < loop[3].tokens
    billed = sum(r.tokens for r in ep.requests if r.path.endswith("/messages"))
    assert run.result["usage"]["input_tokens"] == billed


def test_limit_all_in_a_headless_session_names_the_command_to_run(
    npm_clients: NpmClients, committed: Path, tmp_path: Path
) -> None:
    # `--limit-all` rewrites with "ask", so that the user's prompt sees the command. `claude -p`
    # has no one to ask and refuses the call, whatever --allowedTools says: the refusal must
    # tell the model what to run instead, and that must run.
    write(committed / "data.txt", lines(500))
    git(committed, "add", ".")
    git(committed, "commit", "-q", "-m", "data")
    assert run_patchpack("integrate", "claude-code", "--limit-all", cwd=committed).returncode == 0
    script = [
        call("Bash", command="cat data.txt", description="Show the data"),
        call("Bash", command="patchpack run -- cat data.txt", description="Capped"),
        say("Finished."),
    ]
    with Endpoint(script) as ep:
        run = run_claude(
            npm_clients, "Show data.txt.", cwd=committed, home=tmp_path / "claude-home", endpoint=ep.url
        )
    assert run.proc.returncode == 0, run.describe()
    refused, capped = ep.scripted[2].tool_results()
    assert "run `patchpack run -- cat data.txt`" in refused, refused
    assert "lines omitted" in capped and "line 500" in capped, capped
