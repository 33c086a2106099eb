"""Journey Tracker: the entry layer (the `journeys` commands, the embedded runtime, the read
endpoint, the assembly of erasure).

The pipeline's stages live in the top-level packages `producers`, `streams`, `clickhouse` and
`grafana`, on the contract (`schemas`) and the foundation (`foundation`); this package only wires
them together for a user (docs/architecture.md).
"""

__version__ = "0.1.0"
