"""ClickHouse: migrations, the idempotent warehouse sink and the named analytical queries."""
