"""Query speed: every named query (clickhouse.queries.QUERIES) at 1 million and 10 million touchpoints.

The warehouse is filled by ClickHouse itself (INSERT ... SELECT from numbers() into the real,
migrated tables), with shapes like the simulator's: 13 touchpoints with skewed volumes over the
four channels, their phases as the journey map's rules place them, four segments, a year of event
time in which each journey lasts an hour to three weeks (its ten events drawn within that span, so
no gap reaches the journey map's 30-day inactivity gap, which would have cut it in two), feedback on ~3 % of events (some about another touchpoint), context dimensions (a web
journey's device_type, a call's agent_team), one journey per 10 touchpoints
(a tenth of them re-sent as version 2, 1 % retracted, so FINAL has work), one friction per 40
touchpoints over the rules and places they occur (its evidence one of its journey's events, at that event's time, and
the context that event carried), dead letters and a month of health samples.
`query_ms_<name>_<size>` is the median latency of RUNS runs after one warm-up run, no filters
(the whole year); the funnel target is <= 500 ms at 10M. Run: python -m bench.queries_bench [--sizes 1m]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from clickhouse_connect.driver.client import Client

from clickhouse.client import connect
from clickhouse.migrate import discover, migrate
from clickhouse.queries import QUERIES, Filters
from clickhouse.queries import run as run_query
from foundation.settings import ClickHouseSettings, Settings

RUNS = 5
DEFAULT_SIZES = (1_000_000, 10_000_000)
PHASES = ("research", "compare", "purchase", "after_sales")
TOUCHPOINTS_PER_JOURNEY = 10
TOUCHPOINTS_PER_FRICTION = 40
TOUCHPOINTS_PER_DEAD_LETTER = 200
HEALTH_MINUTES = 30 * 24 * 60
YEAR_S = 365 * 24 * 3600
# A journey's span: 2**k hours, k in 0..9 (an hour to 21 days, a day and a half at the median). Journeys
# spread over the whole year would be impossible: the journey map cuts a journey at 30 days without events.
SPANS = 10
LAST_START_S = YEAR_S - 2 ** (SPANS - 1) * 3600
# The start and span of journey number `j`, the same in every table.
JOURNEY_START = "(cityHash64({j}, 21) % {last})"
JOURNEY_SPAN = "(3600 * pow(2, cityHash64({j}, 22) % {spans}))"


def journey_time(j: str, offset: str) -> str:
    """A moment in journey `j`'s span: `offset` (a hash) taken modulo the span."""
    start, span = JOURNEY_START.format(j=j, last=LAST_START_S), JOURNEY_SPAN.format(j=j, spans=SPANS)
    return (f"toDateTime64('2024-01-01 00:00:00', 3, 'UTC') + toIntervalSecond({start} + {offset} % toUInt64({span}))")

# touchpoint, channel, phase, event type, weight (per 100 events)
PLACES = (("web.content", "web", "research", "page_view", 18), ("web.search", "web", "research", "search", 12),
          ("web.product", "web", "research", "product_view", 20), ("web.compare", "web", "compare", "compare", 8),
          ("web.checkout", "web", "purchase", "checkout_step", 7), ("web.help", "web", "after_sales", "page_view", 3),
          ("email.campaign", "email", "research", "clicked", 10),
          ("email.support", "email", "after_sales", "feedback", 3),
          ("call_centre.sales", "call_centre", "compare", "call_answered", 4),
          ("call_centre.support", "call_centre", "after_sales", "call_answered", 5),
          ("store.floor", "store", "compare", "visit", 5), ("store.checkout", "store", "purchase", "purchase", 3),
          ("store.service_desk", "store", "after_sales", "service_desk", 2))
# rule, touchpoint, phase, weight
FRICTIONS = (("long_wait", "call_centre.support", "after_sales", 25), ("long_wait", "call_centre.sales", "compare", 10),
             ("transfers", "call_centre.support", "after_sales", 10), ("abandoned_checkout", "web.checkout", "purchase", 20),
             ("poor_navigation", "web.product", "research", 12), ("long_queue", "store.floor", "compare", 8),
             ("unanswered_email", "email.support", "after_sales", 5), ("low_csat", "web.checkout", "after_sales", 5),
             ("repeat_contact", "call_centre.support", "after_sales", 5))


def _array(values: list[str] | list[int]) -> str:
    return "[" + ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values) + "]"


def _pick(weights: list[int], seed: int, row: str = "n") -> str:
    """1-based index drawn from the weights, deterministic per row number `row`."""
    bounds = [sum(weights[:i + 1]) for i in range(len(weights))]
    return f"arrayFirstIndex(b -> b > cityHash64({row}, {seed}) % {sum(weights)}, {_array(bounds)})"


# The context dimensions of touchpoint number `n` in journey `j` on `channel`: a web journey's device, a call's team.
def context_of(n: str, j: str, channel: str) -> str:
    return (f"multiIf({channel} = 'web', map('device_type', ['desktop', 'mobile', 'tablet'][1 + {j} % 3]), "
            f"{channel} = 'call_centre', map('agent_team', ['team-sales', 'team-support'][1 + {n} % 2]), map())")


def touchpoints_sql() -> str:
    tp, ch, ph, et, w = (list(column) for column in zip(*PLACES, strict=True))
    return f"""
INSERT INTO touchpoints (event_id, event_time, received_time, channel, touchpoint, event_type, customer_id,
    journey_id, phase, segment, late, version, dwell_s, navigation_ease, wait_s, transfers, resolved, response_s,
    queue_wait_s, csat, nps, feedback_touchpoint, measures_json, context)
SELECT concat('e-', toString(n)), {journey_time('j', 'cityHash64(n, 2)')} AS event_time,
       event_time + toIntervalSecond(1 + cityHash64(n, 3) % 30), {_array(ch)}[i] AS channel, {_array(tp)}[i], {_array(et)}[i] AS event_type,
       concat('cust-', toString(j % {{customers:UInt64}})), concat('j-', lower(hex(cityHash64(j)))), {_array(ph)}[i],
       ['family', 'student', 'business', 'unknown'][1 + j % 4], cityHash64(n, 4) % 50 = 0, 1,
       if(channel = 'web', toFloat64(cityHash64(n, 5) % 300), NULL), if(channel = 'web', 1 + cityHash64(n, 6) % 5, NULL),
       if(channel = 'call_centre', toFloat64(cityHash64(n, 7) % 900), NULL),
       if(channel = 'call_centre', cityHash64(n, 8) % 3, NULL), if(channel = 'call_centre', cityHash64(n, 9) % 4 > 0, NULL),
       if(channel = 'email', toFloat64(cityHash64(n, 10) % 172800), NULL),
       if(channel = 'store', toFloat64(cityHash64(n, 11) % 900), NULL),
       if(event_type = 'feedback' OR cityHash64(n, 12) % 100 < 2, toUInt8(1 + cityHash64(n, 13) % 5), NULL) AS csat,
       if(csat IS NOT NULL, toUInt8(cityHash64(n, 14) % 11), NULL),
       if(event_type = 'feedback', ['call_centre.support', 'web.checkout', 'store.service_desk'][1 + n % 3], NULL), '{{}}',
       {context_of('n', 'j', 'channel')}
FROM (SELECT number AS n, intDiv(number, {TOUCHPOINTS_PER_JOURNEY}) AS j, {_pick(w, 1)} AS i
      FROM numbers({{first:UInt64}}, {{count:UInt64}}))
"""


JOURNEYS_SQL = f"""
INSERT INTO journeys
SELECT concat('j-', lower(hex(cityHash64(n)))), concat('cust-', toString(n % {{customers:UInt64}})), {{version:UInt64}},
       {{version:UInt64}} = 2 AND n % 100 = 0, ['family', 'student', 'business', 'unknown'][1 + n % 4] AS segment,
       {journey_time('n', '0')} AS started_at,
       started_at + toIntervalHour(k * 6), k * 3, arraySlice(['web', 'email', 'call_centre', 'store'], 1 + n % 2, 1 + n % 3)
           AS channels, length(channels) - 1, channels[1],
       mapFromArrays(arraySlice({{phases:Array(String)}}, 1, k), arrayMap(i -> started_at + toIntervalHour(i * 6), range(k))),
       {{phases:Array(String)}}[k], {{phases:Array(String)}}[k], k >= 3, ['active', 'stalled', 'closed'][1 + n % 3],
       n % 3, if(n % 5 = 0, 1 + n % 5, NULL), started_at + toIntervalHour(k * 6)
FROM (SELECT number AS n, 1 + cityHash64(number, 7) % 4 AS k FROM numbers({{first:UInt64}}, {{count:UInt64}}))
"""


def friction_sql() -> str:
    """Frictions, each with one evidence event of its journey (`e`) and that event's context as who suffered it."""
    rule, tp, ph, w = (list(column) for column in zip(*FRICTIONS, strict=True))
    channels = list(list(zip(*PLACES, strict=True))[1])
    return f"""
INSERT INTO friction (friction_id, customer_id, journey_id, rule, touchpoint, channel, phase, severity, detected_at,
    measure, threshold, evidence, evidence_context, evidence_context_known, version, retracted)
SELECT concat('f-', toString(n)), concat('cust-', toString(j % {{customers:UInt64}})), concat('j-', lower(hex(cityHash64(j)))),
       {_array(rule)}[i], {_array(tp)}[i], splitByChar('.', {_array(tp)}[i])[1], {_array(ph)}[i],
       ['low', 'medium', 'high'][1 + n % 3], {journey_time('j', 'cityHash64(e, 2)')}, toFloat64(n % 900), 300, [concat('e-', toString(e))],
       mapApply((k, v) -> (k, [v]), {context_of('e', 'j', 'evidence_channel')}), true, 1, n % 97 = 0
FROM (SELECT number AS n, intDiv(number * {TOUCHPOINTS_PER_FRICTION}, {TOUCHPOINTS_PER_JOURNEY}) AS j,
             j * {TOUCHPOINTS_PER_JOURNEY} + n % {TOUCHPOINTS_PER_JOURNEY} AS e, {_pick(w, 3)} AS i,
             {_array(channels)}[{_pick([p[4] for p in PLACES], 1, 'e')}] AS evidence_channel
      FROM numbers({{first:UInt64}}, {{count:UInt64}}))
"""


EXTRAS_SQL = (f"""INSERT INTO pipeline_health SELECT toDateTime('2024-06-01 00:00:00', 'UTC') + toIntervalMinute(n),
    'worker', ['web', 'email', 'call_centre', 'store'][1 + n % 4], '', 50 + n % 30, n % 3, 0, 0, 0, 40 + n % 20,
    200 + n % 300, '' FROM (SELECT number AS n FROM numbers({HEALTH_MINUTES}))""",
              """INSERT INTO dead_letters (dead_letter_id, source, reason, kind, problems, payload, payload_encoding,
    channel, rejected_at) SELECT concat('d-', toString(n)), 'simulator', 'invalid event', 'invalid',
    ['event_time: missing'], '{}', 'utf-8', ['web', 'email', 'call_centre', 'store'][1 + n % 4],
    toDateTime64('2024-01-01 00:00:00', 3, 'UTC') + toIntervalSecond(cityHash64(n) % 31536000)
    FROM (SELECT number AS n FROM numbers({first:UInt64}, {count:UInt64}))""")


def grow(client: Client, size: int, loaded: int) -> None:
    """Grow the warehouse from `loaded` to `size` touchpoints (and the journeys, frictions ... that go with them)."""
    customers = max(1, size // 20)
    def part(divisor: int) -> dict[str, int]:
        return {"first": loaded // divisor, "count": (size - loaded) // divisor, "customers": customers}
    client.command(touchpoints_sql(), parameters=part(1))
    fresh = part(TOUCHPOINTS_PER_JOURNEY)
    client.command(JOURNEYS_SQL, parameters={**fresh, "version": 1, "phases": list(PHASES)})
    resent = {"first": fresh["first"] + fresh["count"] * 9 // 10, "count": fresh["count"] // 10}
    client.command(JOURNEYS_SQL, parameters={**resent, "customers": customers, "version": 2, "phases": list(PHASES)})
    client.command(friction_sql(), parameters=part(TOUCHPOINTS_PER_FRICTION))
    client.command(EXTRAS_SQL[1], parameters=part(TOUCHPOINTS_PER_DEAD_LETTER))
    if loaded == 0:
        client.command(EXTRAS_SQL[0])
    client.command("TRUNCATE TABLE journey_paths")  # the view's placeholders of this load: made again below
    for statement in JOURNEY_PATHS_BACKFILL:
        client.command(statement)


# Each journey's path as the sink would have written it from its snapshots: migration 0009's backfill (a
# placeholder for each journey, then the path of each that has a snapshot).
JOURNEY_PATHS_BACKFILL = next(m for m in discover() if m.version == "0009").statements()[-2:]


def query_ms(client: Client, name: str) -> float:
    """Median latency of one named query over RUNS runs, after a warm-up run."""
    timings = []
    for _ in range(RUNS + 1):
        started = time.perf_counter()
        rows = run_query(client, name, Filters(limit=20), PHASES).rows
        timings.append((time.perf_counter() - started) * 1000)
    if not rows:
        raise RuntimeError(f"{name} returned no rows: the generated data does not exercise it")
    return statistics.median(timings[1:])


def label(size: int) -> str:
    return f"{size // 1_000_000}m" if size % 1_000_000 == 0 else str(size)


def run(sizes: tuple[int, ...] = DEFAULT_SIZES) -> dict[str, float]:
    """Every named query's median latency at each size, on a fresh embedded warehouse."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="journeys-queries-") as directory:
        client = connect(Settings(data_dir=Path(directory), clickhouse=ClickHouseSettings(database="queries")))
        migrate(client)
        loaded = 0
        for size in sorted(sizes):
            started = time.perf_counter()
            grow(client, size, loaded)
            loaded = size
            figures[f"queries_load_s_{label(size)}"] = round(time.perf_counter() - started, 1)
            figures |= {f"query_ms_{name}_{label(size)}": round(query_ms(client, name), 1) for name in QUERIES}
    return figures


def _size(text: str) -> int:
    text = text.strip().lower()
    return int(float(text[:-1]) * 1_000_000) if text.endswith("m") else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1m,10m", help="touchpoint counts, e.g. 1m or 1m,10m")
    sizes = tuple(_size(s) for s in parser.parse_args().sizes.split(","))
    for name, value in run(sizes).items():
        print(f"{name:48} {value:12,.1f}")


if __name__ == "__main__":
    main()
