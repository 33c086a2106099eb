"""The Docker stack, checked statically (no Docker engine here): the file parses, every project
service runs a command our CLI has, and its environment names real settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from foundation.settings import Settings
from journeys.cli import main

ROOT = Path(__file__).parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
PROJECT_SERVICES = {name: svc for name, svc in COMPOSE["services"].items() if svc.get("image") == "journey-tracker:latest"}


def test_the_stack_has_every_component() -> None:
    assert {"kafka", "clickhouse", "grafana", "topics", "migrate", "worker", "collector", "simulator"} <= set(COMPOSE["services"])
    assert "KAFKA_PROCESS_ROLES" in COMPOSE["services"]["kafka"]["environment"]  # KRaft, no ZooKeeper


def resolve(command: list[str]) -> click.Command:
    ctx = click.Context(main)
    group: click.Command = main
    for word in command:
        if word.startswith("-") or not isinstance(group, click.Group):
            break
        sub = group.get_command(ctx, word)
        assert sub is not None, f"`journeys {' '.join(command)}`: no command {word!r}"
        group = sub
    return group


@pytest.mark.parametrize("name", sorted(PROJECT_SERVICES))
def test_every_project_service_runs_an_existing_command_with_existing_options(name: str) -> None:
    command = PROJECT_SERVICES[name]["command"]
    leaf = resolve(command)
    options = {opt for p in leaf.params for opt in getattr(p, "opts", [])}
    for word in command:
        if word.startswith("--"):
            assert word in options, f"{name}: `{word}` is not an option of `journeys {command[0]}`"


def _setting_exists(env_name: str) -> bool:
    path = env_name.removeprefix("JOURNEYS_").lower().split("__")
    model: Any = Settings
    for part in path:
        fields = model.model_fields
        if part not in fields:
            return False
        model = fields[part].annotation
    return True


def test_project_environment_names_real_settings() -> None:
    env = dict(COMPOSE["x-journeys"]["environment"])
    env.update(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
               if line.startswith("JOURNEYS_"))
    unknown = [name for name in env if name.startswith("JOURNEYS_") and not _setting_exists(name)]
    assert not unknown, f"not settings: {unknown}"


def test_ports_agree_with_the_settings() -> None:
    collector = PROJECT_SERVICES["collector"]
    port = collector["command"][collector["command"].index("--port") + 1]
    assert collector["ports"] == [f"{port}:{port}"]
    assert int(port) == Settings().collector.port
    assert COMPOSE["x-journeys"]["environment"]["JOURNEYS_CLICKHOUSE__DSN"] == "http://clickhouse:8123"
    assert COMPOSE["services"]["clickhouse"]["ports"] == ["8123:8123"]


def test_mounted_files_exist() -> None:
    for svc in COMPOSE["services"].values():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"missing {source}"
