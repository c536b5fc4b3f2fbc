"""The layout of docs/architecture.md, held: imports point one way, modules stay short."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "patchpack"
# Lower layers never import higher ones; the four capabilities share a layer and never import
# each other, and use the micro-patch rule (limits) below them.
LAYERS = {
    "base": 0,
    "git": 1,
    "limits": 2,
    "queue": 3,
    "context": 3,
    "output": 3,
    "ledger": 3,
    "agents": 4,
    "cli": 5,
}
BASE = {"__init__", "errors", "clock", "text", "safejson", "config", "tokens"}


def _layer(module: str) -> str:
    """``patchpack.queue.store`` is in ``queue``; a top-level module is base (or cli)."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return "cli" if parts[-1] == "__main__" else "base"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every patchpack module ``path`` imports, at any depth (in functions too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("patchpack")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("patchpack"):
            assert node.level == 0, f"{path}: relative import"
            # `from patchpack.queue import store` imports patchpack.queue.store.
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def _allowed(importer: str, imported: str) -> bool:
    mine, theirs = _layer(importer), _layer(imported)
    parts = imported.split(".")
    if len(parts) < 2 or parts[1] in BASE or parts[1] == "__version__":
        return True  # base is below everything
    return mine == theirs or LAYERS[theirs] < LAYERS[mine]


def _violations() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module(path)
        for line, imported in _imports(path):
            if not _allowed(importer, imported):
                out.append(
                    f"{path.relative_to(ROOT)}:{line}: {importer} ({_layer(importer)}) "
                    f"imports {imported} ({_layer(imported)})"
                )
    return out


def test_imports_point_one_way() -> None:
    assert _violations() == []


@pytest.mark.parametrize(
    ("importer", "imported", "allowed"),
    [
        ("patchpack.queue.apply", "patchpack.git.Repo", True),
        ("patchpack.queue.apply", "patchpack.limits.diffs", True),
        ("patchpack.git.repo", "patchpack.queue.store", False),
        ("patchpack.limits.check", "patchpack.ledger.store", False),
        ("patchpack.ledger.store", "patchpack.queue.store", False),  # capabilities side by side
        ("patchpack.context.pack", "patchpack.agents.loop", False),
        ("patchpack.agents.status", "patchpack.queue.store", True),
        ("patchpack.cli.queue", "patchpack.agents.workflow", True),
        ("patchpack.config", "patchpack.git", False),  # base imports base only
        ("patchpack.tokens", "patchpack.errors", True),
    ],
)
def test_the_rule_itself(importer: str, imported: str, allowed: bool) -> None:
    assert _allowed(importer, imported) is allowed


def test_every_package_is_in_the_layout_document() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert set(packages) == set(LAYERS) - {"base"}
    for name in packages:
        assert f"\npatchpack/{name}/ " in doc, name


def test_no_module_is_over_600_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 600
    }
    assert long == {}
