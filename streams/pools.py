"""Streams adapter: the worker's helper processes (stage 1's checking, streams.checking).

Python runs one thread at a time per process, so the worker hands large pure steps to
processes of their own and awaits them, while its event loop goes on with Kafka and the other
stages. The processes are spawned (no fork of a running event loop), get what they need once
(the journey map), collect garbage as rarely as the worker does, and exit by themselves when
the worker dies without cleaning up (SIGKILL): each watches its parent.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

PARENT_POLL_S = 1.0
# Validating and stitching allocate many small containers per event; at CPython's default
# threshold (700) the worker collected every few events, and fully over its remembered layouts
# often: half its CPU. A batch's objects live until it is done (a 10,000-event batch holds a few
# hundred thousand at once): at 100,000 the young collections traversed them several times per
# batch, 8 us per event; at 1,000,000 they die first, uncollected (no collection ran while the
# streams bench's 63,000 events were stitched), and the worker ran ~20 % faster with 2 % more
# memory (bench/memory_bench.py). The worker and its helper processes collect alike.
GC_THRESHOLDS = (1_000_000, 50, 100)


def tune_gc() -> None:
    """Collect garbage rarely, and never scan again what start-up made (it lives as long as the process)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def spawn_pool(processes: int, initializer: Callable[..., None], *initargs: Any) -> ProcessPoolExecutor:
    """A pool of spawned processes, each set up by `initializer(*initargs)` and watching this process."""
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start, initargs=(os.getpid(), initializer, initargs))


def _start(parent: int, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="watch-parent").start()
    initializer(*initargs)
    tune_gc()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(0)
