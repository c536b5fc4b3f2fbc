"""The figures of a session bench run: per client and agent, the table, the JSON and the PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from session.run import Session

DAY_TOKENS = 24_000_000  # Cerebras Code Pro's daily quota
REQUEST_10_TARGET = 8_000
NAIVE_REQUEST_10 = 20_000
PUPPY_RATIO_TARGET = 5.0


def summary(session: Session, tasks: int) -> dict[str, Any]:
    """One agent's session over ``tasks`` tasks."""
    requests = session.requests
    total = sum(requests)
    return {
        "requests": len(requests),
        "input_tokens": total,
        "output_tokens": session.output_tokens,
        "max_request": max(requests, default=0),
        "request_10": requests[9] if len(requests) >= 10 else None,
        "first_request": requests[0] if requests else 0,
        "client_input_tokens": session.client_input,
        "cache_read_share": (
            None if session.cache_read is None or not total else round(session.cache_read / total, 4)
        ),
        "ledger_total": session.ledger_total,
        "tasks_per_day": round(DAY_TOKENS / (total / tasks), 1) if total else None,
        "per_request": requests,
    }


def client_result(naive: Session, patchpack: Session, tasks: int) -> dict[str, Any]:
    a, b = summary(naive, tasks), summary(patchpack, tasks)
    ratio = round(a["input_tokens"] / b["input_tokens"], 2) if b["input_tokens"] else None
    # Every request carries the system prompt and tool schemas: with only that left, the
    # ratio could reach no higher than naive's total over patchpack's first requests.
    floor = b["first_request"] * b["requests"]
    return {
        "tasks": tasks,
        "naive": a,
        "patchpack": b,
        "ratio": ratio,
        "overhead_floor_tokens": floor,
        "ratio_cap": round(a["input_tokens"] / floor, 2) if floor else None,
    }


def targets(client: str, result: dict[str, Any]) -> list[tuple[str, bool]]:
    naive, pp = result["naive"], result["patchpack"]
    checks: list[tuple[str, bool]] = []
    if client == "code-puppy":
        checks.append(
            (
                f"input tokens naive/patchpack >= {PUPPY_RATIO_TARGET:g}x",
                (result["ratio"] or 0) >= PUPPY_RATIO_TARGET,
            )
        )
    checks.append(
        (
            f"patchpack request 10 < {REQUEST_10_TARGET:,}",
            pp["request_10"] is not None and pp["request_10"] < REQUEST_10_TARGET,
        )
    )
    checks.append(
        (
            f"naive request 10 > {NAIVE_REQUEST_10:,}",
            naive["request_10"] is not None and naive["request_10"] > NAIVE_REQUEST_10,
        )
    )
    checks.append(("patchpack ledger total == endpoint count", pp["ledger_total"] == pp["input_tokens"]))
    return checks


def _n(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1%}" if value <= 1 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


ROWS = (
    ("requests", "requests"),
    ("input tokens", "input_tokens"),
    ("output tokens", "output_tokens"),
    ("largest request", "max_request"),
    ("request 10", "request_10"),
    ("client's own input total", "client_input_tokens"),
    ("cache-read share", "cache_read_share"),
    ("ledger total", "ledger_total"),
    ("tasks per 24M-token day", "tasks_per_day"),
)


def table(clients: dict[str, dict[str, Any]]) -> str:
    out: list[str] = []
    for client, result in clients.items():
        out.append(f"\n{client}: one session of {result['tasks']} tasks")
        out.append(f"  {'':26} {'naive':>12} {'patchpack':>12}")
        for label, key in ROWS:
            out.append(f"  {label:26} {_n(result['naive'][key]):>12} {_n(result['patchpack'][key]):>12}")
        line = f"  ratio naive/patchpack: {_n(result['ratio'])}x"
        if client == "claude-code":
            line += (
                f" (fixed-overhead floor: patchpack's first request x its requests = "
                f"{_n(result['overhead_floor_tokens'])} tokens, a ratio of at most "
                f"{_n(result['ratio_cap'])}x)"
            )
        out.append(line)
        for name, ok in targets(client, result):
            out.append(f"  {'PASS' if ok else 'MISS'} {name}")
    return "\n".join(out)


def png(clients: dict[str, dict[str, Any]], path: Path) -> str:
    """Input tokens per request over the session, both agents, a panel per client. Returns
    what was done, for the bench to print."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no PNG: matplotlib is not installed (pip install -e '.[bench]')"
    fig, axes = plt.subplots(1, len(clients), figsize=(6 * len(clients), 4), squeeze=False)
    for ax, (client, result) in zip(axes[0], clients.items(), strict=True):
        for agent, style in (("naive", "o-"), ("patchpack", "s-")):
            flat = result[agent]["per_request"]
            ax.plot(
                range(1, len(flat) + 1), flat, style, markersize=3, label=f"{agent}: {sum(flat):,} tokens"
            )
        ax.set_title(f"{client}: input tokens per request")
        ax.set_xlabel("request")
        ax.set_ylabel("tokens (cl100k)")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"PNG written: {path}"
