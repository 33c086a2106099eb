"""Experience map, pure rendering: the map's data model in, a self-contained SVG or HTML string out.

The SVG is the map itself (swimlane grid, emotion curve, moments of truth), for `--out map.svg`;
the HTML page (live.py's `render_html`) lays the same map out as an HTML grid instead (page.py),
all inline: no fonts, scripts or styles are fetched from anywhere (system font stack), so the page
opens offline and in mail. Every cell carries its figures as data-* attributes.
"""

from __future__ import annotations

from html import escape

from grafana.experience_map.model import NO_DATA, Cell, CellChange, Comparison, ExperienceMap

FONT_STACK = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
LABEL_W_PX = 230
CELL_W_PX = 210
CELL_H_PX = 80
HEADER_H_PX = 40
CHANNEL_H_PX = 24
CURVE_H_PX = 170
MARGIN_PX = 12
CELL_TEXT_CHARS = 28  # characters of 12 px system-ui text that fit a cell's width
EMPTY_FILL = "#f1f1f1"
VERDICT_FILL = {"better": "#cdeccd", "worse": "#f6c8c3", "busier": "#fbe3b5", "quieter": "#d6e6f5", "same": "#ececec"}


def verdict_text(change: CellChange) -> str:
    """The verdict with the z of the test that decided it: "worse (z 5.1)"."""
    z = change.friction_z if change.verdict in ("better", "worse") and change.friction_z else change.volume_z
    return f"{change.verdict} (z {z:+.1f})" if change.verdict != "same" and z else change.verdict


def period_text(period: tuple[str, str]) -> str:
    return f"{period[0]} to {period[1]}" if period[1] else period[0]


def pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def fitted(text: str, chars: int = CELL_TEXT_CHARS) -> str:
    """A line cut to what a cell holds (SVG text does not wrap): the cell's data-* keep it whole."""
    return text if len(text) <= chars else text[:chars - 1].rstrip() + "…"


def csat_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def signed(value: float, digits: int = 1, scale: float = 1.0) -> str:
    return f"{value * scale:+.{digits}f}"


def badness(cell: Cell) -> float:
    """0 (all well) .. 1 (painful): friction rate (x2, capped) blended with low CSAT."""
    friction = min(1.0, 2 * cell.friction_rate)
    if cell.csat is None:
        return friction
    return 0.6 * friction + 0.4 * max(0.0, min(1.0, (5 - cell.csat) / 4))


def fill_of(cell: Cell | None) -> str:
    if cell is None:
        return EMPTY_FILL
    return f"hsl({round(120 * (1 - badness(cell)))}, 62%, 82%)"


def _rows(m: ExperienceMap) -> list[tuple[str, str, str]]:
    """Layout rows: ("channel", name, "") headers and ("touchpoint", id, label), channels in map order."""
    rows: list[tuple[str, str, str]] = []
    for channel in dict.fromkeys(channel for _, channel, _ in m.touchpoints):
        rows.append(("channel", channel, ""))
        rows += [("touchpoint", tp, label) for tp, ch, label in m.touchpoints if ch == channel]
    return rows


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start", size: int = 12) -> str:
    return (f'<text x="{x:.0f}" y="{y:.0f}" class="{cls}" text-anchor="{anchor}" font-size="{size}">'
            f"{escape(text)}</text>")


def _cell_svg(m: ExperienceMap, phase: str, tp: str, x: float, y: float) -> str:
    cell = m.cells.get((phase, tp))
    moment = (phase, tp) in m.moment_keys()
    rect = (f'<rect x="{x + 2:.0f}" y="{y + 2:.0f}" width="{CELL_W_PX - 4}" height="{CELL_H_PX - 4}" rx="6" '
            f'fill="{fill_of(cell)}" stroke="{"#6a1b9a" if moment else "#ffffff"}" '
            f'stroke-width="{3 if moment else 1}"/>')
    if cell is None:
        return f'<g class="cell empty" data-phase="{phase}" data-touchpoint="{tp}">{rect}</g>'
    rule = f" · {cell.top_rule.replace('_', ' ')}" if cell.top_rule else ""
    lines = [_text(x + 10, y + 20, f"{cell.volume} events · {pct(cell.share)} of cust.", "v"),
             _text(x + 10, y + 37, fitted(f"friction {pct(cell.friction_rate)}{rule}"), "f")]
    if cell.csat is not None:  # no "CSAT n/a" where nobody gave feedback
        lines.append(_text(x + 10, y + 54, f"CSAT {csat_text(cell.csat)}", "c"))
    if moment:
        lift = next(x.lift for x in m.moments if (x.phase, x.touchpoint) == (phase, tp))
        lines.append(_text(x + 10, y + 71, f"★ moment of truth · lift {signed(lift, 1, 100)} pts", "mot", size=11))
    return (f'<g class="cell{" moment" if moment else ""}" {_cell_data(cell)} data-moment="{str(moment).lower()}">'
            f'{rect}{"".join(lines)}</g>')


def _cell_data(cell: Cell) -> str:
    pairs = {"phase": cell.phase, "touchpoint": cell.touchpoint, "volume": cell.volume,
             "customers": cell.customers, "share": cell.share, "friction-rate": cell.friction_rate,
             "top-rule": cell.top_rule or "", "csat": "" if cell.csat is None else cell.csat}
    return " ".join(f'data-{k}="{escape(str(v))}"' for k, v in pairs.items())


def _change_svg(change: CellChange | None, now: Cell | None, phase: str, tp: str, x: float, y: float) -> str:
    fill = VERDICT_FILL[change.verdict] if change else EMPTY_FILL
    rect = (f'<rect x="{x + 2:.0f}" y="{y + 2:.0f}" width="{CELL_W_PX - 4}" height="{CELL_H_PX - 4}" rx="6" '
            f'fill="{fill}" stroke="#ffffff"/>')
    if change is None:
        return f'<g class="cell empty" data-phase="{phase}" data-touchpoint="{tp}">{rect}</g>'
    csat = "n/a" if change.csat is None else signed(change.csat, 2)
    lines = [_text(x + 10, y + 20, f"{verdict_text(change)} · events {change.volume:+d}", "v"),
             _text(x + 10, y + 37, f"friction {pct(now.friction_rate if now else 0.0)} "
                                   f"({signed(change.friction_rate, 1, 100)} pts)", "f"),
             _text(x + 10, y + 54, f"CSAT {csat_text(now.csat if now else None)} ({csat})"
                                   + (f" · mostly {change.concentrated_in}" if change.concentrated_in else ""), "c")]
    data = (f'data-phase="{phase}" data-touchpoint="{tp}" data-verdict="{change.verdict}" '
            f'data-volume-change="{change.volume}" data-friction-change="{change.friction_rate}" '
            f'data-csat-change="{"" if change.csat is None else change.csat}" data-friction-z="{change.friction_z}" '
            f'data-volume-z="{change.volume_z}" data-concentrated-in="{escape(change.concentrated_in)}"')
    return f'<g class="cell change {change.verdict}" {data}>{rect}{"".join(lines)}</g>'


def _grid(m: ExperienceMap, comparison: Comparison | None) -> tuple[list[str], float]:
    parts = [_text(MARGIN_PX, HEADER_H_PX - 14, "Touchpoint \\ phase", "head", size=13)]
    for i, (_, label) in enumerate(m.phases):
        x = LABEL_W_PX + i * CELL_W_PX + CELL_W_PX / 2
        parts.append(_text(x, HEADER_H_PX - 14, label, "phase head", "middle", 15))
    y = float(HEADER_H_PX)
    for kind, ident, label in _rows(m):
        if kind == "channel":
            parts.append(_text(MARGIN_PX, y + 17, ident.replace("_", " ").title(), "channel", size=13))
            y += CHANNEL_H_PX
            continue
        parts.append(_text(MARGIN_PX, y + CELL_H_PX / 2 + 4, label, "touchpoint", size=12))
        for i, (phase, _) in enumerate(m.phases):
            x = LABEL_W_PX + i * CELL_W_PX
            change = comparison.changes.get((phase, ident)) if comparison else None
            parts.append(_change_svg(change, m.cells.get((phase, ident)), phase, ident, x, y) if comparison
                         else _cell_svg(m, phase, ident, x, y))
        y += CELL_H_PX
    return parts, y


def _curve(m: ExperienceMap, top: float, comparison: Comparison | None) -> list[str]:
    mid = top + CURVE_H_PX / 2 + 10
    half = CURVE_H_PX / 2 - 30
    right = LABEL_W_PX + len(m.phases) * CELL_W_PX
    parts = [_text(MARGIN_PX, top + 24, "Emotion curve", "head", size=14),
             _text(MARGIN_PX, mid - half + 4, "happy +1", size=11), _text(MARGIN_PX, mid + 4, "indifferent 0", size=11),
             _text(MARGIN_PX, mid + half + 4, "angry -1", size=11),
             f'<line x1="{LABEL_W_PX}" y1="{mid:.0f}" x2="{right}" y2="{mid:.0f}" stroke="#bbbbbb" stroke-dasharray="4 4"/>']
    points = []
    for i, point in enumerate(m.emotion):
        x, y = LABEL_W_PX + i * CELL_W_PX + CELL_W_PX / 2, mid - point.score * half
        known = point.label != NO_DATA
        points += [f"{x:.0f},{y:.0f}"] if known else []
        change = f" ({signed(comparison.emotion_change.get(point.phase, 0.0), 2)})" if comparison and known else ""
        text = f"{point.label} {point.score:+.2f}{change}" if known else NO_DATA
        parts.append(f'<g class="emotion" data-phase="{point.phase}" data-score="{point.score}" '
                     f'data-label="{point.label}"><circle cx="{x:.0f}" cy="{y:.0f}" r="6" '
                     f'fill="{"#3949ab" if known else "#ffffff"}" stroke="#3949ab" stroke-width="2"/>'
                     + _text(x, y - 12, text, "score", "middle", 12) + "</g>")
    parts.insert(5, f'<polyline points="{" ".join(points)}" fill="none" stroke="#3949ab" stroke-width="3"/>')
    return parts


def render_svg(m: ExperienceMap, comparison: Comparison | None = None) -> str:
    """The map as one standalone SVG document."""
    grid, bottom = _grid(m, comparison)
    curve = _curve(m, bottom + 10, comparison)
    width = LABEL_W_PX + len(m.phases) * CELL_W_PX + MARGIN_PX
    height = bottom + CURVE_H_PX + 30
    style = (f"<style>text{{font-family:{FONT_STACK};fill:#222}} .head{{font-weight:600}}"
             " .channel{font-weight:600;fill:#555;text-transform:uppercase} .mot{fill:#6a1b9a;font-weight:700}</style>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="experience-map" width="{width}" height="{height:.0f}" '
            f'viewBox="0 0 {width} {height:.0f}" role="img" aria-label="{escape(m.title)}">{style}'
            f'<rect width="100%" height="100%" fill="#ffffff"/>{"".join(grid)}{"".join(curve)}</svg>')
