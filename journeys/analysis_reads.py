"""Entry layer: the named analyses (step funnels, paths, loops, conformance) run where the warehouse is.

While `journeys up` (or a worker with the sink) holds the embedded warehouse, no other process
can open it, so `journeys funnel`, `paths` and `conformance` failed beside a running pipeline,
which is when an analyst wants them most. That process now runs them for the command through its
read endpoint (`GET /v1/analyses/<name>?...`, journeys/reads.py), and any HTTP client can ask the
same: the bound parameters of clickhouse/analyses/named.py travel as query-string values, are
parsed and checked against the journey map here, and reach the SQL bound, never as text.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from clickhouse.analyses.explain import MIN_Z, explain
from clickhouse.analyses.named import ANALYSES, Extra, run_analysis
from clickhouse.queries import EARLIEST, LATEST, Filters, QueryResult, check_window
from schemas.errors import JourneysError
from schemas.journeymap import JourneyMap

FILTER_PARAMS = ("from", "to", "channel", "segment", "where", "limit")
EXPLAIN_PARAMS = ("baseline_from", "baseline_to", "dims", "z")
EXPLAIN_COLUMNS = ("family", "touchpoint", "what", "who", "share_of_change")  # of an empty answer
TUPLES = ("steps", "dims", "families", "phases", "max_phase_s")
INTEGERS = ("within_s", "depth")
EXTRA_PARAMS = tuple(f.name for f in fields(Extra))
ANALYSIS_NOTES = {
    "step_funnel": "steps (2 to 8, comma-separated), within_s, period, by: journeys reaching each step in order, "
                   "any events between",
    "step_funnel_strict": "as step_funnel, with no other event of the journey between two steps",
    "paths": "anchor (a step; '' = journey start), direction (from, to), depth, by, limit (rows per position)",
    "loops": "anchor, by, limit: loops A -> B -> A",
    "conformance": "phases (the map's, in order), max_phase_s (one per phase, 0 = no limit)",
    "incident_counts": "period, dims, families: the counted cells `journeys incidents` judges",
}


class AnalysisRequestError(JourneysError):
    """An analysis request that cannot run as asked (an unknown analysis, step, dimension or value)."""


def analysis_params(filters: Filters, extra: Extra) -> dict[str, str]:
    """The request's query-string values (what `journeys funnel` sends to a running pipeline)."""
    out = {"limit": str(filters.limit), "channel": filters.channel, "segment": filters.segment}
    if filters.start != EARLIEST:
        out["from"] = filters.start.isoformat()
    if filters.end != LATEST:
        out["to"] = filters.end.isoformat()
    if filters.where_dim:
        out["where"] = f"{filters.where_dim}={filters.where_value}"
    for name in EXTRA_PARAMS:
        value: Any = getattr(extra, name)
        out[name] = ",".join(str(v) for v in value) if name in TUPLES else str(value)
    return out


def extra_of(params: dict[str, str]) -> Extra:
    """The analysis parameters of a request; an unknown name or a malformed value is an error."""
    unknown = sorted(set(params) - set(EXTRA_PARAMS) - set(FILTER_PARAMS))
    if unknown:
        raise AnalysisRequestError(f"the analyses take no {', '.join(unknown)} (parameters: "
                                   f"{', '.join((*FILTER_PARAMS, *EXTRA_PARAMS))})")
    given: dict[str, Any] = {}
    for name in EXTRA_PARAMS:
        if name not in params:
            continue
        text = params[name]
        parts = tuple(part.strip() for part in text.split(",") if part.strip())
        try:
            if name == "max_phase_s":
                given[name] = tuple(int(part) for part in parts)
            elif name in TUPLES:
                given[name] = parts
            elif name in INTEGERS:
                given[name] = int(text)
            else:
                given[name] = text
        except ValueError:
            raise AnalysisRequestError(f"{name} must be whole numbers, not {text!r}") from None
    return Extra(**given)


def check_step(step: str, journey_map: JourneyMap, option: str = "step") -> None:
    """A step names a declared touchpoint or phase (typos would silently count nothing)."""
    if "," in step:  # the endpoint's lists are comma-separated: one step would travel as two
        raise AnalysisRequestError(f"{option} {step!r}: a step has no comma (give each step on its own)")
    kind, _, rest = step.partition(":")
    if kind == "phase":
        if rest not in journey_map.phase_ids:
            raise AnalysisRequestError(f"{option} {step!r}: no phase {rest!r} (phases: {', '.join(journey_map.phase_ids)})")
        return
    if not step or ":" in rest or (kind and kind not in journey_map.touchpoint_ids()):
        raise AnalysisRequestError(f"{option} {step!r}: write touchpoint:event_type, touchpoint, :event_type or "
                                   f"phase:NAME, with a touchpoint of the journey map")


def check_breakdown(by: str, journey_map: JourneyMap, option: str = "by", context_only: bool = False) -> str:
    allowed = journey_map.dimension_names if context_only else ("segment", "channel", *journey_map.dimension_names)
    if by and by not in allowed:
        kind = "a dimension of the journey map" if context_only else "segment, channel or a dimension"
        raise AnalysisRequestError(f"{option}: {by!r} is not {kind} "
                                   f"(declared: {', '.join(journey_map.dimension_names) or 'none'})")
    return by


def check(name: str, extra: Extra, journey_map: JourneyMap) -> None:
    """What the commands check before they run, for a request that comes over HTTP."""
    if name not in ANALYSES:
        raise AnalysisRequestError(f"no analysis named {name!r}; known: {', '.join(sorted(ANALYSES))}")
    for step in (*extra.steps, *((extra.anchor,) if extra.anchor else ())):
        check_step(step, journey_map)
    if name.startswith("step_funnel") and not 2 <= len(extra.steps) <= 8:
        raise AnalysisRequestError(f"a funnel needs 2 to 8 steps (got {len(extra.steps)})")
    check_breakdown(extra.by, journey_map)
    for dim in extra.dims:
        check_breakdown(dim, journey_map, "dims", context_only=True)
    if extra.direction not in ("from", "to"):
        raise AnalysisRequestError(f"direction must be from or to (got {extra.direction!r})")
    if name == "conformance" and extra.phases != journey_map.phase_ids:
        raise AnalysisRequestError(f"phases must be the journey map's, in order: {','.join(journey_map.phase_ids)}")
    try:
        extra.check()
    except ValueError as err:
        raise AnalysisRequestError(str(err)) from None


def check_where(filters: Filters, journey_map: JourneyMap) -> None:
    """`where=DIM=VALUE` names a dimension of the map (else it silently matches nothing)."""
    if filters.where_dim:
        check_breakdown(filters.where_dim, journey_map, "where", context_only=True)


def run_named_analysis(client: Any, name: str, filters: Filters, extra: Extra, journey_map: JourneyMap) -> QueryResult:
    check(name, extra, journey_map)
    check_where(filters, journey_map)
    return run_analysis(client, name, filters, extra)


def listing() -> list[dict[str, str]]:
    return [{"name": name, "parameters": ANALYSIS_NOTES.get(name, "")} for name in sorted(ANALYSES)]


@dataclass(frozen=True)
class ExplainRequest:
    """`journeys explain`: the window of `filters` against the baseline window before it."""

    filters: Filters
    baseline_start: datetime
    baseline_end: datetime
    dims: tuple[str, ...]
    z: float = MIN_Z

    def params(self) -> dict[str, str]:
        out = {k: v for k, v in analysis_params(self.filters, Extra()).items() if k in FILTER_PARAMS}
        return out | {"baseline_from": self.baseline_start.isoformat(), "baseline_to": self.baseline_end.isoformat(),
                      "dims": ",".join(self.dims), "z": str(self.z)}

    def check(self, journey_map: JourneyMap) -> None:
        check_window(self.baseline_start)
        check_where(self.filters, journey_map)
        if len(set(self.dims)) != len(self.dims):
            raise AnalysisRequestError("a dimension is given twice (it would be counted once per mention)")
        if self.filters.start == EARLIEST or self.filters.end == LATEST:
            raise AnalysisRequestError("explain needs from and to (the window to explain)")
        if not self.baseline_start < self.baseline_end <= self.filters.start:
            raise AnalysisRequestError("the baseline must be a non-empty window ending at or before from")
        for dim in self.dims:
            check_breakdown(dim, journey_map, "dims", context_only=True)
        if not (math.isfinite(self.z) and self.z >= 1):
            raise AnalysisRequestError(f"z must be a number of at least 1 (got {self.z:g})")


def explained(client: Any, request: ExplainRequest, journey_map: JourneyMap) -> QueryResult:
    """What explains the change, as a table: per changed cell, each dimension value's part of it."""
    request.check(journey_map)
    found = explain(client, request.filters, request.baseline_start, request.baseline_end,
                    request.dims or journey_map.dimension_names, min_z=request.z)
    rows = [asdict(c) for c in found]
    return QueryResult(tuple(rows[0]) if rows else EXPLAIN_COLUMNS, [tuple(r.values()) for r in rows])


def explain_of(params: dict[str, str], filters: Filters, moment: Any) -> ExplainRequest:
    """The explain request of an HTTP query (`moment` parses a time as the endpoint does)."""
    unknown = sorted(set(params) - set(FILTER_PARAMS) - set(EXPLAIN_PARAMS))
    if unknown:
        raise AnalysisRequestError(f"explain takes no {', '.join(unknown)} (parameters: "
                                   f"{', '.join((*FILTER_PARAMS, *EXPLAIN_PARAMS))})")
    base_end = moment(params.get("baseline_to")) or filters.start
    base_start = moment(params.get("baseline_from")) or base_end - (filters.end - filters.start)
    try:
        z = float(params.get("z", str(MIN_Z)))
    except ValueError:
        raise AnalysisRequestError(f"z must be a number, not {params['z']!r}") from None
    dims = tuple(part.strip() for part in params.get("dims", "").split(",") if part.strip())
    return ExplainRequest(filters, base_start, base_end, dims, z)
