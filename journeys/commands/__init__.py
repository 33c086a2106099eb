"""The `journeys` commands, one module per area of what a user does.

contract (schemas, validate, hash), ingest (broker, topics, collect, import), simulate, worker
(worker, sink), warehouse (migrate, query), analyses (funnel, paths, conformance, incidents, explain),
dashboards (grafana), experience_map (map), runtime (demo, up), erasure (forget). Each module
imports what its commands use at its top; journeys/cli.py loads a module when its command runs.
"""
