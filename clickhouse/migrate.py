"""ClickHouse stage: schema migrations, applied in order, recorded, and never silently changed.

`clickhouse/migrations/NNNN_name.sql` files are applied in version order; `schema_migrations`
records each version with its checksum and time, so re-running applies only what is new, and a
file whose checksum no longer matches what was applied is refused (MigrationError): a migration,
once applied, is history. The raw-data TTL is a setting, not a migration: it is (re)applied on
every run to match settings.clickhouse.ttl_days (0 keeps data for ever), and so is the age after
which the versioned tables' parts are merged together (settings.clickhouse.settle_after_s).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

from foundation.settings import ClickHouseSettings
from schemas.errors import MigrationError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# The raw tables and the moment a row expires from: a journey's path (0009) goes with its last step, and
# is no longer known (it is then read from the touchpoints still there) once its first step expired.
TTL_TABLES = {"touchpoints": "event_time", "journey_steps": "event_time", "journey_paths": "last_at"}
TTL_COLUMNS = {"journey_paths": ("known", "Bool", "first_at")}
# The tables read with FINAL: FINAL merges the versions of a row across parts at read time, so a month
# left in several parts costs every read (0.7 s of a count over 10M rows); one part costs nothing.
VERSIONED_TABLES = ("touchpoints", "journey_steps", "journeys", "journey_paths", "friction")
SETTLE_AFTER_S: int = ClickHouseSettings.model_fields["settle_after_s"].default
SETTLED_AFTER = re.compile(r"min_age_to_force_merge_seconds = (\d+)")
CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations
(version String, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
ENGINE = MergeTree ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    def statements(self) -> list[str]:
        """The file's statements, comments removed, split on `;` at line ends."""
        text = "\n".join(line for line in self.sql.splitlines() if not line.strip().startswith("--"))
        return [s.strip() for s in re.split(r";\s*$", text, flags=re.MULTILINE) if s.strip()]


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file in the directory, in version order."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = MIGRATION_FILE.match(path.name)
        if not match:
            raise MigrationError(path.name, "file name must be NNNN_name.sql")
        found.append(Migration(match[1], match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(",".join(versions), "two migrations share a version")
    return found


def applied(client: Client) -> dict[str, str]:
    """Applied versions and their checksums."""
    client.command(CREATE_LEDGER)
    rows = client.query("SELECT version, checksum FROM schema_migrations").result_rows
    return {str(version): str(checksum) for version, checksum in rows}


def migrate(client: Client, ttl_days: int = 0, directory: Path = MIGRATIONS_DIR,
            settle_after_s: int = SETTLE_AFTER_S) -> list[str]:
    """Apply the pending migrations in order; returns the versions applied now."""
    done = applied(client)
    migrations = discover(directory)
    for migration in migrations:
        if migration.version in done and done[migration.version] != migration.checksum:
            raise MigrationError(migration.version, f"{migration.name}: the file changed after it was "
                                 "applied; add a new migration instead of editing an applied one")
    pending = [m for m in migrations if m.version not in done]
    for migration in pending:
        _apply(client, migration)
    apply_ttl(client, ttl_days)
    apply_settling(client, settle_after_s)
    return [m.version for m in pending]


def apply_settling(client: Client, settle_after_s: int) -> None:
    """Merge the versioned tables' parts once they are `settle_after_s` old (0: ClickHouse's own merges only)."""
    for table in VERSIONED_TABLES:
        engine = _engine(client, table)
        found = SETTLED_AFTER.search(engine or "")
        if engine is not None and int(found[1] if found else 0) != settle_after_s:  # ALTER only to change it
            client.command(f"ALTER TABLE {table} MODIFY SETTING min_age_to_force_merge_seconds = {int(settle_after_s)}")


def _engine(client: Client, table: str) -> str | None:
    """The table's engine clause with its settings, or None if there is no such table."""
    rows = client.query("SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
                        "AND name = {table:String}", parameters={"table": table}).result_rows
    return str(rows[0][0]) if rows else None


def apply_ttl(client: Client, ttl_days: int) -> None:
    """Set (or remove, for 0) the TTL of the raw tables to match the setting."""
    for table, moment in TTL_TABLES.items():
        if _engine(client, table) is None:
            continue
        column = TTL_COLUMNS.get(table)
        if ttl_days > 0:
            client.command(f"ALTER TABLE {table} MODIFY TTL toDateTime({moment}) + toIntervalDay({int(ttl_days)})")
            if column:
                name, kind, since = column
                client.command(f"ALTER TABLE {table} MODIFY COLUMN {name} {kind} "
                               f"TTL toDateTime({since}) + toIntervalDay({int(ttl_days)})")
        elif _has_ttl(client, table):
            client.command(f"ALTER TABLE {table} REMOVE TTL")
            if column:
                client.command(f"ALTER TABLE {table} MODIFY COLUMN {column[0]} REMOVE TTL")


def _has_ttl(client: Client, table: str) -> bool:
    return " TTL " in f" {_engine(client, table) or ''} "


def _apply(client: Client, migration: Migration) -> None:
    try:
        for statement in migration.statements():
            client.command(statement)
    except Exception as err:
        raise MigrationError(migration.version, f"{migration.name}: {err}") from err
    client.insert("schema_migrations", [[migration.version, migration.name, migration.checksum]],
                  column_names=["version", "name", "checksum"])
