"""ClickHouse stage: the analyses that find what changed (step funnels, paths, incidents).

Each analysis is SQL with bound parameters over the warehouse tables (`funnels`, `paths`, the
counting half of `incidents`) plus, for incidents, a pure statistics module (`baseline`) that
judges the counts against trailing periods. The commands (journeys/commands/analyses.py), Grafana panels and tests share them.
"""
