"""`patchpack ledger export --format otel`: the ledger as OpenTelemetry GenAI spans and metrics.

Each entry becomes a span, and a billed entry's tokens data points of the
``gen_ai.client.token.usage`` histogram (``gen_ai.token.type`` input or output), with the
GenAI semantic conventions' names (``gen_ai.usage.input_tokens``,
``gen_ai.usage.output_tokens``, ``gen_ai.usage.cache_read.input_tokens`` and
``gen_ai.usage.cache_creation.input_tokens`` (parts of the input),
``gen_ai.request.model``, ``gen_ai.agent.name``, ``gen_ai.conversation.id``, ...) and
patchpack's own under ``patchpack.*`` (the entry's id, kind, counter and commit). A billed
entry (``request``) is a ``chat`` operation; the others are spans of patchpack's
(``patchpack run``), their tokens under ``patchpack.input_tokens``, out of the GenAI usage
(they reach the bill inside requests).

The encoding is OTLP's JSON (the protobuf JSON mapping, ids in hex, 64-bit numbers as
strings), written by hand rather than through the OpenTelemetry SDK: the SDK stamps metric
points with the time they are recorded, and a ledger's entries happened in the past. With
``--otlp URL`` the requests go to ``URL/v1/traces`` and ``URL/v1/metrics`` over HTTP, as an
OTLP/HTTP exporter with ``protocol: http/json`` sends them. Ids derive from the entry's id,
so a second export of the same entries sends the same spans (a collector can drop copies).
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from patchpack import __version__
from patchpack.errors import BadInput, Failed
from patchpack.ledger.entries import Entry

BATCH = 1000  # spans (and entries' points) per request
TIMEOUT = 10.0
_SCOPE = {"name": "patchpack.ledger", "version": __version__}


def _text(value: str) -> str:
    """A name as UTF-8 can carry it: bytes kept by surrogateescape become U+FFFD."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _attrs(pairs: Iterable[tuple[str, str | int | None]]) -> list[dict[str, Any]]:
    out = []
    for key, value in pairs:
        if value is None:
            continue
        if isinstance(value, int):
            out.append({"key": key, "value": {"intValue": str(value)}})
        else:
            out.append({"key": key, "value": {"stringValue": _text(value)}})
    return out


def _nanos(ts: str) -> str:
    when = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return str(int(when.timestamp()) * 1_000_000_000)


def _id(entry_id: str, size: int, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{entry_id}".encode("utf-8", "surrogateescape")).hexdigest()[: size * 2]


def _common(e: Entry, provider: str) -> list[tuple[str, str | int | None]]:
    billed = e.kind == "request"
    return [
        ("gen_ai.operation.name", "chat" if billed else None),
        ("gen_ai.provider.name", provider if billed else None),
        ("gen_ai.request.model", e.model),
        ("gen_ai.agent.name", e.agent),
    ]


def span(e: Entry, commit: str | None, provider: str) -> dict[str, Any]:
    """The span of one entry (a request's own duration is not known: it starts as it ends)."""
    at = _nanos(e.ts)
    billed = e.kind == "request"
    name = ("chat" if billed else f"patchpack {e.kind}") + (f" {_text(e.model)}" if e.model else "")
    # Only billed tokens are GenAI usage: a run's or a pack's reach the bill inside requests,
    # and a dashboard summing gen_ai.usage.* would count them twice (budget.BILLED).
    usage = "gen_ai.usage" if billed else "patchpack"
    return {
        "traceId": _id(e.id, 16, "trace"),
        "spanId": _id(e.id, 8, "span"),
        "name": name,
        "kind": 3 if e.kind == "request" else 1,  # SPAN_KIND_CLIENT, SPAN_KIND_INTERNAL
        "startTimeUnixNano": at,
        "endTimeUnixNano": at,
        "attributes": _attrs(
            [
                *_common(e, provider),
                ("gen_ai.conversation.id", e.session),
                (f"{usage}.input_tokens", e.tokens_in),
                (f"{usage}.output_tokens", e.tokens_out),
                # Parts of input_tokens, as the conventions have them; only where the provider
                # counted some (a run's or a pack's tokens never came from a cache).
                ("gen_ai.usage.cache_read.input_tokens", e.cache_read if billed and e.cache_read else None),
                (
                    "gen_ai.usage.cache_creation.input_tokens",
                    e.cache_write if billed and e.cache_write else None,
                ),
                ("patchpack.entry.id", e.id),
                ("patchpack.kind", e.kind),
                ("patchpack.counter", e.counter),
                ("patchpack.commit", commit),
                ("patchpack.requests", e.requests or None),
                ("patchpack.saved", e.saved or None),
            ]
        ),
    }


def points(e: Entry, provider: str) -> list[dict[str, Any]]:
    """The entry's data points of ``gen_ai.client.token.usage``: one per token type of a
    billed entry, none for the others."""
    if e.kind != "request":
        return []
    at = _nanos(e.ts)
    return [
        {
            "startTimeUnixNano": at,
            "timeUnixNano": at,
            "count": "1",
            "sum": tokens,
            "bucketCounts": ["1"],
            "explicitBounds": [],
            "attributes": _attrs(
                [*_common(e, provider), ("gen_ai.token.type", kind), ("patchpack.counter", e.counter)]
            ),
        }
        for kind, tokens in (("input", e.tokens_in), ("output", e.tokens_out))
    ]


def _resource(repository: str) -> dict[str, Any]:
    return {"attributes": _attrs([("service.name", "patchpack"), ("patchpack.repository", repository)])}


def requests(
    noted: Sequence[tuple[str | None, Entry]], *, provider: str, repository: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(signal, OTLP JSON request) pairs for the entries, ``BATCH`` entries a request; each
    id once."""
    seen: set[str] = set()
    unique = []
    for commit, e in noted:
        if e.id not in seen:
            seen.add(e.id)
            unique.append((commit, e))
    for start in range(0, len(unique), BATCH):
        batch = unique[start : start + BATCH]
        yield (
            "traces",
            {
                "resourceSpans": [
                    {
                        "resource": _resource(repository),
                        "scopeSpans": [{"scope": _SCOPE, "spans": [span(e, c, provider) for c, e in batch]}],
                    }
                ]
            },
        )
        yield (
            "metrics",
            {
                "resourceMetrics": [
                    {
                        "resource": _resource(repository),
                        "scopeMetrics": [
                            {
                                "scope": _SCOPE,
                                "metrics": [
                                    {
                                        "name": "gen_ai.client.token.usage",
                                        "unit": "{token}",
                                        "description": "Number of input and output tokens used.",
                                        "histogram": {
                                            "aggregationTemporality": 1,  # DELTA: each point is one entry
                                            "dataPoints": [p for _, e in batch for p in points(e, provider)],
                                        },
                                    }
                                ],
                            }
                        ],
                    }
                ]
            },
        )


def send(url: str, payloads: Iterable[tuple[str, dict[str, Any]]], *, timeout: float = TIMEOUT) -> int:
    """POST each request to ``url``/v1/<signal>; the number sent. Failed on the first the
    collector refuses or that cannot reach it."""
    if not url.startswith(("http://", "https://")):
        raise BadInput(
            f"--otlp takes an http:// or https:// URL, got {url[:80]!r}",
            hint="e.g. `patchpack ledger export --format otel --otlp http://127.0.0.1:4318`",
        )
    base = url.rstrip("/")
    sent = 0
    for signal, body in payloads:
        target = f"{base}/v1/{signal}"
        request = urllib.request.Request(
            target,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                answer.read()
        except urllib.error.HTTPError as e:
            raise Failed(
                f"the collector at {target} refused the export: HTTP {e.code} "
                f"{e.reason} (after {sent} requests)",
                hint="check the collector's log, then run the export again "
                "(ids are stable: copies are the same spans)",
            ) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise Failed(
                f"cannot reach the collector at {target}: {reason}",
                hint="start the collector, or check the URL (OTLP/HTTP listens on port 4318)",
            ) from None
        sent += 1
    return sent
