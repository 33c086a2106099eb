"""The streams stage keeps to the house rules (read from the import graph, ast):
- it never imports another stage (clickhouse, producers, grafana) nor the entry layer (journeys):
  journeys.bootstrap is where the worker and the sink meet;
- its pure core imports no Kafka, Faust, ClickHouse nor codec: those live in the adapters around it;
- no import hides inside a function (to dodge a cycle or otherwise).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

STREAMS = Path(__file__).resolve().parents[2] / "streams"
OTHER_ROOMS = ("clickhouse", "producers", "grafana", "journeys")
NOT_IN_CORE = ("faust", "aiokafka", "kafka", "clickhouse_connect", "chdb", "cramjam", "zlib", "zstandard", "lz4",
               "snappy", "streams.codecs", "streams.work", "streams.customer_states")
PENDING: set[str] = set()  # files allowed to break these rules while they move: none


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module imported, line, inside a function) for every import of a file."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                found.append((child.module, child.lineno, in_function))
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return found


def offences(rule: str, check: Callable[[str, str, bool], bool]) -> list[str]:
    out = []
    for path in sorted(STREAMS.rglob("*.py")):
        name = path.relative_to(STREAMS).as_posix()
        out += [f"streams/{name}:{line} imports {module} ({rule})"
                for module, line, inside in imports(path) if check(name, module, inside)]
    return out


def _is(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def test_streams_imports_no_other_stage_nor_the_entry_layer() -> None:
    assert offences("another room", lambda name, module, _: name not in PENDING and _is(module, OTHER_ROOMS)) == []


def test_the_core_imports_no_kafka_faust_clickhouse_nor_codec() -> None:
    assert offences("not pure", lambda name, module, _: name.startswith("core/") and _is(module, NOT_IN_CORE)) == []


def test_no_import_hides_inside_a_function() -> None:
    assert offences("inside a function", lambda name, _, inside: inside and name not in PENDING) == []
