"""The local broker starts quietly: no client error is logged while it is still opening its port."""

from __future__ import annotations

import logging

import pytest

from foundation.localbroker import start_broker, stop_broker


def test_starting_the_local_broker_logs_no_refused_connection(caplog: pytest.LogCaptureFixture,
                                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    caplog.set_level(logging.WARNING)
    broker = start_broker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log")
    try:
        assert broker.process.poll() is None
    finally:
        stop_broker(broker)
    noise = [r.getMessage() for r in caplog.records if r.name.startswith("kafka")]
    assert not noise, noise[:3]
