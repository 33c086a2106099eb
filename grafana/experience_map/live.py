"""Experience map, the pages: the live page (pickers, the map grid, a script that keeps it current
in place) and the same grid as a static page for files.

Served by the read endpoint (journeys/reads.py, `GET /map`). Every REFRESH_S the page fetches the
map's fragment again (`GET /v1/map/fragment`, with the pickers' period, segment and comparison
period) and replaces the map's content only when it changed: no reload, no flicker, the pickers
keep their state. Changing a picker refreshes at once and keeps the choice in the address, so a
link shows the same view. Self-contained: inline style and script, system fonts, no outside request.
"""

from __future__ import annotations

from html import escape

from grafana.experience_map.model import Comparison, ExperienceMap
from grafana.experience_map.page import map_fragment
from grafana.experience_map.render import FONT_STACK

REFRESH_S = 5
PICKERS = (("from", "From"), ("to", "To"), ("compare_from", "Compare from"), ("compare_to", "to"))

CSS = f"""body{{font-family:{FONT_STACK};margin:20px 24px;color:#222;background:#fafafa;font-size:14px}}
h1{{font-size:22px;margin:0 0 8px}} h2{{font-size:17px;margin:18px 0 6px}} .meta{{color:#444;margin:6px 0 10px}}
form.pickers{{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:end;margin:0 0 6px}}
form.pickers label{{display:flex;flex-direction:column;font-size:12px;color:#555}}
form.pickers input,form.pickers select{{font:inherit;padding:3px 4px}} #status{{color:#777;font-size:12px}}
table.grid{{border-collapse:separate;border-spacing:4px;width:100%;table-layout:fixed}}
table.grid th{{text-align:left;font-weight:600;vertical-align:middle;overflow-wrap:anywhere}}
table.grid th.corner{{width:16%;color:#555}} table.grid th.phase{{text-align:center;font-size:15px}}
tr.channel th{{text-transform:uppercase;color:#555;font-size:12px;padding-top:8px}}
td.cell{{border-radius:6px;padding:6px 8px;vertical-align:top;line-height:1.35;overflow-wrap:anywhere}}
td.cell.empty{{background:#f1f1f1}} td.cell.moment{{outline:3px solid #6a1b9a;outline-offset:-3px}}
td.cell.moment div:last-child{{color:#6a1b9a;font-weight:700}} td.emotion{{text-align:center;color:#3949ab}}
svg.curve{{width:100%;height:70px;display:block}} .folded{{color:#666;font-size:13px}}
.below{{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:0 32px}}
table.moments{{border-collapse:collapse}} table.moments td,table.moments th{{border:1px solid #ddd;padding:4px 8px;
text-align:left;overflow-wrap:anywhere}} ol.pains li{{margin:3px 0}}
svg.sankey{{width:100%;height:auto;display:block;font-family:inherit}} svg.sankey path.link:hover{{fill-opacity:.8}}"""

SCRIPT = """(function () {
  var form = document.querySelector('form.pickers'), map = document.getElementById('map');
  var status = document.getElementById('status'), busy = false;
  function query() {
    var params = new URLSearchParams(location.search);
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name) { return; }
      if (el.value) { params.set(el.name, el.value); } else { params.delete(el.name); }
    });
    return params;
  }
  function refresh() {
    if (busy) { return; }
    busy = true;
    var params = query();
    history.replaceState(null, '', '?' + params.toString());
    fetch('/v1/map/fragment?' + params.toString(), {cache: 'no-store'}).then(function (r) {
      if (!r.ok) { return r.json().then(function (e) { throw new Error(e.error || ('HTTP ' + r.status)); }); }
      return r.text();
    }).then(function (html) {
      if (html !== map.dataset.html) { map.innerHTML = html; map.dataset.html = html; }
      document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
      status.textContent = 'live · updated ' + new Date().toLocaleTimeString();
    }).catch(function (err) {
      status.textContent = 'not updated: ' + err.message;
    }).then(function () { busy = false; });
  }
  form.addEventListener('change', refresh);
  form.addEventListener('submit', function (event) { event.preventDefault(); refresh(); });
  map.dataset.html = map.innerHTML;
  setInterval(refresh, %d);
})();"""


def _pickers(values: dict[str, str], segments: list[str]) -> str:
    dates = "".join(f'<label>{label}<input type="date" name="{name}" value="{escape(values.get(name, "")[:10])}">'
                    "</label>" for name, label in PICKERS)
    chosen = values.get("segment", "")
    options = "".join(f'<option value="{escape(s)}"{" selected" if s == chosen else ""}>{escape(s)}</option>'
                      for s in segments)
    segment = f'<label>Segment<select name="segment"><option value="">all</option>{options}</select></label>'
    where = (f'<label>Only<input type="text" name="where" placeholder="device_type=mobile" size="18" '
             f'value="{escape(values.get("where", ""))}"></label>')  # a context dimension and its value
    paths = (f'<label>Paths from<input type="text" name="paths_from" placeholder="web.checkout" size="16" '
             f'value="{escape(values.get("paths_from", ""))}"></label>')  # a step, a touchpoint or :event_type
    return (f'<form class="pickers">{segment}{where}{dates}{paths}<button type="submit">Show</button>'
            f'<span id="status">live · every {REFRESH_S} s</span></form>')


def static_page(m: ExperienceMap, comparison: Comparison | None = None) -> str:
    """The same page without pickers or script: a file that opens offline (`journeys map --out x.html`)."""
    title = escape(m.title + (" (comparison)" if comparison else ""))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width"><style>{CSS}</style></head><body>'
            f'<h1>{title}</h1><div id="map">{map_fragment(m, comparison)}</div></body></html>')


def render_html(m: ExperienceMap, comparison: Comparison | None = None) -> str:
    """The self-contained page: the map as an HTML grid (page.py) that wraps instead of clipping."""
    return static_page(m, comparison)


def live_page(m: ExperienceMap, comparison: Comparison | None, values: dict[str, str],
              segments: list[str]) -> str:
    """The whole page: title, pickers, the map fragment, and the refresh script."""
    fragment = map_fragment(m, comparison)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Experience map, live</title>'
            f'<meta name="viewport" content="width=device-width"><style>{CSS}</style></head><body>'
            f"<h1>Experience map, live</h1>{_pickers(values, segments)}<div id=\"map\">{fragment}</div>"
            f"<script>{SCRIPT % (REFRESH_S * 1000)}</script></body></html>")
