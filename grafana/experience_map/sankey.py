"""Experience map, the paths: which step customers really take next, drawn as a Sankey diagram.

The map's grid says where customers are and where they suffer; it cannot say in which order they
go, nor where they go back. The paths analysis (clickhouse/analyses/paths.py, `journeys paths`)
counts transitions between steps (`touchpoint:event_type`, repeats in a row counted once) from a
chosen step, or from each journey's start, a few transitions deep. Here they become columns of
steps (column 0: where the paths start, column k: k transitions later) joined by bands as wide as
the transitions they carry. A band that goes to a step its paths already took (a node with bands
leading to its source) is a step back (a loop, A -> B -> A) and is coloured as a pain. Pure: rows in, SVG text out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 1200.0, 360.0
NODE_W, GAP, LABEL_CHARS = 12.0, 10.0, 34
MARGIN_X = 230.0  # room for the last column's labels, drawn to the left of its nodes
FLOW, BACK = "#90a4ae", "#e53935"


@dataclass(frozen=True)
class Transition:
    """One row of the paths analysis: at `position` (1 = the first transition), from_step -> to_step."""

    position: int
    from_step: str
    to_step: str
    transitions: int
    journeys: int
    share: float  # of the transitions leaving from_step at that position
    median_s: float


@dataclass(frozen=True)
class Node:
    column: int
    step: str
    value: int
    y: float
    height: float


def duration(seconds: float) -> str:
    """A median time as people say it: 45 s, 3 min 20 s, 2 h 5 min, 3 d 4 h."""
    s = round(seconds)
    for unit, size, smaller, smaller_size in (("d", 86_400, "h", 3600), ("h", 3600, "min", 60), ("min", 60, "s", 1)):
        if s >= size:
            rest = (s % size) // smaller_size
            return f"{s // size} {unit}" + (f" {rest} {smaller}" if rest else "")
    return f"{s} s"


def layout(transitions: list[Transition]) -> tuple[dict[tuple[int, str], Node], float]:
    """Nodes per (column, step), stacked largest first, and the scale (pixels per transition) that
    fits the fullest column into the height."""
    into: dict[tuple[int, str], int] = defaultdict(int)
    out: dict[tuple[int, str], int] = defaultdict(int)
    for t in transitions:
        out[(t.position - 1, t.from_step)] += t.transitions
        into[(t.position, t.to_step)] += t.transitions
    values = {key: max(into.get(key, 0), out.get(key, 0)) for key in into.keys() | out.keys()}
    columns: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for key in sorted(values, key=lambda k: (k[0], -values[k], k[1])):
        columns[key[0]].append(key)
    scale = min((HEIGHT - GAP * (len(keys) - 1)) / max(1, sum(values[k] for k in keys)) for keys in columns.values())
    nodes: dict[tuple[int, str], Node] = {}
    for column, keys in columns.items():
        y = 0.0
        for key in keys:
            height = max(1.0, values[key] * scale)
            nodes[key] = Node(column, key[1], values[key], y, height)
            y += height + GAP
    return nodes, scale


def _x(column: int, columns: int) -> float:
    return column * (WIDTH - MARGIN_X) / max(1, columns - 1) if columns > 1 else 0.0


def _band(x0: float, y0: float, x1: float, y1: float, width: float) -> str:
    middle = (x0 + x1) / 2
    return (f"M{x0:.1f},{y0:.1f} C{middle:.1f},{y0:.1f} {middle:.1f},{y1:.1f} {x1:.1f},{y1:.1f} "
            f"L{x1:.1f},{y1 + width:.1f} C{middle:.1f},{y1 + width:.1f} {middle:.1f},{y0 + width:.1f} "
            f"{x0:.1f},{y0 + width:.1f} Z")


def ancestors(transitions: list[Transition]) -> dict[tuple[int, str], set[tuple[int, str]]]:
    """Per node, itself and the nodes with bands leading to it: a band to one of those steps goes back
    to a step its paths already took (the rows are aggregates, so this is what they can say of a loop)."""
    behind: dict[tuple[int, str], set[tuple[int, str]]] = defaultdict(set)
    for t in sorted(transitions, key=lambda t: t.position):
        source = (t.position - 1, t.from_step)
        behind[source].add(source)
        behind[(t.position, t.to_step)] |= behind[source] | {(t.position, t.to_step)}
    return behind


def _links(transitions: list[Transition], nodes: dict[tuple[int, str], Node], scale: float, columns: int) -> list[str]:
    """Bands leave a node in the order of their targets (top first) and enter in the order of their
    sources, so they do not cross inside a node."""
    behind = ancestors(transitions)
    out_at: dict[tuple[int, str], float] = defaultdict(float)
    drawn = []
    order = sorted(transitions, key=lambda t: (t.position, nodes[(t.position - 1, t.from_step)].y,
                                               nodes[(t.position, t.to_step)].y))
    for t in order:
        source, target = nodes[(t.position - 1, t.from_step)], nodes[(t.position, t.to_step)]
        width = max(0.5, t.transitions * scale)
        y0 = source.y + out_at[(source.column, source.step)]
        out_at[(source.column, source.step)] += width
        drawn.append((t, source, target, y0, width))
    entries: dict[tuple[int, str], float] = defaultdict(float)
    paths = []
    for t, source, target, y0, width in sorted(drawn, key=lambda d: (d[2].column, d[2].y, d[1].y)):
        y1 = target.y + entries[(target.column, target.step)]
        entries[(target.column, target.step)] += width
        back = any(step == t.to_step for _, step in behind[(source.column, source.step)])
        title = (f"{t.from_step} → {t.to_step}: {t.transitions:,} transitions, {t.journeys:,} journeys, "
                 f"{t.share * 100:.0f}% of those leaving {t.from_step}; median {duration(t.median_s)}"
                 + (" (a step back)" if back else ""))
        paths.append(f'<path class="link{" back" if back else ""}" d="{_band(_x(source.column, columns) + NODE_W, y0, _x(target.column, columns), y1, width)}" '
                     f'fill="{BACK if back else FLOW}" fill-opacity="0.45" data-position="{t.position}" '
                     f'data-from="{escape(t.from_step)}" data-to="{escape(t.to_step)}" '
                     f'data-transitions="{t.transitions}"><title>{escape(title)}</title></path>')
    return paths


def _label(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"


def _node(node: Node, columns: int) -> str:
    x = _x(node.column, columns)
    last = node.column == columns - 1
    tx, anchor = (x - 4, "end") if last else (x + NODE_W + 4, "start")
    ty = node.y + node.height / 2 + 4
    return (f'<g class="node" data-column="{node.column}" data-step="{escape(node.step)}" data-value="{node.value}">'
            f'<rect x="{x:.1f}" y="{node.y:.1f}" width="{NODE_W}" height="{node.height:.1f}" fill="#37474f">'
            f"<title>{escape(node.step)}: {node.value:,}</title></rect>"
            f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}" font-size="12">'
            f"{escape(_label(node.step))} · {node.value:,}</text></g>")


def sankey_svg(transitions: list[Transition]) -> str:
    """The diagram; an empty string when there is nothing to draw."""
    if not transitions:
        return ""
    nodes, scale = layout(transitions)
    columns = max(key[0] for key in nodes) + 1
    body = _links(transitions, nodes, scale, columns) + [_node(n, columns) for n in nodes.values()]
    return (f'<svg class="sankey" viewBox="-2 -2 {WIDTH + 4:.0f} {HEIGHT + 4:.0f}" role="img" '
            f'aria-label="Paths: which step follows which" preserveAspectRatio="xMinYMin meet">{"".join(body)}</svg>')
