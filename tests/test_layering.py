"""DESIGN §2's rules of the house, checked on the source: the layers import downwards only.

- Core modules never import ``server/``, ``widgets/``, ``sandbox/`` or ``cli.py`` (those sit on
  top; ``__init__.py`` re-exports the public API and may load them lazily).
- The sandbox is an independent implementation of the platform side: it imports nothing of the
  client at all (only itself, the standard library and third-party packages), so a misreading
  of the spec in one side cannot hide in the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nrps_nb"
UPPER = ("server", "widgets", "sandbox", "cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module ``source`` imports anywhere in it (relative imports resolved against
    ``module``), with ``from X import y`` counted as both ``X`` and ``X.y``."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            stem = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                stem = ".".join(parts + ([node.module] if node.module else []))
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return found


def imports_of(path: Path) -> set[str]:
    return imported_modules(
        path.read_text(encoding="utf-8"), module_name(path), is_package=path.name == "__init__.py"
    )


def _ours(name: str) -> bool:
    return name == "nrps_nb" or name.startswith("nrps_nb.")


def _layer(name: str) -> str:
    """``nrps_nb.server.handlers`` -> ``server``; ``nrps_nb`` -> ``""``."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def _in_sandbox(name: str) -> bool:
    return name == "nrps_nb.sandbox" or name.startswith("nrps_nb.sandbox.")


CORE = sorted(p for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "cli", "demo"))
SANDBOX = sorted((PACKAGE / "sandbox").rglob("*.py"))


def test_the_resolver_catches_every_form_of_import() -> None:
    source = (
        "from ..jose import sign\nfrom .. import nrps\nimport nrps_nb.frames\n"
        "from . import base\ndef later():\n    from ..oauth import token\n"
    )
    names = imported_modules(source, "nrps_nb.sandbox.app")
    assert {"nrps_nb.jose", "nrps_nb.nrps", "nrps_nb.frames", "nrps_nb.oauth"} <= names
    assert "nrps_nb.sandbox.base" in names
    assert imported_modules("from .tokens import x", "nrps_nb.sandbox", is_package=True) >= {
        "nrps_nb.sandbox.tokens"
    }


def test_both_rules_cover_the_whole_package() -> None:
    assert {p.stem for p in CORE} >= {"jose", "launch", "oauth", "nrps", "frames", "store"}
    assert len(SANDBOX) >= 10


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_core_modules_import_no_upper_layer(path: Path) -> None:
    upper = sorted(name for name in imports_of(path) if _ours(name) and _layer(name) in UPPER)
    assert not upper, f"{path.name} imports {upper}: core modules sit below these layers"


@pytest.mark.parametrize("path", SANDBOX, ids=lambda p: p.name)
def test_the_sandbox_imports_nothing_of_the_client(path: Path) -> None:
    client = sorted(name for name in imports_of(path) if _ours(name) and not _in_sandbox(name))
    assert not client, f"sandbox/{path.name} imports {client}: the sandbox must stay independent"
