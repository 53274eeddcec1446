"""Imports only go downward: dsp <- streaming <- teleconsult; loadtest -> streaming/teleconsult.

dsp/ is pure numerics (numpy, scipy); streaming/ is the sans-I/O protocol (msgpack and the
standard library, no asyncio); neither may import the service. Checked by parsing every
module's imports, including imports inside functions.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STDLIB = set(sys.stdlib_module_names)

ALLOWED = {
    "dsp": {"numpy", "scipy", "dsp"},
    "streaming": {"msgpack", "streaming"},
}
FORBIDDEN_STDLIB = {
    "dsp": {"asyncio", "socket", "logging", "sqlite3", "subprocess"},
    "streaming": {"asyncio", "socket", "sqlite3", "subprocess"},
}
# Command-line tools inside dsp/ that read WFDB files or run comparisons; not the pure core.
TOOLS = {"dsp/evaluate.py", "dsp/bench_live.py", "dsp/evaluate_measurements.py"}  # commands: they read files


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_core_packages_import_only_what_their_layer_allows(package: str) -> None:
    problems = []
    for path in sorted((REPO / package).rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in TOOLS:
            continue
        for name in imports_of(path):
            if name in STDLIB:
                if name in FORBIDDEN_STDLIB[package]:
                    problems.append(f"{rel} imports {name}")
            elif name not in ALLOWED[package] and name != "__future__":
                problems.append(f"{rel} imports {name}")
    assert problems == []


def test_dsp_tools_do_not_reach_into_the_service() -> None:
    for rel in sorted(TOOLS):
        path = REPO / rel
        if path.exists():
            assert not imports_of(path) & {"teleconsult", "streaming", "aiohttp", "redis", "loadtest"}, rel


def test_services_do_not_import_aiohttp() -> None:
    for path in sorted((REPO / "teleconsult" / "services").rglob("*.py")):
        assert "aiohttp" not in imports_of(path), path


def test_only_the_dialect_module_knows_the_database_drivers() -> None:
    """Repositories never branch on the engine: SQLite/PostgreSQL differences live in storage/dialects.py."""
    drivers = {"sqlite3", "psycopg", "psycopg2", "asyncpg"}
    users = sorted(path.relative_to(REPO).as_posix()
                   for package in ("teleconsult", "streaming", "dsp", "loadtest")
                   for path in (REPO / package).rglob("*.py") if imports_of(path) & drivers)
    assert users == ["teleconsult/storage/dialects.py"]
