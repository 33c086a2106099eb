"""Journey Tracker: the entry layer (settings, errors, command line, embedded runtime).

The pipeline's stages live in the top-level packages `schemas`, `producers`, `streams`,
`clickhouse` and `grafana`; this package only wires them together for a user.
"""

__version__ = "0.1.0"
