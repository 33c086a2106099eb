"""Tests of the ClickHouse stage."""
