"""The whole pipeline against Apache Kafka and a ClickHouse server, in Docker (testcontainers).

Runs where a Docker engine answers; skipped with the reason otherwise (this machine has none).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.docker import docker_engine_answers

ROOT = Path(__file__).parents[2]


pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(not docker_engine_answers(), reason="no Docker engine answers on this machine; "
                       "the stack is checked statically by test_compose.py"),
]


def test_compose_stack_fills_the_warehouse_with_journeys() -> None:
    from testcontainers.compose import DockerCompose

    env = ROOT / ".env"
    created_env = not env.exists()
    if created_env:
        env.write_text((ROOT / ".env.example").read_text())
    try:
        with DockerCompose(str(ROOT), compose_file_name="docker-compose.yml", build=True, wait=True) as stack:
            deadline = time.monotonic() + 300
            journeys = 0
            while time.monotonic() < deadline and journeys == 0:
                time.sleep(10)
                out, _, _ = stack.exec_in_container(
                    ["clickhouse-client", "--query", "SELECT count() FROM journeys.journeys FINAL WHERE retracted = 0"],
                    service_name="clickhouse")
                journeys = int(out.strip() or 0)
            assert journeys > 0
            answer = subprocess.run(["curl", "-s", "-u", "admin:change-me-admin-password",
                                     "http://localhost:3000/api/search?type=dash-db"],
                                    capture_output=True, text=True, check=True)
            assert len(json.loads(answer.stdout)) >= 5
    finally:
        if created_env:
            env.unlink()
