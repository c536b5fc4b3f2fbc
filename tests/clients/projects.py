"""Small projects for scripted sessions to work in."""

from __future__ import annotations

# 400 passing tests: `pytest -v` prints a line each (about 32,000 characters), twice the 200
# lines `patchpack test` keeps.
MANY_TESTS = (
    "import pytest\n\n\n@pytest.mark.parametrize('i', range(400))\ndef test_number(i):\n    assert i >= 0\n"
)
