"""What a new embedded log moves aside (journeys.embedded.keep_previous_log), on a real data dir.

The previous log's state and outputs go to data/previous/<UTC time>/, nothing else; a first run
moves nothing; a warehouse on a server is not the data dir's to move; only the newest few stay;
a data dir whose embedded stack still runs is not touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from foundation.settings import ClickHouseSettings, KafkaSettings, Settings
from journeys.embedded import OWNER_FILE, PREVIOUS_DIR, PREVIOUS_KEPT, DataDirInUse, embedded_stack, keep_previous_log


def a_run_in(data: Path, marker: str) -> None:
    """What one embedded run leaves behind, each file naming the run."""
    for folder in ("streams", "sink", "warehouse", "logs"):
        (data / folder).mkdir(parents=True, exist_ok=True)
        (data / folder / "run").write_text(marker)
    (data / "ground-truth.json").write_text(marker)


def test_a_first_run_moves_nothing_and_a_second_keeps_the_first_whole(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    (tmp_path / "rejects").mkdir()  # the importer's, not the log's
    (tmp_path / "logs").mkdir()  # logs alone are no previous log
    assert keep_previous_log(settings) is None
    assert not (tmp_path / PREVIOUS_DIR).exists()

    a_run_in(tmp_path, "first")
    previous = keep_previous_log(settings)
    assert previous is not None and previous.parent == (tmp_path / PREVIOUS_DIR).resolve()
    assert sorted(p.name for p in previous.iterdir()) == ["ground-truth.json", "logs", "sink", "streams", "warehouse"]
    assert all((previous / folder / "run").read_text() == "first" for folder in ("streams", "sink", "warehouse"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [PREVIOUS_DIR, "rejects"]


def test_only_the_newest_runs_are_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    kept = []
    for n in range(PREVIOUS_KEPT + 2):  # several in one second: each gets a folder of its own, in order
        a_run_in(tmp_path, f"run {n}")
        kept.append(keep_previous_log(settings))
    folders = sorted((tmp_path / PREVIOUS_DIR).iterdir())
    assert folders == kept[-PREVIOUS_KEPT:]
    assert [(f / "streams" / "run").read_text() for f in folders] == [f"run {n}" for n in range(2, PREVIOUS_KEPT + 2)]


def test_a_warehouse_on_a_server_is_not_the_data_dirs_to_move(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, clickhouse=ClickHouseSettings(dsn="http://warehouse:8123"))
    (tmp_path / "warehouse").mkdir()  # not this deployment's warehouse: it lives on the server
    assert keep_previous_log(settings) is None
    a_run_in(tmp_path, "first")
    previous = keep_previous_log(settings)
    assert previous is not None and not (previous / "warehouse").exists() and (tmp_path / "warehouse").is_dir()


def test_a_data_dir_in_use_by_a_running_stack_is_left_alone(tmp_path: Path) -> None:
    a_run_in(tmp_path, "running")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / OWNER_FILE).write_text(str(other.pid))
        with pytest.raises(DataDirInUse) as refused, embedded_stack(Settings(data_dir=tmp_path)):
            pass
        assert refused.value.pid == other.pid and str(other.pid) in str(refused.value)
        assert (tmp_path / "streams" / "run").read_text() == "running" and not (tmp_path / PREVIOUS_DIR).exists()
    finally:
        other.kill()
        other.wait()
    with embedded_stack(Settings(data_dir=tmp_path)) as stack:  # its owner is gone: a new log starts clean
        assert stack.previous is not None and (tmp_path / OWNER_FILE).read_text() == str(os.getpid())
    assert not (tmp_path / OWNER_FILE).exists()


def test_with_a_kafka_server_configured_nothing_is_moved(tmp_path: Path, bootstrap_servers: str) -> None:
    a_run_in(tmp_path, "kept")  # that log outlives the process: its state still fits it
    kafka = KafkaSettings(bootstrap_servers=bootstrap_servers, topic_prefix=f"t{uuid.uuid4().hex[:8]}.")
    with embedded_stack(Settings(data_dir=tmp_path, kafka=kafka)) as stack:
        assert stack.previous is None and stack.broker is None
    assert (tmp_path / "streams" / "run").read_text() == "kept" and not (tmp_path / PREVIOUS_DIR).exists()
