"""A scripted model endpoint on 127.0.0.1: what the real agents talk to in the tests.

It serves the two APIs the clients speak, streaming and not:

- the OpenAI chat completions API as Cerebras serves it (``POST /v1/chat/completions``), which
  Code Puppy's pydantic-ai client calls for a ``cerebras``/``custom_openai`` model;
- the Anthropic Messages API (``POST /v1/messages``, and ``/v1/messages/count_tokens``), which
  Claude Code calls under ``ANTHROPIC_BASE_URL``.

It answers from a script: a list of turns, each a text reply or tool calls. A request that
offers tools (the agent's loop) takes the next turn; one that offers none (a client's side
request: a title, a topic, a quota probe) gets a short text and leaves the script alone. Past
the end of the script every request gets a final text reply, so a session always ends.

Every request is recorded with its body and its size in tokens (cl100k, through
patchpack.tokens, of the body's text as received: system prompt, tool schemas and the whole
history, what a provider bills), and that count is the ``usage`` input it reports, with a fixed
output count. Tests assert on what reached the model through ``requests``.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from patchpack.tokens import get_counter

FINAL_TEXT = "Done."
SIDE_TEXT = "ok"
OUTPUT_TOKENS = 25
MAX_BODY = 64 << 20  # a request body larger than this is refused, not read


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Turn:
    """One scripted model reply: text, tool calls, or both (text first)."""

    text: str = ""
    calls: tuple[ToolCall, ...] = ()


def say(text: str) -> Turn:
    return Turn(text=text)


def call(name: str, **arguments: Any) -> Turn:
    """A turn making one tool call."""
    return Turn(calls=(ToolCall(name, arguments),))


@dataclass(frozen=True)
class Request:
    """One request the endpoint received."""

    api: str
    """"anthropic", "openai" or "other" (a path neither API has: recorded, answered 404)."""
    path: str
    body: dict[str, Any]
    tokens: int
    """cl100k tokens of the body's text: the input usage reported back."""
    turn: int | None
    """The index of the script turn it was answered with; None for a side or final reply."""

    @property
    def has_tools(self) -> bool:
        return bool(self.body.get("tools"))

    def tool_results(self) -> list[str]:
        """The text of every tool result in the request's history, oldest first."""
        found: list[str] = []
        for message in self.body.get("messages", []):
            if not isinstance(message, dict):
                continue
            if message.get("role") == "tool":  # OpenAI
                found.append(_text(message.get("content")))
            content = message.get("content")
            if message.get("role") == "user" and isinstance(content, list):  # Anthropic
                found += [
                    _text(block.get("content"))
                    for block in content
                    if isinstance(block, dict) and block.get("type") == "tool_result"
                ]
        return found


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            _text(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return "" if content is None else json.dumps(content)


@dataclass
class Endpoint:
    """The server; ``with Endpoint(script) as ep:`` serves on ``ep.url`` until the block ends."""

    script: Sequence[Turn]
    output_tokens: int = OUTPUT_TOKENS
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self._ids = itertools.count(1)
        self._counter = get_counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Endpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    @property
    def scripted(self) -> list[Request]:
        """The requests that were answered from the script (the agent's loop), in order."""
        return [r for r in self.requests if r.turn is not None]

    def _take(self, api: str, path: str, raw: bytes, body: dict[str, Any]) -> tuple[Turn, int]:
        tokens = self._counter.count(raw.decode("utf-8", "replace"))
        with self._lock:
            turn: int | None = None
            if body.get("tools") and self._next < len(self.script):
                turn, self._next = self._next, self._next + 1
            self.requests.append(Request(api, path, body, tokens, turn))
        if turn is not None:
            return self.script[turn], tokens
        return say(FINAL_TEXT if body.get("tools") else SIDE_TEXT), tokens

    def _reply_args(self) -> dict[str, Any]:
        return {
            "output_tokens": self.output_tokens,
            "new_id": lambda prefix: f"{prefix}{next(self._ids):024d}",
        }


def _handler(endpoint: Endpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(_Transport):
        def do_GET(self) -> None:
            endpoint.requests.append(Request("other", self.path, {}, 0, None))
            self._json(404, {"error": {"type": "not_found", "message": self.path}})

        def do_POST(self) -> None:
            read = self._read_json()
            if read is None:
                return
            raw, body = read
            path = self.path.split("?")[0].rstrip("/")
            if path.endswith("/messages/count_tokens"):
                tokens = endpoint._counter.count(raw.decode("utf-8", "replace"))
                endpoint.requests.append(Request("anthropic", path, body, tokens, None))
                self._json(200, {"input_tokens": tokens})
            elif path.endswith("/messages"):
                self._reply(
                    _anthropic(body, *endpoint._take("anthropic", path, raw, body), **endpoint._reply_args())
                )
            elif path.endswith("/chat/completions"):
                self._reply(
                    _openai(body, *endpoint._take("openai", path, raw, body), **endpoint._reply_args())
                )
            else:
                endpoint.requests.append(Request("other", path, body, 0, None))
                self._json(404, {"error": {"type": "not_found", "message": path}})

    return Handler


class _Transport(BaseHTTPRequestHandler):
    """Replies as JSON or as a stream of server-sent events."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the requests are recorded; stderr stays for the test's own output

    # -- transport ----------------------------------------------------------------------

    def _read_json(self) -> tuple[bytes, dict[str, Any]] | None:
        """The request's body and its JSON object; None, answered 4xx, when it has none."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._json(413, {"error": {"message": "request too large"}})
            return None
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._json(
                400, {"error": {"type": "invalid_request_error", "message": "body is not a JSON object"}}
            )
            return None
        return raw, body

    def _json(self, status: int, data: dict[str, Any]) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reply(self, reply: dict[str, Any] | Iterator[bytes]) -> None:
        if isinstance(reply, dict):
            self._json(200, reply)
        else:
            self._stream(reply)

    def _stream(self, events: Iterator[bytes]) -> None:
        # No length: the stream ends when the connection closes.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for event in events:
            self.wfile.write(event)
            self.wfile.flush()


def _anthropic(
    body: dict[str, Any], turn: Turn, tokens: int, *, output_tokens: int, new_id: Callable[[str], str]
) -> dict[str, Any] | Iterator[bytes]:
    """The Messages API's answer: a message, or its stream of server-sent events."""
    blocks: list[dict[str, Any]] = []
    if turn.text:
        blocks.append({"type": "text", "text": turn.text})
    blocks += [
        {"type": "tool_use", "id": new_id("toolu_"), "name": c.name, "input": c.arguments} for c in turn.calls
    ]
    usage = {
        "input_tokens": tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    message = {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "scripted"),
        "stop_reason": "tool_use" if turn.calls else "end_turn",
        "stop_sequence": None,
    }
    if not body.get("stream"):
        return {**message, "content": blocks, "usage": usage}
    return _anthropic_events(message, blocks, usage)


def _openai(
    body: dict[str, Any], turn: Turn, tokens: int, *, output_tokens: int, new_id: Callable[[str], str]
) -> dict[str, Any] | Iterator[bytes]:
    """The chat completions answer: a completion, or its stream of chunks."""
    calls = [
        {
            "id": new_id("call_"),
            "type": "function",
            "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
        }
        for c in turn.calls
    ]
    usage = {
        "prompt_tokens": tokens,
        "completion_tokens": output_tokens,
        "total_tokens": tokens + output_tokens,
    }
    head = {"id": new_id("chatcmpl-"), "created": 1700000000, "model": body.get("model", "scripted")}
    finish = "tool_calls" if calls else "stop"
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
        if calls:
            message["tool_calls"] = calls
        return {
            **head,
            "object": "chat.completion",
            "usage": usage,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        }
    return _openai_events(head, turn.text, calls, finish, usage)


def _sse(event: str | None, data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "").encode() + f"data: {text}\n\n".encode()


def _anthropic_events(
    message: dict[str, Any], blocks: list[dict[str, Any]], usage: dict[str, int]
) -> Iterator[bytes]:
    start_usage = {**usage, "output_tokens": 1}
    yield _sse(
        "message_start",
        {
            "type": "message_start",
            "message": {**message, "content": [], "stop_reason": None, "usage": start_usage},
        },
    )
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            empty: dict[str, Any] = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            empty = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        yield _sse(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": empty}
        )
        yield _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
    yield _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
    )
    yield _sse("message_stop", {"type": "message_stop"})


def _openai_events(
    head: dict[str, Any], text: str, calls: list[dict[str, Any]], finish: str, usage: dict[str, int]
) -> Iterator[bytes]:
    def chunk(delta: dict[str, Any], reason: str | None = None) -> bytes:
        return _sse(
            None,
            {
                **head,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
            },
        )

    yield chunk({"role": "assistant", "content": ""})
    if text:
        yield chunk({"content": text})
    for index, c in enumerate(calls):
        yield chunk({"tool_calls": [{"index": index, **c}]})
    yield chunk({}, finish)
    # As OpenAI does with stream_options.include_usage, and Cerebras always: usage comes last,
    # in a chunk without choices.
    yield _sse(None, {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage})
    yield _sse(None, "[DONE]")
