"""The PII hash recipe is a contract: the docs, the schema export, the code and OpenSSL agree on it.

A backend in Java, Go or Node follows docs/channels.md or schemas/json/pii_hash.json; if either
said something the code does not do, the same person would get two hashes and split in two.
OpenSSL stands in for "any other language": it knows nothing of this project's Python.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from journeys.cli import main
from schemas.export import pii_hash_document
from schemas.pii import HASH_VECTORS, hash_email, hash_phone, normalise_email, normalise_phone

ROOT = Path(__file__).parents[2]
EXPORTED = ROOT / "schemas" / "json" / "pii_hash.json"
CHANNELS_DOC = ROOT / "docs" / "channels.md"
OPENSSL_TIMEOUT_S = 30


def exported() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(EXPORTED.read_text(encoding="utf-8"))
    return document


def exported_vectors() -> list[dict[str, str]]:
    return list(exported()["vectors"])


def openssl_hmac(secret: str, message: str) -> str:
    answer = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", secret], input=message.encode("utf-8"),
                            capture_output=True, timeout=OPENSSL_TIMEOUT_S, check=True)
    return answer.stdout.decode().strip().rsplit("= ", 1)[1]  # "HMAC-SHA2-256(stdin)= <hex>"


def docs_vectors() -> list[dict[str, str]]:
    """The rows of the vectors table in docs/channels.md's recipe section (cells are JSON strings)."""
    section = CHANNELS_DOC.read_text(encoding="utf-8").split("## The PII hash recipe", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| email") or line.startswith("| phone")]
    vectors = []
    for row in rows:
        kind, secret, raw, region, normalised, digest = (c.strip() for c in row.strip("|").split(" | "))
        vectors.append({"kind": kind, "secret": json.loads(secret.strip("`")), "raw": json.loads(raw.strip("`")),
                        "region": json.loads(region.strip("`")), "normalised": json.loads(normalised.strip("`")),
                        "hash": digest.strip("`")})
    return vectors


def test_the_export_carries_the_code_s_vectors_with_both_kinds_and_two_secrets() -> None:
    vectors = exported_vectors()
    assert vectors == pii_hash_document()["vectors"]
    assert [(v["kind"], v["raw"], v["hash"]) for v in vectors] == [(v.kind, v.raw, v.hash) for v in HASH_VECTORS]
    assert {v["kind"] for v in vectors} == {"email", "phone"}
    assert len({v["secret"] for v in vectors}) >= 2


@pytest.mark.parametrize("vector", exported_vectors(), ids=lambda v: f"{v['kind']}:{v['raw'].strip()}")
def test_openssl_reproduces_each_exported_vector(vector: dict[str, str]) -> None:
    prefix = exported()["recipe"]["prefix"][f"{vector['kind']}_hash"]
    assert vector["message"] == prefix + vector["normalised"]
    digest = openssl_hmac(vector["secret"], vector["message"])
    assert digest == vector["hash"]
    assert re.fullmatch(r"[0-9a-f]{64}", digest)


@pytest.mark.parametrize("vector", exported_vectors(), ids=lambda v: f"{v['kind']}:{v['raw'].strip()}")
def test_the_code_reproduces_each_exported_vector(vector: dict[str, str]) -> None:
    secret = vector["secret"].encode("utf-8")
    if vector["kind"] == "email":
        assert normalise_email(vector["raw"]) == vector["normalised"]
        assert hash_email(vector["raw"], secret) == vector["hash"]
    else:
        assert normalise_phone(vector["raw"], vector["region"]) == vector["normalised"]
        assert hash_phone(vector["raw"], secret, vector["region"]) == vector["hash"]


def test_the_docs_state_the_same_vectors_and_prefixes_as_the_export() -> None:
    keys = ("kind", "secret", "raw", "region", "normalised", "hash")
    assert docs_vectors() == [{k: v[k] for k in keys} for v in exported_vectors()]
    text = CHANNELS_DOC.read_text(encoding="utf-8")
    for prefix in exported()["recipe"]["prefix"].values():
        assert f"`{prefix}`" in text


@pytest.mark.parametrize("vector", [v for v in HASH_VECTORS if v.kind == "email"][:1] +
                         [v for v in HASH_VECTORS if v.kind == "phone"], ids=lambda v: f"{v.kind}:{v.raw.strip()}")
def test_the_hash_command_prints_the_hash_under_the_configured_secret(vector: Any) -> None:
    env = {"JOURNEYS_PII_SECRET": vector.secret, "JOURNEYS_DEFAULT_PHONE_REGION": vector.region or "GB"}
    result = CliRunner().invoke(main, ["hash", f"{vector.kind}:{vector.raw}"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output == vector.hash + "\n"


def test_the_hash_command_takes_a_region_and_refuses_bad_values_without_echoing_them() -> None:
    env = {"JOURNEYS_PII_SECRET": "journeys-test-vector-secret", "JOURNEYS_DEFAULT_PHONE_REGION": "GB"}
    [german] = [v for v in HASH_VECTORS if v.region == "DE"]
    result = CliRunner().invoke(main, ["hash", f"phone:{german.raw}", "--region", "DE"], env=env)
    assert result.output == german.hash + "\n"
    for bad in ("email:ann.lee-at-example.com", "phone:12", "crm_id:C-1", "ann.lee@example.com"):
        result = CliRunner().invoke(main, ["hash", bad], env=env)
        assert result.exit_code == 1 and "Error:" in result.output and "Traceback" not in result.output
        assert bad.split(":", 1)[-1] not in result.output
