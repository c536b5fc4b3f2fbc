"""`patchpack ledger export --format otel`: OTLP/HTTP JSON to a collector on 127.0.0.1 (#17)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from conftest import git, run_patchpack


def otlp(body: dict[str, Any], message: Any) -> Any:
    """Parse OTLP JSON as the collector does (ids in hex, which protobuf's mapping wants in
    base64): refuses any field the schema lacks."""
    def ids(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: base64.b64encode(bytes.fromhex(v)).decode() if k in ("traceId", "spanId")
                    else ids(v) for k, v in node.items()}
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
    lines = [json.dumps({"v": 1, "id": f"e{i}", "ts": "2026-11-24T10:00:00Z", "kind": "request",
                         "model": "m\udcff\u2028x", "in": i, "out": 1, "counter": "usage"})
             for i in range(1_500)]
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
    since = run_patchpack("ledger", "export", "--format", "otel", "--since", "2026-11-25",
                          cwd=committed)
    assert since.returncode == 0 and since.stdout == ""
