"""For the Docker-only tests: does a Docker engine answer here? (This machine has none.)"""

from __future__ import annotations


def docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # no client library, no socket, no permission: all mean "no engine"
        return False
