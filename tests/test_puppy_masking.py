"""Observation masking: which old tool outputs the plugin replaces by stubs, and the stubs (#18)."""

from __future__ import annotations

from patchpack.agents.code_puppy.masking import Masker, Observation, stub


def outputs(n: int) -> list[Observation]:
    return [
        Observation(f"call{i}", "agent_run_shell_command", {"command": f"ls {i}"}, f"out {i}\n")
        for i in range(1, n + 1)
    ]


def test_nothing_is_masked_until_the_cadence_comes_round() -> None:
    masker = Masker(keep=6, every=2)
    assert masker.update(outputs(10), iterations=3, over_budget=False) == []  # where it started
    assert masker.update(outputs(12), iterations=3, over_budget=False) == []
    masked = masker.update(outputs(12), iterations=4, over_budget=False)  # 4 passes 2 * 2
    assert [o.call_id for o in masked] == [f"call{i}" for i in range(1, 7)]
    assert masker.is_masked("call6") and not masker.is_masked("call7")
    # Masked stay masked; newer outputs wait for the next cadence.
    assert masker.update(outputs(20), iterations=5, over_budget=False) == []
    assert [o.call_id for o in masker.update(outputs(20), iterations=6, over_budget=False)] == [
        f"call{i}" for i in range(7, 15)
    ]


def test_over_the_context_budget_masks_at_once() -> None:
    masker = Masker(keep=2, every=2)
    masked = masker.update(outputs(5), iterations=0, over_budget=True)
    assert [o.call_id for o in masked] == ["call1", "call2", "call3"]
    assert masker.update(outputs(5), iterations=0, over_budget=True) == []


def test_no_cadence_and_fewer_outputs_than_kept() -> None:
    never = Masker(keep=6, every=0)
    never.update(outputs(30), iterations=0, over_budget=False)
    assert never.update(outputs(30), iterations=100, over_budget=False) == []
    few = Masker(keep=6, every=1)
    few.update(outputs(3), iterations=0, over_budget=False)
    assert few.update(outputs(3), iterations=1, over_budget=False) == []
    none_kept = Masker(keep=0, every=1)
    assert len(none_kept.update(outputs(3), iterations=0, over_budget=True)) == 3


def test_stubs_say_how_to_get_the_output_back() -> None:
    run = Observation(
        "a",
        "agent_run_shell_command",
        {"command": "pytest"},
        "x\n... 300 lines omitted; see them with `patchpack run --show 17 --at 51-350` ...\ny\n",
    )
    assert stub(run) == (
        "[patchpack masked this agent_run_shell_command output (3 lines); "
        "`patchpack run --show 17` prints it again]"
    )
    shell = Observation("b", "agent_run_shell_command", {"command": "git   log\n-3"}, "1\n2\n")
    assert stub(shell) == (
        "[patchpack masked this agent_run_shell_command output (2 lines) of "
        "`git log -3`; run it again if you need it]"
    )
    read = Observation(
        "c", "read_file", {"file_path": "src/a.py", "start_line": 10, "num_lines": 20}, "code\n"
    )
    assert stub(read) == (
        "[patchpack masked this read_file output (1 line) of src/a.py "
        "lines 10-29; read it again if you need it]"
    )
    other = Observation("d", "grep", {"search_string": "x" * 500}, "")
    assert stub(other).endswith("call the tool again if you need it]")
    long = Observation("e", "agent_run_shell_command", {"command": "echo " + "y" * 300}, "")
    assert len(stub(long)) < 250


def test_a_stub_counts_the_lines_inside_a_tools_json_output() -> None:
    # Code Puppy's shell returns one line of JSON; the model saw the lines of its streams.
    shell = Observation(
        "f", "shell", {"command": "cat a"}, '{"success":true,"stdout":"1\\n2\\n3\\n","stderr":"warn\\n"}'
    )
    assert "(4 lines)" in stub(shell)
    read = Observation("g", "read_file", {"file_path": "a.py"}, '{"content":"x\\ny\\n"}')
    assert "(2 lines)" in stub(read)
    assert "(1 line)" in stub(Observation("h", "grep", {}, '["not", "an object"]'))
