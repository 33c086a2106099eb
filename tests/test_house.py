"""The house, kept true: the project's import graph, read with `ast`, against the rules of the house.

docs/architecture.md draws the house: `schemas` (the contract) imports no other project package;
`foundation` imports only the contract; the stages (producers, streams, clickhouse, grafana) import
only the contract, the foundation and themselves (grafana also reads clickhouse's named queries);
only `journeys` (the entry layer) wires several stages together. No file imports a project module
inside a function (that is how an import cycle hides), and there is no cycle between files. The
stream core (`streams/core/`) is pure: no Kafka, Faust, ClickHouse nor codec, only what the stream
adapters around it hand over. Each failure names the file, the line, the import and the rule it breaks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("journeys", "foundation", "schemas", "producers", "streams", "clickhouse", "grafana")
STAGES = ("producers", "streams", "clickhouse", "grafana")
# What grafana uses of clickhouse: the named queries and the SQL they are built from, nothing else
# (no client, no sink: the entry layer opens the warehouse and hands grafana a client).
# The analyses (clickhouse.analyses.*) are named queries too: SQL and the arithmetic on their rows.
GRAFANA_READS = ("clickhouse.queries", "clickhouse.sql", "clickhouse.analyses")
IN_FUNCTION = "no import of a project module inside a function (it hides a cycle; put it at the top)"
CYCLE = "no import cycle between files"
# What the pure stream core never imports: clients, the stream framework, codecs and the adapters that hold them.
NOT_IN_CORE = ("faust", "aiokafka", "kafka", "clickhouse_connect", "chdb", "cramjam", "zlib", "zstandard", "lz4",
               "snappy", "streams.codecs", "streams.work", "streams.customer_states")

# Known violations while a restructuring is under way, as (file, imported module, rule) or
# ("cycle", files...): none. An entry that no longer happens fails the test, so none can linger.
PENDING: set[tuple[str, ...]] = set()


@dataclass(frozen=True)
class Import:
    file: str  # relative to the repository, e.g. "clickhouse/erasure.py"
    line: int
    target: str  # the project module imported, e.g. "schemas.ids"
    text: str  # the statement as written
    in_function: bool

    def where(self) -> str:
        return f"{self.file}:{self.line}: `{self.text}`"


def module_of(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def file_of(module: str, root: Path) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, root: Path) -> Iterator[str]:
    """The project modules a statement imports (`from a import b` is a.b when b is a module)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: resolved against the importing module's package
        package = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
        base = ".".join([*package, *([base] if base else [])])
    for alias in node.names:
        yield f"{base}.{alias.name}" if file_of(f"{base}.{alias.name}", root) else base


def imports_of(path: Path, root: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    inside = {id(sub) for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
              for sub in ast.walk(node)}
    module, found = module_of(path, root), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target in targets(node, module, path.name == "__init__.py", root):
                if target.split(".")[0] in PACKAGES:
                    found.append(Import(path.relative_to(root).as_posix(), node.lineno, target,
                                        ast.unparse(node), id(node) in inside))
    return found


def all_imports(root: Path) -> list[Import]:
    return [i for package in PACKAGES for path in sorted((root / package).rglob("*.py")) for i in imports_of(path, root)]


def layer_rule(imp: Import) -> str | None:
    """The rule of the house this import breaks, or None."""
    home, away = imp.file.split("/")[0], imp.target.split(".")[0]
    if home == "journeys" or away == home:
        return None
    if home == "schemas":
        return "schemas (the contract) imports no other project package"
    if home == "foundation":
        return None if away == "schemas" else "foundation imports only schemas"
    if away in ("schemas", "foundation"):
        return None
    if home == "grafana" and (imp.target in GRAFANA_READS or imp.target.startswith("clickhouse.analyses.")):
        return None
    if home == "grafana" and away == "clickhouse":
        return f"grafana may import of clickhouse only its named queries ({', '.join(GRAFANA_READS)})"
    return "a stage imports only schemas, foundation and itself"


def cycles(imports: list[Import], root: Path) -> list[list[str]]:
    """Groups of files that import each other, directly or around a circle (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        target = file_of(imp.target, root)
        if target is not None:
            graph.setdefault(imp.file, set()).add(target.relative_to(root).as_posix())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while (member := stack.pop()) != node:
                group.append(member)
            group.append(node)
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def violations(root: Path = ROOT) -> dict[tuple[str, ...], str]:
    """Every broken rule: its key (as PENDING spells it) -> the message that names it."""
    imports = all_imports(root)
    found: dict[tuple[str, ...], str] = {}
    for imp in imports:
        for rule in ([IN_FUNCTION] if imp.in_function else []) + [r for r in [layer_rule(imp)] if r]:
            found[(imp.file, imp.target, rule)] = f"{imp.where()} breaks the rule: {rule}"
    for group in cycles(imports, root):
        members = {root / m for m in group}
        lines = [i.where() for i in imports if root / i.file in members and file_of(i.target, root) in members]
        found[("cycle", *group)] = f"{CYCLE}: {' <-> '.join(group)}, through " + "; ".join(dict.fromkeys(lines))
    return found


def test_the_import_graph_keeps_the_rules_of_the_house() -> None:
    found = violations()
    broken = [message for key, message in sorted(found.items()) if key not in PENDING]
    assert not broken, "the house's rules are broken (docs/architecture.md):\n" + "\n".join(broken)


def test_the_stream_core_imports_no_client_framework_nor_codec() -> None:
    impure = []
    for path in sorted((ROOT / "streams" / "core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            impure += [f"{path.relative_to(ROOT)}:{node.lineno}: imports {name} (the core is pure)"
                       for name in names if any(name == n or name.startswith(n + ".") for n in NOT_IN_CORE)]
    assert not impure, "\n".join(impure)


def test_pending_lists_only_what_still_happens() -> None:
    gone = sorted(PENDING - set(violations()))
    assert not gone, f"remove these from PENDING in tests/test_house.py, they no longer happen: {gone}"


@pytest.mark.parametrize(("file", "source", "rule"), [
    ("grafana/a.py", "from grafana import b\n", CYCLE),
    ("schemas/x.py", "from foundation.settings import Settings\n", "schemas (the contract)"),
    ("foundation/x.py", "import producers.publisher\n", "foundation imports only schemas"),
    ("producers/x.py", "from streams.core import records\n", "a stage imports only"),
    ("grafana/x.py", "from clickhouse.client import connect\n", "grafana may import of clickhouse only"),
    ("grafana/x.py", "def f():\n    from grafana import boards\n", IN_FUNCTION),
])
def test_a_forbidden_import_is_named_with_its_file_line_and_rule(file: str, source: str, rule: str,
                                                                  tmp_path: Path) -> None:
    """The checks themselves, on a small tree written for the purpose (the real one must stay clean)."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "grafana" / "b.py").write_text("from grafana import a\n")
    (tmp_path / file).write_text('"""A probe of tests/test_house.py."""\n' + source, encoding="utf-8")
    messages = list(violations(tmp_path).values())
    line = 1 + source.count("\n")  # the probe's import is its last line, after the docstring
    assert any(m.startswith(f"{file}:{line}: `") and rule in m for m in messages) or \
        any(m.startswith(CYCLE) and file in m for m in messages if rule == CYCLE), messages
