"""`make bench` rewrites its tables in bench/RESULTS.md and keeps the sections people wrote there.

It used to drop them: the interleaved comparisons behind issue figures were lost at every run.
"""

from __future__ import annotations

from bench.__main__ import RESULTS, written_by_hand


def test_a_new_run_keeps_the_hand_written_sections_and_replaces_its_own() -> None:
    previous = ("# Benchmark results\n\n| benchmark | figure | value | target |\n|---|---|---|---|\n| a | b | 1 | |\n\n"
                "## Runs\n\n- core_bench: 15 s\n\n"
                "## Identity, interleaved\n\npairs: 1.17, 1.32\n\n## Analyses at 10M\n\n| x | y |\n")
    kept = written_by_hand(previous)
    assert "## Identity, interleaved\n\npairs: 1.17, 1.32\n" in kept and "## Analyses at 10M\n\n| x | y |\n" in kept
    assert "## Runs" not in kept and "core_bench: 15 s" not in kept and "| a | b |" not in kept
    assert written_by_hand(kept) == kept  # a second run keeps them once, not twice


def test_the_sections_written_by_hand_today_are_found() -> None:
    kept = written_by_hand(RESULTS.read_text())
    assert "## Identity in event time (#27)" in kept and "## Runs\n" not in kept
