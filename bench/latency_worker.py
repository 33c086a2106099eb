"""`journeys worker --sink` with its sink timed: the runner behind bench/latency_bench.py.

`python -m bench.latency_worker TIMINGS worker --sink ...` runs exactly the `journeys` command,
after wrapping the sink's WarehousePort.write_until_done so that, once a batch's insert into the
warehouse has returned (its rows are then visible to queries), one line per journey step is
appended to TIMINGS: `event_id received_ms inserted_ms` (epoch milliseconds). The sink itself
reports no latency yet (its health samples carry errors and retries only), and chDB lets only this
process open the warehouse, so the benchmark reads this file instead of querying.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import IO, Any

from pydantic import BaseModel

from schemas.outputs import JourneyStep


def timing_lines(batch: Sequence[BaseModel], inserted_ms: float) -> str:
    """One `event_id received_ms inserted_ms` line per step of the batch."""
    return "".join(f"{r.event.event_id} {r.event.received_time.timestamp() * 1000:.0f} {inserted_ms:.0f}\n"
                   for r in batch if isinstance(r, JourneyStep))


def instrument(out: IO[str]) -> None:
    """Time every successful sink insert of this process."""
    from clickhouse.agents import WarehousePort

    write = WarehousePort.write_until_done

    async def timed(self: WarehousePort, batch: Sequence[BaseModel], label: str, *more: Any) -> Any:
        rows = await write(self, batch, label, *more)
        out.write(timing_lines(batch, time.time() * 1000))
        out.flush()
        return rows

    WarehousePort.write_until_done = timed  # type: ignore[method-assign,assignment]


def main(argv: list[str]) -> None:
    from journeys.cli import main as journeys

    with open(argv[0], "a", encoding="utf-8") as out:
        instrument(out)
        journeys(args=argv[1:], prog_name="journeys")


if __name__ == "__main__":
    main(sys.argv[1:])
