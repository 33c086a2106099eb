"""One settings object for every process, read once at start and passed down.

Every value can be set by an environment variable with the prefix `JOURNEYS_` (nested values
with `__`, e.g. `JOURNEYS_KAFKA__BOOTSTRAP_SERVERS`) or in a `.env` file. Nothing else in the
project reads `os.environ`. Secrets are `SecretStr` and never printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")


class KafkaSettings(BaseModel):
    """How every client (producers, worker, sink, admin) reaches Kafka."""

    model_config = ConfigDict(frozen=True)

    # Empty means "start the embedded local broker" (Tansu) where a command supports it.
    bootstrap_servers: str = ""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    topic_prefix: str = ""
    # Group-join timing: the broker holds a JoinGroup for half the session timeout, so short
    # session timeouts make consumers start in about a second (see docs/operations.md).
    session_timeout_ms: int = Field(default=6000, ge=1000)
    heartbeat_interval_ms: int = Field(default=2000, ge=100)
    # True when the broker is the embedded Tansu: enables its workarounds (streams/tansu_fixes.py).
    local_broker: bool = False

    def client_options(self) -> dict[str, Any]:
        """Security options, spelled for kafka-python and aiokafka alike."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.sasl_mechanism:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            if self.sasl_password is not None:
                options["sasl_plain_password"] = self.sasl_password.get_secret_value()
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(self, name)
            if value is not None:
                options[name] = str(value)
        return options


class ClickHouseSettings(BaseModel):
    """Where the warehouse is: an embedded chDB path (default) or a ClickHouse server URL."""

    model_config = ConfigDict(frozen=True)

    # `chdb:///abs/path` for the embedded engine; `http://host:8123` for a server.
    dsn: str = ""
    database: str = "journeys"
    username: str = "default"
    password: SecretStr = SecretStr("")
    # Days of raw touchpoints and steps kept; 0 keeps them for ever.
    ttl_days: int = Field(default=0, ge=0)
    # Parts of the versioned tables older than this are merged together in the background, so that
    # reads with FINAL (newest version of each row) find settled months as one part each and pay
    # nothing for it (seconds at 10M rows otherwise); 0 leaves merging to ClickHouse's own choice.
    settle_after_s: int = Field(default=3600, ge=0)
    # A batch the warehouse keeps refusing this long while it answers queries is taken apart: the
    # records it accepts are written, the ones it refuses go to dead_letters with its reason.
    refused_batch_after_s: float = Field(default=60.0, gt=0)


class WriteKey(BaseModel):
    """A public write key for pages of one site: it can only send web events, from its origins.

    It is public (it sits in the page), so it is no secret: what keeps it harmless is what it may
    do (producers.web.access). Revoke it with `revoked: true` and keep it listed, so that what still
    arrives with it is dead-lettered as "revoked" rather than "unknown".
    """

    model_config = ConfigDict(frozen=True)

    key: str = Field(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
    site: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    # Origins whose pages may use the key, e.g. https://shop.example; empty: collector.allowed_origins.
    origins: list[str] = Field(default_factory=list)
    revoked: bool = False


class CollectorSettings(BaseModel):
    """The web beacon collector (`journeys collect`)."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8088, ge=1, le=65535)
    tokens: list[SecretStr] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_batch_events: int = Field(default=500, ge=1)
    # A body not received whole within this is answered 408 and its connection closed.
    read_timeout_s: float = Field(default=30.0, gt=0)
    # A connection that sends no (complete) request for this long is closed.
    idle_timeout_s: float = Field(default=75.0, gt=0)
    # Connections over this are answered 503 at once, without reading a request.
    max_connections: int = Field(default=1000, ge=1)
    # Browser transport (docs/channels.md, "From the browser"): origins whose pages may send with
    # a write key (besides each key's own), the public write keys, and the rate limits (token
    # buckets, in requests) per key and per client address; over a limit a request gets 429.
    allowed_origins: list[str] = Field(default_factory=list)
    write_keys: list[WriteKey] = Field(default_factory=list)
    key_rate_per_s: float = Field(default=100.0, gt=0)
    key_burst: int = Field(default=500, ge=1)
    # A visitor's script sends about one request in 5 s; an office behind one address has many.
    address_rate_per_s: float = Field(default=5.0, gt=0)
    address_burst: int = Field(default=60, ge=1)


class StreamsSettings(BaseModel):
    """The stream processor (`journeys worker`)."""

    model_config = ConfigDict(frozen=True)

    # "rocksdb://" keeps table state on disk under the data dir; "memory://" for tests.
    store: str = "rocksdb://"
    # Table standby replicas: 0 for a single worker, 1 when several workers share the load.
    standby_replicas: int = Field(default=0, ge=0)
    # Events taken per batch, and how long a batch may wait to fill: every batch costs a work
    # message per stage and partition, a state write per customer and a commit, so at a trickle
    # a longer wait buys headroom (at 2,000 events/s, 0.1 s left the embedded worker saturated).
    # Working off a backlog, 10,000 per batch ran ~13 % faster than 5,000 (docs/benchmarks.md):
    # each customer's state is folded and stored once per batch, and the packed work messages of
    # a batch still fit the broker's message limit (streams.work).
    batch_events: int = Field(default=10000, ge=1)
    batch_within_s: float = Field(default=0.3, gt=0)
    # Processes that validate raw events beside the worker's own (streams.checking), so stage 1
    # runs on another core; 0 validates on the worker's event loop.
    check_processes: int = Field(default=1, ge=0)
    # Port of the worker's web interface; 0 runs without it.
    web_port: int = Field(default=0, ge=0, le=65535)


class ReadsSettings(BaseModel):
    """The read-only HTTP endpoint of the process that owns the embedded warehouse (journeys/reads.py)."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = True
    # Loopback by default; any other host needs a token (the endpoint refuses to start without one).
    host: str = "127.0.0.1"
    port: int = Field(default=8089, ge=0, le=65535)  # 0, or 8089 taken: any free port (see <data_dir>/reads.json)
    token: SecretStr | None = None
    # A read runs while the pipeline writes: one that runs longer is stopped (its caller gets a clear error)
    # rather than holding the one warehouse client the other readers wait for.
    max_query_s: float = Field(default=30.0, gt=0)
    # ... and one that needs more memory than this is stopped too: the worker shares the process.
    max_query_memory_mb: int = Field(default=4096, gt=0)

    @field_validator("token", mode="after")
    @classmethod
    def _empty_is_no_token(cls, token: SecretStr | None) -> SecretStr | None:
        """An empty JOURNEYS_READS__TOKEN is no token (it once opened a non-loopback endpoint to all)."""
        return token if token is not None and token.get_secret_value() else None


class Settings(BaseSettings):
    """Everything a Journey Tracker process needs to know, from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="JOURNEYS_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    data_dir: Path = DEFAULT_DATA_DIR
    journey_map: Path | None = None  # None: the journey map that ships with the project
    pii_secret: SecretStr = SecretStr("change-me-journeys-demo-secret")
    default_phone_region: str = "GB"
    # The edge owns received_time: a sender's value more than this many seconds ahead of the
    # edge's clock (collector, importer, the worker's intake) is replaced by the edge's.
    received_skew_s: float = Field(default=300.0, ge=0)
    kafka: KafkaSettings = KafkaSettings()
    clickhouse: ClickHouseSettings = ClickHouseSettings()
    collector: CollectorSettings = CollectorSettings()
    streams: StreamsSettings = StreamsSettings()
    reads: ReadsSettings = ReadsSettings()
    log_level: str = "INFO"

    def warehouse_dsn(self) -> str:
        """The ClickHouse DSN, defaulting to an embedded chDB warehouse under the data dir."""
        if self.clickhouse.dsn:
            return self.clickhouse.dsn
        return f"chdb://{(self.data_dir / 'warehouse').resolve()}"


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once; explicit overrides (from command-line flags) win."""
    return Settings(**overrides)


def as_environment(settings: Settings) -> dict[str, str]:
    """The settings as `JOURNEYS_*` variables, to start a child process with exactly these settings."""
    env: dict[str, str] = {}
    _flatten(settings.model_dump(mode="json"), "JOURNEYS_", env, settings)
    return env


def _flatten(values: dict[str, Any], prefix: str, env: dict[str, str], source: BaseModel) -> None:
    for name, value in values.items():
        raw = getattr(source, name)
        key = f"{prefix}{name.upper()}"
        if isinstance(raw, BaseModel):
            _flatten(value, key + "__", env, raw)
        elif value is None:
            continue
        elif isinstance(raw, SecretStr):
            env[key] = raw.get_secret_value()
        elif isinstance(raw, list):
            env[key] = json.dumps([r.get_secret_value() if isinstance(r, SecretStr) else v
                                   for r, v in zip(raw, value, strict=True)])  # v: as JSON (models too)
        else:
            env[key] = str(value)
