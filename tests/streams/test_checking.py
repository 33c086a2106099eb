"""Stage 1's checking on pool processes: the same answers as on the worker's loop, and no orphans.

A batch of good and bad raw payloads is checked by real spawned pool processes and inline; both
give the same work messages (the accepted records, in order) and the same problems at the same
positions. Erased identifiers are screened on the records, in the pool too. A pool process whose
worker is killed (SIGKILL, no clean-up) exits by itself.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from schemas.journeymap import load_journey_map
from schemas.validation import Rejection
from streams.checking import CheckedBatch, Checker, check_batch, checked_work, screened
from streams.codecs import unpack
from streams.core.records import IDS
from streams.erasure import ERASED_REASON, ErasureList, erased_token
from tests.streams.story import at, email, event

ORPHAN_WAIT_S = 15.0


def payloads() -> list[tuple[bytes | None, str]]:
    good = [event("web", "page_view", at(minutes=i), anonymous_id=f"c{i}", email_hash=email(i)).model_dump_json().encode()
            for i in range(7)]
    bad = [b"{not json", b'{"event_id": "x", "channel": "web"}', None, "caf\u00e9".encode("latin-1")]
    mixed = good[:3] + bad[:2] + good[3:] + bad[2:]
    return [(value, f"topic:touchpoints.web/0/{offset}") for offset, value in enumerate(mixed)]


def comparable(checked: CheckedBatch) -> tuple[object, ...]:
    records = [record for message in checked.work for record in unpack(message)]
    rejected = [(position, r.source, r.problems, r.payload) for position, r in checked.rejected]
    return records, rejected, checked.accepted


def pooled(batch: list[tuple[bytes | None, str]], erased: ErasureList | None = None) -> CheckedBatch:
    checker = Checker(load_journey_map(), processes=2)
    try:
        return asyncio.run(checker.check(batch, erased))
    finally:
        checker.close()


def test_pool_processes_answer_as_the_loop_does() -> None:
    journey_map, batch = load_journey_map(), payloads()
    inline = checked_work(batch, journey_map)
    assert comparable(pooled(batch)) == comparable(inline)
    assert [r.source for _, r in inline.rejected] == [f"topic:touchpoints.web/0/{o}" for o in (3, 4, 9, 10)]
    assert [position for position, _ in inline.rejected] == [3, 4, 9, 10]
    assert all(r.problems for _, r in inline.rejected)
    records = comparable(inline)[0]
    assert isinstance(records, list) and len(records) == 7 == inline.accepted
    assert records == [c for c in check_batch(batch, journey_map) if not isinstance(c, Rejection)]


def test_work_is_cut_into_messages_of_the_limit_in_order() -> None:
    journey_map, batch = load_journey_map(), payloads()
    whole, cut = checked_work(batch, journey_map), checked_work(batch, journey_map, limit=150)
    assert len(whole.work) == 1 and len(cut.work) > 1 and all(len(m) <= 150 for m in cut.work)
    assert comparable(cut) == comparable(whole)


def test_erased_identifiers_are_screened_on_records() -> None:
    record = check_batch(payloads()[:1], load_journey_map())[0]
    assert not isinstance(record, Rejection)
    secret = b"test-secret"
    assert screened(ErasureList(secret), record, "topic:t/0/0") is record
    erasures = ErasureList(secret, {erased_token(record[IDS][0], secret)})
    erased = screened(erasures, record, "topic:t/0/0")
    assert isinstance(erased, Rejection)
    assert erased.payload == "" and ERASED_REASON in erased.reason and erased.source == "topic:t/0/0"
    # the same screening where the worker asks for it: in the pool, with the tokens it follows
    batch = payloads()
    screened_out = pooled(batch, erasures.snapshot())
    assert screened_out.rejected[0][0] == 0 and screened_out.rejected[0][1].payload == "" and screened_out.accepted == 6


SCRIPT = """
import asyncio, sys, time
from schemas.journeymap import load_journey_map
from streams.checking import Checker
checker = Checker(load_journey_map(), processes=1)
asyncio.run(checker.check([(b"{}", "topic:t/0/0")]))
print(*[p.pid for p in checker._pool._processes.values()], flush=True)
time.sleep(600)
"""


def test_pool_process_exits_when_its_worker_is_killed() -> None:
    worker = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        children = [int(pid) for pid in worker.stdout.readline().split()]
        assert children and all(alive(pid) for pid in children)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    deadline = time.monotonic() + ORPHAN_WAIT_S
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in children), f"pool processes {children} outlived their killed worker"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie waits for its reaper but runs no more
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
