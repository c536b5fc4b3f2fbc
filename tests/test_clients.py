"""The real-client test kit itself (tests/clients/): the scripted endpoint over real HTTP, and the
install cache's lock and markers. The real agents are in test_real_*.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from patchpack.tokens import get_counter

from clients import install
from clients.endpoint import FINAL_TEXT, OUTPUT_TOKENS, SIDE_TEXT, Endpoint, call, say

TOOLS = [{"name": "Bash", "input_schema": {"type": "object"}}]


def post(url: str, body: dict[str, Any]) -> tuple[bytes, str]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read(), response.headers["Content-Type"]


def events(raw: bytes) -> list[Any]:
    """The data of each server-sent event, parsed (except the final [DONE])."""
    found = []
    for block in raw.decode().split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                found.append(json.loads(line[6:]))
    return found


def test_anthropic_stream_carries_the_scripted_tool_call_and_the_counted_usage() -> None:
    body = {"model": "m", "stream": True, "tools": TOOLS, "messages": [{"role": "user", "content": "run it"}]}
    with Endpoint([call("Bash", command="pytest -q"), say("done")]) as ep:
        raw, kind = post(f"{ep.url}/v1/messages?beta=true", body)
    assert kind == "text/event-stream"
    got = events(raw)
    assert [e["type"] for e in got] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert got[1]["content_block"]["name"] == "Bash"
    assert json.loads(got[2]["delta"]["partial_json"]) == {"command": "pytest -q"}
    assert got[4]["delta"]["stop_reason"] == "tool_use"
    [request] = ep.requests
    assert request.tokens == get_counter().count(json.dumps(body))
    assert got[0]["message"]["usage"]["input_tokens"] == request.tokens
    assert got[4]["usage"]["output_tokens"] == OUTPUT_TOKENS


def test_openai_answers_streaming_and_not_then_ends_past_the_script() -> None:
    body: dict[str, Any] = {
        "model": "m",
        "tools": [{"type": "function"}],
        "messages": [{"role": "user", "content": "go"}],
    }
    with Endpoint([call("shell", command="ls")]) as ep:
        raw, _ = post(f"{ep.url}/v1/chat/completions", body)
        streamed, _ = post(f"{ep.url}/v1/chat/completions", {**body, "stream": True})
    completion = json.loads(raw)
    [tool_call] = completion["choices"][0]["message"]["tool_calls"]
    assert json.loads(tool_call["function"]["arguments"]) == {"command": "ls"}
    assert completion["usage"]["prompt_tokens"] == ep.requests[0].tokens > 0
    chunks = events(streamed)  # the script is spent: a final text, then usage in a last chunk
    assert (
        "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == FINAL_TEXT
    )
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert [r.turn for r in ep.requests] == [0, None]


def test_a_request_without_tools_leaves_the_script_alone() -> None:
    with Endpoint([say("scripted")]) as ep:
        side, _ = post(f"{ep.url}/v1/messages", {"model": "haiku", "messages": []})
        main, _ = post(f"{ep.url}/v1/messages", {"model": "m", "tools": TOOLS, "messages": []})
    assert json.loads(side)["content"] == [{"type": "text", "text": SIDE_TEXT}]
    assert json.loads(main)["content"] == [{"type": "text", "text": "scripted"}]
    assert [r.turn for r in ep.requests] == [None, 0] and len(ep.scripted) == 1


def test_tool_results_are_read_from_both_apis_histories() -> None:
    anthropic = {
        "model": "m",
        "tools": TOOLS,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "out"}]}
                ],
            }
        ],
    }
    openai = {
        "model": "m",
        "tools": TOOLS,
        "messages": [{"role": "tool", "tool_call_id": "c", "content": "log"}],
    }
    with Endpoint([]) as ep:
        post(f"{ep.url}/v1/messages", anthropic)
        post(f"{ep.url}/v1/chat/completions", openai)
    assert [r.tool_results() for r in ep.requests] == [["out"], ["log"]]


def test_an_install_that_fails_leaves_nothing_and_one_that_worked_is_not_redone(tmp_path: Path) -> None:
    target = tmp_path / "client-1.0"
    with pytest.raises(install.InstallError), install._installing(tmp_path, target) as todo:
        assert todo
        (target / "half").mkdir(parents=True)
        raise install.InstallError("the registry said no")
    assert not target.exists()
    with install._installing(tmp_path, target) as todo:
        assert todo
        target.mkdir()
    assert (target / install.MARKER).exists()
    with install._installing(tmp_path, target) as todo:
        assert not todo


def test_a_second_installer_waits_for_the_first_and_finds_the_install_done(tmp_path: Path) -> None:
    target = tmp_path / "client-1.0"
    first = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from clients import install\n"
            "cache = Path(sys.argv[1]); target = cache / 'client-1.0'\n"
            "with install._installing(cache, target) as todo:\n"
            "    print(todo, flush=True); time.sleep(1); target.mkdir()\n",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    assert first.stdout is not None and first.stdout.readline() == "True\n"
    start = time.monotonic()
    with install._installing(tmp_path, target) as todo:
        assert not todo
    assert time.monotonic() - start > 0.5  # it waited for the lock
    assert first.wait(timeout=30) == 0
