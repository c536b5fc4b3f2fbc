"""Hostile transcript lines (#17): skipped and reported, the true totals kept, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from claude_fixture import MODEL, Session, Truth, project
from hypothesis import given, settings
from hypothesis import strategies as st

from patchpack.ledger import transcripts

from conftest import run_patchpack, write

BAD_COUNTS = [-1, 1.5, "7", True, None, 10**15, [], {}, 1e400]


def good_lines(root: str) -> tuple[Truth, dict[str, str]]:
    truth = Truth()
    return truth, project(root, truth)


def an_assistant_line(files: dict[str, str]) -> dict[str, object]:
    line = next(line for line in files["a1.jsonl"].splitlines() if '"usage"' in line)
    loaded: dict[str, object] = json.loads(line)
    return loaded


@st.composite
def hostile(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A line, and whether it must be reported (some are only strange, and change nothing)."""
    _, files = good_lines("/p")
    raw = an_assistant_line(files)
    message = raw["message"]
    assert isinstance(message, dict)
    kind = draw(st.sampled_from(["count", "shape", "bytes", "deep", "cut", "name"]))
    if kind == "count":
        field = draw(st.sampled_from(["input_tokens", "output_tokens", "cache_read_input_tokens"]))
        value = draw(st.sampled_from(BAD_COUNTS))
        message["usage"][field] = value
        return json.dumps(raw).replace("Infinity", "1e400").encode(), value is not None
    if kind == "shape":
        what = draw(st.sampled_from(["message", "usage", "id", "requestId"]))
        bad = draw(st.sampled_from([3, "x", [1], True]))
        if what == "message":
            raw["message"] = bad
        elif what == "usage":
            message["usage"] = bad
        elif what == "id":
            message["id"] = bad if bad != "x" else 3
        else:
            raw["requestId"] = bad if bad != "x" else 3
        # Without its message the line holds no usage: nothing to read, nothing to report.
        return json.dumps(raw).encode(), what != "message"
    if kind == "bytes":
        junk = draw(st.binary(max_size=60).filter(lambda b: b"\n" not in b))
        return b'{"type":"assistant","usage"' + junk + b"\xff", True
    if kind == "deep":
        if draw(st.booleans()):  # in a field the fast reader skips, not past msgspec's limit
            depth = draw(st.integers(257, 900))
            return json.dumps(raw).replace(
                '"content": [', '"content": [' + "[" * depth + "]" * depth + ",", 1
            ).encode(), True
        depth = draw(st.integers(300, 5000))
        return b'{"usage":' + b"[" * depth + b"]" * depth + b"}", True
    if kind == "cut":
        text = json.dumps(raw).encode()
        return text[: draw(st.integers(1, len(text) - 2))] + b'"usage"', True
    # Names a reader may never write into the ledger: a lone surrogate, control characters,
    # a name of 10,000 characters. The response is one already counted: nothing changes.
    message["model"] = draw(st.sampled_from(["\ud800", "a\x00b", "x" * 10_000, ""]))
    raw["sessionId"] = draw(st.sampled_from(["\udfff", "\n", 5]))
    raw["timestamp"] = draw(
        st.sampled_from(
            ["2026-02-31T10:00:00.000Z", "yesterday", 0, "2026-11-24T24:00:00Z", "9999-12-31T23:59:60Z"]
        )
    )
    return json.dumps(raw).encode(), False


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(hostile(), st.integers(0, 40)), min_size=1, max_size=6))
def test_hostile_lines_are_skipped_and_reported_and_the_totals_stay_true(
    tmp_path_factory, lines: list[tuple[tuple[bytes, bool], int]]
) -> None:
    where = tmp_path_factory.mktemp("t")
    truth, files = good_lines("/p")
    rows = files["a1.jsonl"].encode().splitlines()
    reported = 0
    for (line, must_report), at in lines:
        rows.insert(at % (len(rows) + 1), line)
        reported += must_report
    paths = [write(where / name, text) for name, text in files.items()]
    write(paths[0], b"\n".join(rows) + b"\n")
    read = transcripts.read(paths, {})
    assert len(read.problems) == reported
    assert all(p.line > 0 and p.reason for p in read.problems)
    assert (sum(u.tokens_in for u in read.usages), sum(u.tokens_out for u in read.usages)) == (
        truth.tokens_in,
        truth.out,
    )
    assert all(u.model is None or (u.model.isprintable() and len(u.model) <= 200) for u in read.usages)


def test_the_import_reports_hostile_lines_and_records_the_rest(committed: Path, tmp_path: Path) -> None:
    truth, files = good_lines(str(committed))
    bad = [
        b'{"type":"assistant","message":{"usage":{"output_tokens":-5}}}',
        b'\xff\xfe "usage"',
        b'{"usage":' + b"[" * 2000 + b"]" * 2000 + b"}",
        b'{"type":"assistant","usage":',
    ]
    paths = [write(tmp_path / name, text) for name, text in files.items()]
    write(paths[0], b"\n".join([*bad, *files["a1.jsonl"].encode().splitlines()]) + b"\n")
    proc = run_patchpack("ledger", "import", "--claude-code", *map(str, paths), cwd=committed)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("skipped ") == len(bad)
    assert f"{paths[0]}:1: 'output_tokens' must be a whole number" in proc.stderr
    assert f"imported {truth.responses} of {truth.responses} responses" in proc.stdout


def test_usage_under_an_escaped_key_counts_and_the_key_in_a_string_does_not(tmp_path: Path) -> None:
    """The import parses only the lines its byte search marks: a line that holds usage is
    never passed over, however its JSON is written, and text that looks like usage never
    counts (#17)."""
    truth, files = good_lines("/p")
    s = Session("e1", "/p", truth)
    s.user('say "usage" and {"usage":{"output_tokens":99}} \x1b[31m in colour')
    # JSON.stringify never escapes a letter, but JSON may: "us\u0061ge" is the key "usage".
    lines = s.respond(1, fresh=1, write=2, read=3, out=40)
    s.lines[-3:] = [
        line.replace('"usage"', '"\\u0075sage"').replace('"message"', '"mess\\u0061ge"') for line in lines
    ]
    tool = {
        "type": "assistant",
        "sessionId": "e1",
        "requestId": "req_t",
        "message": {
            "id": "msg_t",
            "role": "assistant",
            "model": MODEL,
            "content": [
                {
                    "type": "tool_use",
                    "id": "t9",
                    "name": "Bash",
                    "input": {"usage": {"input_tokens": 10**6, "output_tokens": 10**6}},
                }
            ],
        },
    }
    s.lines.append(json.dumps(tool))
    paths = [write(tmp_path / name, text) for name, text in {**files, "e1.jsonl": s.text()}.items()]
    assert '"usage"' not in s.lines[1] and "\\u0075sage" in s.lines[1]
    read = transcripts.read(paths, {})
    assert read.problems == [] and read.unfinished == 0
    assert (
        len(read.usages),
        sum(u.tokens_in for u in read.usages),
        sum(u.tokens_out for u in read.usages),
    ) == (truth.responses, truth.tokens_in, truth.out)


@settings(max_examples=60, deadline=None)
@given(block=st.integers(1, 2000), at=st.integers(0, 30))
def test_any_block_size_reads_the_same_and_a_line_too_long_is_named(
    tmp_path_factory: pytest.TempPathFactory, block: int, at: int
) -> None:
    """Blocks cut lines anywhere; a line longer than MAX_LINE is reported by its number and
    passed over, whichever block it starts or ends in (#17)."""
    where = tmp_path_factory.mktemp("b")
    truth, files = good_lines("/p")
    rows = files["a1.jsonl"].encode().splitlines()
    at %= len(rows) + 1
    rows.insert(at, b'{"type":"system","content":"' + b"x" * 5000 + b'"}')
    paths = [write(where / name, text) for name, text in files.items()]
    write(paths[0], b"\n".join(rows) + b'\n{"type":"assistant","usage"')  # a line being written
    whole = transcripts.read(paths, {})
    with pytest.MonkeyPatch.context() as m:
        m.setattr(transcripts, "_BLOCK", block)
        m.setattr(transcripts, "MAX_LINE", 3000)
        cut = transcripts.read(paths, {})
    assert cut.usages == whole.usages and whole.problems == []
    assert (sum(u.tokens_in for u in cut.usages), sum(u.tokens_out for u in cut.usages)) == (
        truth.tokens_in,
        truth.out,
    )
    assert cut.problems == [transcripts.Problem(str(paths[0]), at + 1, "longer than 3,000 bytes")]
    assert cut.offsets == whole.offsets


def test_a_pool_of_processes_reads_what_one_reader_reads(tmp_path: Path) -> None:
    """Many megabytes in several files are read by a process a CPU (#17); the parts add up to
    what one reader finds: each response once across files, with its largest figures, the
    same problems, the same offsets for the next read."""
    truth, files = good_lines("/p")
    rows = files["a1.jsonl"].encode().splitlines()
    rows.insert(3, b'{"type":"assistant","message":{"usage":{"output_tokens":-5}}}')
    paths = [write(tmp_path / name, text) for name, text in files.items()]
    write(paths[0], b"\n".join(rows) + b"\n")
    paths.insert(1, tmp_path / "gone.jsonl")
    offsets = {str(paths[2]): 0, str(paths[3]): 10**9}  # past its end: it was cut, read whole
    alone = transcripts.read(paths, offsets)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(transcripts, "PARALLEL_BYTES", 0)
        m.setattr(transcripts, "usable_cpus", lambda: 2)  # however many the machine has
        pooled = transcripts.read(paths, offsets)
    assert pooled == alone
    assert [p.where for p in pooled.problems] == [str(paths[0]), str(paths[1])]
    assert (
        sum(u.tokens_in for u in pooled.usages),
        sum(u.tokens_out for u in pooled.usages),
        len(pooled.usages),
    ) == (truth.tokens_in, truth.out, truth.responses)
    assert {u.agent for u in pooled.usages} == set(truth.by_agent)


ODD = [  # (old, new) edits of an assistant line that JSON readers may take differently
    ('"usage":{', '"usage":{"input_tokens":7,'),
    ('"requestId":', '"requestId":null,"requestId":'),
    ('"model":', '"model":"\\ud800","model":'),
    ('"text":"part', '"text":"\\u00e9\\ud800 part'),
    ('"text":"part', '"text":"\udcff part'),
    ('"text":"part', '"text":"é part'),
    ('"output_tokens":', '"output_tokens":123456789012345678901234567890,"output_tokens":'),
    ('"stop_reason":', '"stop_reason":1e400,"stop_reason":'),
    ('"message":{', '"message":3,"x":{'),
    ('"message":{', '"message":null,"message":{'),
    ('"isSidechain":false', '"isSidechain":true'),
    ('"input_tokens":', '"input_tokens":null,"input_tokens":'),
    ('"id":"msg_', '"id":5,"i\\u0064":"msg_'),
]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ODD), st.integers(0, 40)), min_size=1, max_size=5))
def test_the_fast_reader_of_assistant_lines_reads_what_the_whole_line_reader_reads(
    tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[tuple[str, str], int]]
) -> None:
    """Assistant lines in Claude Code's form are read by decoding only the fields that count
    (#17); any line, odd or hostile, comes out as the whole-line reader has it."""
    where = tmp_path_factory.mktemp("f")
    _, files = good_lines("/p")
    rows = files["a1.jsonl"].encode().splitlines()
    for (old, new), at in edits:
        i = [n for n, row in enumerate(rows) if b'"usage"' in row][at % 5]
        rows[i] = rows[i].replace(old.encode(), new.encode("utf-8", "surrogateescape"), 1)
    paths = [write(where / name, text) for name, text in files.items()]
    write(paths[0], b"\n".join(rows) + b"\n")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(transcripts, "FAST_BYTES", 0)
        fast = transcripts.read(paths, {})
    whole = transcripts.read(paths, {})  # a small file: read whole
    assert fast == whole


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(hostile(), st.integers(0, 40)), max_size=3),
    st.lists(st.tuples(st.sampled_from(ODD), st.integers(0, 40)), max_size=3),
)
def test_a_block_decoded_in_one_call_reads_what_its_lines_read_one_by_one(
    tmp_path_factory: pytest.TempPathFactory,
    inserted: list[tuple[tuple[bytes, bool], int]],
    edits: list[tuple[tuple[str, str], int]],
) -> None:
    """A block's marked lines are decoded in one call (#17); one malformed, odd or unusual
    line among them (a Task call, an escape, deep nesting) reads as line by line: the same
    totals, problems and offsets."""
    where = tmp_path_factory.mktemp("l")
    _, files = good_lines("/p")
    rows = files["a1.jsonl"].encode().splitlines()
    for (old, new), at in edits:
        i = [n for n, row in enumerate(rows) if b'"usage"' in row][at % 5]
        rows[i] = rows[i].replace(old.encode(), new.encode("utf-8", "surrogateescape"), 1)
    for (line, _), at in inserted:
        rows.insert(at % (len(rows) + 1), line)
    paths = [write(where / name, text) for name, text in files.items()]
    write(paths[0], b"\n".join(rows) + b"\n")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(transcripts, "FAST_BYTES", 0)
        batch = transcripts.read(paths, {})
        m.setattr(transcripts, "regular_lines", lambda block, spans: None)
        one_by_one = transcripts.read(paths, {})
    whole = transcripts.read(paths, {})  # a small file: read whole
    assert batch == one_by_one == whole
