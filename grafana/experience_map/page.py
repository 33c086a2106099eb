"""Experience map, the live page's content: the map as an HTML grid that reads at any width.

The static document (render.py) draws the map as one SVG of fixed-size cells, where a long rule
name runs out of its box. The live page lays it out as an HTML table instead: text wraps inside its
cell, nothing is clipped at 1280 or 1920 px, touchpoints without a step in the period are folded
into one line under the grid, figures read as a person says them (34%, +12 pt, CSAT 3.4 of 5), and
the emotion curve, pain points, moments of truth and the paths (a Sankey, sankey.py) follow. `map_fragment` is what the page swaps
in on every refresh (journeys/reads.py serves it); live.py wraps it with the pickers and script.
Every cell carries its figures as data-* attributes, the query's numbers unrounded.
"""

from __future__ import annotations

from html import escape

from grafana.experience_map.model import NO_DATA, Cell, CellChange, Comparison, ExperienceMap
from grafana.experience_map.render import VERDICT_FILL, fill_of, period_text, verdict_text
from grafana.experience_map.sankey import sankey_svg

PAIN_POINTS = 8  # cells listed under "Pain points", by frictions
CURVE_W, CURVE_H = 100, 60  # the emotion curve's viewBox per phase column


def pct(value: float) -> str:
    """A share as people say it: 34%, 4.5% below 10%, 0% for none."""
    return f"{value * 100:.1f}%" if 0 < abs(value) < 0.1 else f"{value * 100:.0f}%"


def points(change: float) -> str:
    """A change of a share, in percentage points: +12 pt."""
    return f"{change * 100:+.0f} pt" if abs(change) >= 0.01 or change == 0 else f"{change * 100:+.1f} pt"


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def words(rule: str | None) -> str:
    return (rule or "").replace("_", " ")


def _folded(m: ExperienceMap, active: set[str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Channels in map order with their touchpoints that have a step (channels without any are left out)."""
    channels: dict[str, list[tuple[str, str]]] = {}
    for tp, channel, label in m.touchpoints:
        if tp in active:
            channels.setdefault(channel, []).append((tp, label))
    return list(channels.items())


def _cell(m: ExperienceMap, cell: Cell | None, moment_lift: float | None) -> str:
    if cell is None:
        return '<td class="cell empty"></td>'
    lines = [f"{cell.volume:,} events · {pct(cell.share)} of customers"]
    lines.append(f"friction {pct(cell.friction_rate)}" + (f" · {words(cell.top_rule)}" if cell.top_rule else ""))
    if cell.csat is not None:
        lines.append(f"CSAT {cell.csat:.1f} of 5")
    if moment_lift is not None:
        lines.append(f"★ moment of truth · lift {points(moment_lift)}")
    data = {"phase": cell.phase, "touchpoint": cell.touchpoint, "volume": cell.volume, "customers": cell.customers,
            "share": cell.share, "friction-rate": cell.friction_rate, "top-rule": cell.top_rule or "",
            "csat": "" if cell.csat is None else cell.csat}
    attrs = " ".join(f'data-{k}="{escape(str(v))}"' for k, v in data.items())
    moment = " moment" if moment_lift is not None else ""
    body = "".join(f"<div>{escape(line)}</div>" for line in lines)
    return f'<td class="cell{moment}" style="background:{fill_of(cell)}" {attrs}>{body}</td>'


def _change(change: CellChange | None, now: Cell | None) -> str:
    if change is None:
        return '<td class="cell empty"></td>'
    lines = [f"{verdict_text(change)} · events {change.volume:+,}",
             f"friction {pct(now.friction_rate if now else 0.0)} ({points(change.friction_rate)})"]
    if now is not None and now.csat is not None:
        lines.append(f"CSAT {now.csat:.1f}" + (f" ({change.csat:+.1f})" if change.csat is not None else ""))
    if change.concentrated_in:
        lines.append(f"mostly {change.concentrated_in}")
    data = (f'data-phase="{change.phase}" data-touchpoint="{change.touchpoint}" data-verdict="{change.verdict}" '
            f'data-volume-change="{change.volume}" data-friction-change="{change.friction_rate}" '
            f'data-friction-z="{change.friction_z}" data-volume-z="{change.volume_z}" '
            f'data-concentrated-in="{escape(change.concentrated_in)}"')
    body = "".join(f"<div>{escape(line)}</div>" for line in lines)
    return f'<td class="cell change" style="background:{VERDICT_FILL[change.verdict]}" {data}>{body}</td>'


def _grid(m: ExperienceMap, comparison: Comparison | None) -> str:
    cells = comparison.changes if comparison else m.cells
    active = {tp for (_, tp) in cells}
    lifts = {(x.phase, x.touchpoint): x.lift for x in m.moments}
    head = "".join(f'<th class="phase">{escape(label)}</th>' for _, label in m.phases)
    rows = [f'<tr><th class="corner">Touchpoint \\ phase</th>{head}</tr>']
    for channel, touchpoints in _folded(m, active):
        rows.append(f'<tr class="channel"><th colspan="{len(m.phases) + 1}">{escape(words(channel))}</th></tr>')
        for tp, label in touchpoints:
            tds = "".join(_change(comparison.changes.get((p, tp)), m.cells.get((p, tp))) if comparison
                          else _cell(m, m.cells.get((p, tp)), lifts.get((p, tp))) for p, _ in m.phases)
            rows.append(f'<tr class="touchpoint" data-touchpoint="{tp}"><th>{escape(label)}</th>{tds}</tr>')
    rows.append(_curve_row(m, comparison))
    idle = [label for tp, _, label in m.touchpoints if tp not in active]
    folded = (f'<p class="folded">No events in this period: {escape(", ".join(idle))}.</p>' if idle else "")
    return f'<table class="grid">{"".join(rows)}</table>{folded}'


def _curve_row(m: ExperienceMap, comparison: Comparison | None) -> str:
    """The emotion curve under the grid, one point per phase column, labels in HTML below it."""
    width = CURVE_W * len(m.phases)
    known = [(i, p) for i, p in enumerate(m.emotion) if p.label != NO_DATA]
    xy = [(i * CURVE_W + CURVE_W / 2, CURVE_H / 2 - p.score * (CURVE_H / 2 - 6)) for i, p in known]
    line = " ".join(f"{x:.0f},{y:.0f}" for x, y in xy)
    # Round caps of zero-length strokes: dots that stay round while the curve stretches with the columns.
    dots = "".join(f'<path d="M{x:.0f} {y:.0f}h0" stroke="#3949ab" stroke-width="10" stroke-linecap="round" '
                   'vector-effect="non-scaling-stroke"/>' for x, y in xy)
    svg = (f'<svg class="curve" viewBox="0 0 {width} {CURVE_H}" preserveAspectRatio="none" role="img" '
           f'aria-label="Emotion curve"><line x1="0" y1="{CURVE_H / 2}" x2="{width}" y2="{CURVE_H / 2}" '
           f'stroke="#bbb" stroke-dasharray="4 4" vector-effect="non-scaling-stroke"/><polyline points="{line}" '
           f'fill="none" stroke="#3949ab" stroke-width="3" vector-effect="non-scaling-stroke"/>{dots}</svg>')
    labels = []
    for point in m.emotion:
        change = comparison.emotion_change.get(point.phase) if comparison else None
        text = NO_DATA if point.label == NO_DATA else f"{point.label} {point.score:+.2f}" + (
            f" ({change:+.2f})" if change is not None else "")
        labels.append(f'<td class="emotion" data-phase="{point.phase}" data-score="{point.score}" '
                      f'data-label="{point.label}">{escape(text)}</td>')
    return (f'<tr class="curve-row"><th rowspan="2">Emotion<br><small>happy +1 · angry −1</small></th>'
            f'<td colspan="{len(m.phases)}">{svg}</td></tr><tr class="emotion-row">{"".join(labels)}</tr>')


def _pain_points(m: ExperienceMap) -> str:
    labels = {tp: label for tp, _, label in m.touchpoints}
    phases = dict(m.phases)
    painful = sorted((c for c in m.cells.values() if c.frictions), key=lambda c: (-c.frictions, c.phase, c.touchpoint))
    items = [f'<li class="pain" data-phase="{c.phase}" data-touchpoint="{c.touchpoint}">'
             f"<b>{escape(labels.get(c.touchpoint, c.touchpoint))}</b> in {escape(phases.get(c.phase, c.phase))}: "
             f"{plural(c.frictions, 'friction')} on {plural(c.volume, 'event')} ({pct(c.friction_rate)}), mostly "
             f"{escape(words(c.top_rule))}</li>" for c in painful[:PAIN_POINTS]]
    items += [f'<li class="pain off-grid" data-phase="{p}" data-touchpoint="{t}">'
              f"<b>{escape(labels.get(t, t))}</b> in {escape(phases.get(p, p))}: {n:,} {escape(words(r))} "
              "(no step there in this period)</li>" for p, t, r, n in m.off_grid]
    body = f'<ol class="pains">{"".join(items)}</ol>' if items else "<p>No friction in this period.</p>"
    return f"<section><h2>Pain points</h2>{body}</section>"


def _moments(m: ExperienceMap) -> str:
    if not m.moments:
        return ("<section><h2>Moments of truth</h2><p>None yet: a cell needs at least two journeys with and two "
                "without friction.</p></section>")
    labels, phases = {tp: label for tp, _, label in m.touchpoints}, dict(m.phases)
    rows = "".join(f'<tr class="moment-row" data-phase="{x.phase}" data-touchpoint="{x.touchpoint}" '
                   f'data-lift="{x.lift}"><td>{escape(labels.get(x.touchpoint, x.touchpoint))} in '
                   f"{escape(phases.get(x.phase, x.phase))}</td><td>{pct(x.conversion_with)} of {x.with_friction:,}"
                   f"</td><td>{pct(x.conversion_without)} of {x.without_friction:,}</td><td>{points(x.lift)}</td></tr>"
                   for x in m.moments)
    head = ("<tr><th>Where</th><th>Went on, with friction</th><th>Went on, without</th><th>Lift</th></tr>")
    return f'<section><h2>Moments of truth</h2><table class="moments">{head}{rows}</table></section>'


def map_fragment(m: ExperienceMap, comparison: Comparison | None = None) -> str:
    """The part of the page a refresh replaces: heading line, grid, curve, pain points, moments."""
    meta = f"{period_text(m.period)} · segment {m.segment or 'all'} · {m.customers:,} customers"
    if comparison:
        meta += f" · compared with {period_text(comparison.before.period)} ({comparison.before.customers:,} customers)"
    return (f'<p class="meta">{escape(meta)}</p>{_grid(m, comparison)}'
            f'<div class="below">{_pain_points(m)}{_moments(m)}</div>{_paths(m)}')


def _paths(m: ExperienceMap) -> str:
    """Which step follows which (the paths analysis) as a Sankey; red bands go back to an earlier step."""
    start = f"from {escape(m.paths_from)}" if m.paths_from else "from each journey's start"
    drawn = sankey_svg(list(m.paths))
    body = drawn or "<p>No paths in this period.</p>"
    return (f'<section class="paths"><h2>Paths {start}</h2><p class="folded">The busiest next steps, three deep; '
            f"a red band goes back to a step already taken. <code>journeys paths</code> gives the figures.</p>"
            f"{body}</section>")
