"""JSON Schema export: one draft 2020-12 schema per channel, plus the feedback event and the PII hash.

These files, committed under `schemas/json/`, are the contract a channel engineer codes against
without reading Python. A test fails when they are stale: run `make schemas` after a change.
`pii_hash.json` states how e-mail and phone hashes are made, with test vectors, because a backend
that hashes differently splits one person into two customers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.channels import channels
from schemas.events import SCHEMA_VERSION
from schemas.pii import EMAIL_PREFIX, HASH_VECTORS, PHONE_PREFIX

DRAFT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://journey-tracker.dev/schemas"
EXAMPLE_TIME = "2026-03-14T10:15:00+00:00"
EXAMPLE_HASH = "5f2b" + "0" * 60
PII_HASH_FILE = "pii_hash.json"
PII_RECIPE = {
    "algorithm": "HMAC-SHA256",
    "key": "the UTF-8 bytes of the pii_secret setting (JOURNEYS_PII_SECRET)",
    "message": "the UTF-8 bytes of prefix + normalised value; no Unicode normalisation form (NFC/NFD) is applied",
    "prefix": {"email_hash": EMAIL_PREFIX, "phone_hash": PHONE_PREFIX},
    "email": ("strip leading and trailing whitespace (Unicode), lower-case (full Unicode lower-casing, "
              "e.g. Python str.lower, Java toLowerCase(Locale.ROOT)); no IDNA/punycode, no removal of "
              "dots or +tags; refused unless it has exactly one @, a non-empty local part, a dot in the "
              "domain and no space"),
    "phone": ("parse with libphonenumber in the default region (setting default_phone_region, "
              "JOURNEYS_DEFAULT_PHONE_REGION, default GB) when the number has no country code; refused "
              "unless it is a possible number; formatted E.164 (+ and digits, e.g. +447700900123)"),
    "output": "64 lower-case hexadecimal digits, not truncated",
}


def channel_schemas() -> dict[str, dict[str, Any]]:
    """File name -> schema, for every registered channel and for feedback."""
    out = {}
    for name, channel in channels().items():
        schema = channel.model.model_json_schema(mode="validation")
        out[f"{name}.schema.json"] = _decorate(schema, name, _example(name, channel.event_types[0]))
    web_model = channels()["web"].model
    feedback = web_model.model_json_schema(mode="validation")
    feedback["properties"]["channel"] = {"type": "string", "description": "Any registered channel.",
                                         "enum": sorted(channels())}
    feedback["properties"]["event_type"] = {"const": "feedback"}
    feedback["required"] = sorted({*feedback.get("required", []), "feedback"})
    feedback["properties"].pop("measures", None)
    feedback["title"] = "FeedbackEvent"
    feedback["description"] = "Feedback (CSAT, NPS, comment) on any channel, about one touchpoint."
    out["feedback.schema.json"] = _decorate(feedback, "feedback", _feedback_example())
    return out


def export(directory: Path) -> list[Path]:
    """Write every schema into `directory`; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, schema in channel_schemas().items():
        path = directory / filename
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    path = directory / PII_HASH_FILE
    path.write_text(json.dumps(pii_hash_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return [*written, path]


def pii_hash_document() -> dict[str, Any]:
    """The PII hash recipe and its test vectors, as data any language can load and check against."""
    prefix = {"email": EMAIL_PREFIX, "phone": PHONE_PREFIX}
    return {"$id": f"{BASE_ID}/{SCHEMA_VERSION}/{PII_HASH_FILE}", "title": "PII hash recipe",
            "description": "How email_hash and phone_hash identifiers are computed from raw values.",
            "recipe": PII_RECIPE, "x-schema-version": SCHEMA_VERSION,
            "vectors": [{"kind": v.kind, "secret": v.secret, "raw": v.raw, "region": v.region,
                         "normalised": v.normalised, "message": prefix[v.kind] + v.normalised, "hash": v.hash}
                        for v in HASH_VECTORS]}


def _decorate(schema: dict[str, Any], name: str, example: dict[str, Any]) -> dict[str, Any]:
    schema["$schema"] = DRAFT
    schema["$id"] = f"{BASE_ID}/{SCHEMA_VERSION}/{name}.schema.json"
    schema["examples"] = [example]
    schema["x-schema-version"] = SCHEMA_VERSION
    return schema


_EXAMPLES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "web": ("web.product", {"anonymous_id": "c-7f3a9"},
            {"path": "/products/kettle-2000", "session_id": "s-91", "dwell_s": 42.5}),
    "call_centre": ("call_centre.support", {"phone_hash": EXAMPLE_HASH, "crm_id": "CRM-1042"},
                    {"queue": "support", "wait_s": 95, "handle_s": 310, "transfers": 0,
                     "reason": "order_status", "resolved": True, "team": "tier1"}),
    "email": ("email.campaign", {"email_hash": EXAMPLE_HASH},
              {"direction": "outbound", "campaign": "spring-sale"}),
    "store": ("store.floor", {"loyalty_id": "L-55120"},
              {"store_id": "leeds-01", "visit_s": 900, "queue_wait_s": 120}),
}


def _example(channel: str, event_type: str) -> dict[str, Any]:
    touchpoint, identifiers, measures = _EXAMPLES.get(
        channel, (f"{channel}.main", {"anonymous_id": "c-1"}, {}))
    return {"source_id": f"{channel}-000123", "event_time": EXAMPLE_TIME, "channel": channel,
            "touchpoint": touchpoint, "event_type": event_type, "identifiers": identifiers,
            "measures": measures}


def _feedback_example() -> dict[str, Any]:
    return {"source_id": "survey-88", "event_time": EXAMPLE_TIME, "channel": "email",
            "touchpoint": "email.service", "event_type": "feedback",
            "identifiers": {"email_hash": EXAMPLE_HASH},
            "feedback": {"csat": 2, "nps": 4, "comment": "Waited too long on the phone.",
                         "about_touchpoint": "call_centre.support"}}
