"""`patchpack ledger export --format otel`: OTLP/HTTP JSON to a collector on 127.0.0.1 (#17)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from conftest import git, run_patchpack


def otlp(body: dict[str, Any], message: Any) -> Any:
    """Parse OTLP JSON as the collector does (ids in hex, which protobuf's mapping wants in
    base64): refuses any field the schema lacks."""

    def ids(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: base64.b64encode(bytes.fromhex(v)).decode() if k in ("traceId", "spanId") else ids(v)
                for k, v in node.items()
            }
        return [ids(v) for v in node] if isinstance(node, list) else node

    return json_format.ParseDict(ids(body), message)


def attrs(kv: list[dict[str, Any]]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values())) for a in kv}


def ledger_state(repo: Path) -> tuple[str, bytes]:
    notes = git(repo, "for-each-ref", "refs/notes/")
    return notes, (repo / ".git" / "patchpack" / "pending.jsonl").read_bytes()


def test_printed_requests_batch_entries_and_carry_any_name(committed: Path) -> None:
    spool = committed / ".git" / "patchpack" / "pending.jsonl"
    spool.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(
            {
                "v": 1,
                "id": f"e{i}",
                "ts": "2026-11-24T10:00:00Z",
                "kind": "request",
                "model": "m\udcff\u2028x",
                "in": i,
                "out": 1,
                "counter": "usage",
            }
        )
        for i in range(1_500)
    ]
    spool.write_text("\n".join(lines + lines[:3]) + "\n", "utf-8", "surrogateescape")
    printed = run_patchpack("ledger", "export", "--format", "otel", cwd=committed)
    assert printed.returncode == 0, printed.stderr
    bodies = [json.loads(line) for line in printed.stdout.splitlines()]
    assert ["resourceSpans" in b for b in bodies] == [True, False, True, False]
    spans = [s for b in bodies[::2] for s in b["resourceSpans"][0]["scopeSpans"][0]["spans"]]
    assert len(spans) == 1_500  # each id once
    assert spans[0]["name"] == "chat m\ufffd\u2028x"
    for body in bodies[::2]:
        otlp(body, ExportTraceServiceRequest())
    for body in bodies[1::2]:
        otlp(body, ExportMetricsServiceRequest())
    since = run_patchpack("ledger", "export", "--format", "otel", "--since", "2026-11-25", cwd=committed)
    assert since.returncode == 0 and since.stdout == ""


class Collector:
    """An OTLP/HTTP receiver on 127.0.0.1: keeps what it is sent, answers ``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        self.status = 200
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                collector.received.append((self.path, self.headers["Content-Type"], json.loads(body)))
                self.send_response(collector.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def signal(self, name: str) -> list[dict[str, Any]]:
        return [body for path, _, body in self.received if path == f"/v1/{name}"]


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    thread = threading.Thread(target=c.server.serve_forever, daemon=True)
    thread.start()
    yield c
    c.server.shutdown()
    c.server.server_close()
    thread.join(timeout=10)


def test_entries_reach_a_collector_as_genai_spans_and_token_usage(
    committed: Path, collector: Collector
) -> None:
    now = {"PATCHPACK_NOW": "2026-11-24T10:00:00Z"}
    run_patchpack(
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
        cwd=committed,
        env=now,
    )
    git(committed, "commit", "-q", "--allow-empty", "-m", "one")
    assert run_patchpack("ledger", "attach", "-q", cwd=committed).returncode == 0
    run_patchpack("run", "--", "seq", "1", "500", cwd=committed, env=now)
    state = ledger_state(committed)
    sent = run_patchpack("ledger", "export", "--format", "otel", "--otlp", collector.url, cwd=committed)
    assert sent.returncode == 0, sent.stderr
    assert f"exported 2 entries in 2 requests to {collector.url}" in sent.stderr
    assert {t for _, t, _ in collector.received} == {"application/json"}
    [traces], [metrics] = collector.signal("traces"), collector.signal("metrics")
    spans = otlp(traces, ExportTraceServiceRequest()).resource_spans[0].scope_spans[0].spans
    assert [s.name for s in spans] == ["chat zai-glm-4.7", "patchpack run"]
    chat = attrs(traces["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"])
    assert chat["gen_ai.usage.input_tokens"] == "5400"
    assert chat["gen_ai.usage.output_tokens"] == "820"
    assert chat["gen_ai.provider.name"] == "cerebras" and chat["gen_ai.agent.name"] == "pack-leader"
    assert chat["gen_ai.conversation.id"] == "s1" and chat["patchpack.counter"] == "usage"
    assert chat["patchpack.commit"] == git(committed, "rev-parse", "HEAD").strip()
    assert (
        spans[0].start_time_unix_nano
        == int(datetime(2026, 11, 24, 10, tzinfo=timezone.utc).timestamp()) * 10**9
    )
    run = attrs(traces["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["attributes"])
    assert "gen_ai.usage.input_tokens" not in run and int(run["patchpack.input_tokens"]) > 0
    usage = otlp(metrics, ExportMetricsServiceRequest()).resource_metrics[0].scope_metrics[0].metrics[0]
    assert usage.name == "gen_ai.client.token.usage" and usage.unit == "{token}"
    assert sorted((p.attributes[-2].value.string_value, p.sum) for p in usage.histogram.data_points) == [
        ("input", 5400),
        ("output", 820),
    ]
    # Ids derive from the entries: a second export sends the same spans.
    again = run_patchpack(
        "ledger", "export", "--format", "otel", "--otlp", collector.url + "/", cwd=committed
    )
    assert again.returncode == 0 and collector.signal("traces")[1] == traces
    assert ledger_state(committed) == state


def test_a_collector_that_refuses_or_is_not_there_fails_and_changes_nothing(
    committed: Path, collector: Collector
) -> None:
    run_patchpack("record", "--in", "1", "--out", "1", cwd=committed)
    state = ledger_state(committed)
    collector.status = 500
    refused = run_patchpack("ledger", "export", "--format", "otel", "--otlp", collector.url, cwd=committed)
    assert refused.returncode == 1
    assert f"the collector at {collector.url}/v1/traces refused the export: HTTP 500" in refused.stderr
    collector.server.server_close()
    gone = run_patchpack("ledger", "export", "--format", "otel", "--otlp", collector.url, cwd=committed)
    assert gone.returncode == 1 and "cannot reach the collector" in gone.stderr
    assert "hint: start the collector" in gone.stderr
    bad = run_patchpack("ledger", "export", "--format", "otel", "--otlp", "ftp://127.0.0.1/", cwd=committed)
    assert bad.returncode == 2 and "--otlp takes an http:// or https:// URL" in bad.stderr
    assert ledger_state(committed) == state


def test_cache_reads_and_writes_go_out_as_the_genai_cache_attributes(
    committed: Path, collector: Collector
) -> None:
    anthropic = {
        "id": "msg_1",
        "model": "claude-sonnet-4-5",
        "usage": {
            "input_tokens": 10,
            "output_tokens": 80,
            "cache_read_input_tokens": 15000,
            "cache_creation_input_tokens": 2000,
        },
    }
    recorded = run_patchpack("record", "--usage-json", "-", cwd=committed, input=json.dumps(anthropic))
    assert recorded.returncode == 0, recorded.stderr
    run_patchpack("record", "--in", "5", "--out", "6", cwd=committed)
    printed = run_patchpack("ledger", "export", "--format", "otel", cwd=committed)
    sent = run_patchpack("ledger", "export", "--format", "otel", "--otlp", collector.url, cwd=committed)
    assert printed.returncode == 0 and sent.returncode == 0, sent.stderr
    [traces] = collector.signal("traces")
    assert traces == json.loads(printed.stdout.splitlines()[0])
    otlp(traces, ExportTraceServiceRequest())
    cached, plain = (attrs(s["attributes"]) for s in traces["resourceSpans"][0]["scopeSpans"][0]["spans"])
    assert (
        cached["gen_ai.usage.input_tokens"],
        cached["gen_ai.usage.cache_read.input_tokens"],
        cached["gen_ai.usage.cache_creation.input_tokens"],
    ) == ("17010", "15000", "2000")
    assert not {k for k in plain if "cache" in k} and plain["gen_ai.usage.input_tokens"] == "5"
