"""Experience map, the live page: the map document plus a script that keeps it current in place.

Served by the read endpoint (journeys/reads.py, `GET /map`): every REFRESH_S the page fetches the
map again (`/v1/map/document`, same period and segment) and swaps the map's content only when it
changed, so the page never reloads and never flickers.
"""

from __future__ import annotations

from grafana.experience_map.model import Comparison, ExperienceMap
from grafana.experience_map.render import render_html

REFRESH_S = 5

LIVE_SCRIPT = """(function () {
  var params = new URLSearchParams(location.search); params.set('format', 'html');
  function refresh() {
    fetch('/v1/map/document?' + params.toString(), {cache: 'no-store'}).then(function (r) {
      if (!r.ok) { throw new Error('HTTP ' + r.status); }
      return r.text();
    }).then(function (text) {
      var fresh = new DOMParser().parseFromString(text, 'text/html').getElementById('map');
      var now = document.getElementById('map');
      if (fresh && now && fresh.innerHTML !== now.innerHTML) { now.innerHTML = fresh.innerHTML; }
      document.body.dataset.refreshed = new Date().toISOString();
    }).catch(function (err) { document.body.dataset.refreshError = String(err); });
  }
  setInterval(refresh, %d);
})();"""


def live_page(m: ExperienceMap, comparison: Comparison | None = None) -> str:
    """The HTML page with the refresh script appended."""
    page = render_html(m, comparison)
    return page.replace("</body>", f"<script>{LIVE_SCRIPT % (REFRESH_S * 1000)}</script></body>")
